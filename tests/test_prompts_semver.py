"""Semver parsing and range resolution, with Hypothesis against a brute-force oracle."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmguard.exceptions import PromptFormatError
from llmguard.prompts import parse_version, resolve
from llmguard.prompts._semver import matches

VERSIONS = ["0.1.0", "0.1.5", "0.2.0", "1.0.0", "1.2.3", "1.9.0", "2.0.0", "2.1.0", "2.1.7", "3.0.0-rc.1"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latest", "2.1.7"),
        ("*", "2.1.7"),
        ("2.1.0", "2.1.0"),
        ("=1.2.3", "1.2.3"),
        ("^1.2", "1.9.0"),
        ("^0.1.0", "0.1.5"),
        ("~1.2.0", "1.2.3"),
        ("~2.1", "2.1.7"),
        (">=1, <2", "1.9.0"),
        (">=2 <3", "2.1.7"),
        ("2.x", "2.1.7"),
        ("1.2.*", "1.2.3"),
        ("1", "1.9.0"),
        ("<1", "0.2.0"),
        (">2", None),
        ("<=1.2", "1.2.3"),
        ("3.0.0-rc.1", "3.0.0-rc.1"),
        ("^3", None),
        ("4.x", None),
    ],
)
def test_resolution_table(spec: str, expected: str | None) -> None:
    assert resolve(spec, VERSIONS) == expected


@pytest.mark.parametrize("text", ["1.0", "01.0.0", "v1.0.0", "1.0.0.0", "", "1.0.0-", "x.y.z"])
def test_invalid_versions(text: str) -> None:
    with pytest.raises(PromptFormatError, match="invalid semantic version"):
        parse_version(text)


@pytest.mark.parametrize("spec", ["", ">=abc", "^x.1.2.3", "1.2.3.4"])
def test_invalid_ranges(spec: str) -> None:
    with pytest.raises(PromptFormatError):
        resolve(spec, VERSIONS)


def test_precedence() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
    ]
    assert sorted(ordered, key=lambda v: parse_version(v).key) == ordered


triples = st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4))
version_sets = st.lists(triples, min_size=1, max_size=12, unique=True).map(
    lambda items: [f"{a}.{b}.{c}" for a, b, c in items]
)


def _t(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


@given(version_sets, st.integers(0, 4), st.integers(0, 4))
def test_caret_matches_oracle(versions: list[str], major: int, minor: int) -> None:
    spec = f"^{major}.{minor}"
    if major > 0:
        ok = [v for v in versions if _t(v)[0] == major and _t(v) >= (major, minor, 0)]
    else:
        ok = [v for v in versions if _t(v)[:2] == (0, minor)]
    assert resolve(spec, versions) == (max(ok, key=_t) if ok else None)


@given(version_sets, triples, triples)
def test_comparator_set_matches_oracle(
    versions: list[str], low: tuple[int, int, int], high: tuple[int, int, int]
) -> None:
    spec = ">={}.{}.{},<{}.{}.{}".format(*low, *high)
    ok = [v for v in versions if low <= _t(v) < high]
    result = resolve(spec, versions)
    assert result == (max(ok, key=_t) if ok else None)
    if result is not None:
        assert matches(spec, parse_version(result))


@given(version_sets)
def test_latest_is_max_and_exact_finds_itself(versions: list[str]) -> None:
    assert resolve("latest", versions) == max(versions, key=_t)
    for v in versions:
        assert resolve(v, versions) == v
        assert resolve(f"~{v}", versions) is not None
