"""Semantic versions and the range specs the registry resolves: pure functions, no I/O.

Supported specs: an exact version (``2.1.0``, ``=2.1.0``), caret (``^2.1``), tilde (``~2.1.0``),
wildcards (``2.x``, ``2.1.*``, ``2``, ``*``), comparator sets (``>=2,<3`` or ``>=2 <3``) and
``latest``. Pre-releases (``2.1.0-rc.1``) are matched only by an exact spec, as npm and cargo do.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from llmguard.exceptions import PromptFormatError

__all__ = ["Version", "is_exact", "matches", "parse_range", "parse_version", "resolve"]

_VERSION = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_PARTIAL = re.compile(r"^(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$")
_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|\^|~)?\s*(.+)$")

Predicate = Callable[["Version"], bool]


@dataclass(frozen=True, order=False, slots=True)
class Version:
    """A parsed semantic version (``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``).

    Attributes:
        major: The major number.
        minor: The minor number.
        patch: The patch number.
        prerelease: Dot-separated pre-release identifiers, empty for a release.
        text: The version as written.
    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    text: str = ""

    @property
    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        """A sort key implementing semver precedence (build metadata ignored)."""
        pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __str__(self) -> str:
        return self.text or f"{self.major}.{self.minor}.{self.patch}"

    def bump(self, part: str) -> Version:
        """The next release after this one: ``part`` is ``major``, ``minor`` or ``patch``."""
        if part == "major":
            return parse_version(f"{self.major + 1}.0.0")
        if part == "minor":
            return parse_version(f"{self.major}.{self.minor + 1}.0")
        return parse_version(f"{self.major}.{self.minor}.{self.patch + 1}")


@functools.lru_cache(maxsize=4096)
def parse_version(text: str) -> Version:
    """Parse a semantic version.

    Args:
        text: E.g. ``"2.1.0"`` or ``"2.1.0-rc.1"``.

    Raises:
        PromptFormatError: ``text`` is not a semantic version.
    """
    match = _VERSION.match(text)
    if match is None:
        raise PromptFormatError(
            f"invalid semantic version {text!r}: expected MAJOR.MINOR.PATCH, e.g. '2.1.0'"
        )
    pre = tuple(match.group(4).split(".")) if match.group(4) else ()
    return Version(int(match.group(1)), int(match.group(2)), int(match.group(3)), pre, text)


def is_exact(spec: str) -> bool:
    """True when ``spec`` (after an optional ``=``) is a full semantic version."""
    return _VERSION.match(spec.strip().removeprefix("=").strip()) is not None


def _partial(text: str, spec: str) -> tuple[int | None, int | None, int | None]:
    match = _PARTIAL.match(text)
    if match is None:
        raise PromptFormatError(f"invalid version range {spec!r}: cannot read {text!r}")
    parts: list[int | None] = []
    for group in match.groups():
        parts.append(None if group is None or not group.isdigit() else int(group))
    for index in range(1, 3):  # 2.x.3 means 2.x.x
        if parts[index - 1] is None:
            parts[index] = None
    return parts[0], parts[1], parts[2]


def _triple(v: Version) -> tuple[int, int, int]:
    return (v.major, v.minor, v.patch)


def _floor(p: tuple[int | None, int | None, int | None]) -> tuple[int, int, int]:
    return (p[0] or 0, p[1] or 0, p[2] or 0)


def _wildcard_ceiling(p: tuple[int | None, int | None, int | None]) -> tuple[int, int, int] | None:
    if p[0] is None:
        return None
    if p[1] is None:
        return (p[0] + 1, 0, 0)
    if p[2] is None:
        return (p[0], p[1] + 1, 0)
    return (p[0], p[1], p[2] + 1)


def _caret_ceiling(p: tuple[int | None, int | None, int | None]) -> tuple[int, int, int] | None:
    major, minor, patch = p
    if major is None:
        return None
    if major > 0 or minor is None:
        return (major + 1, 0, 0)
    if minor > 0 or patch is None:
        return (0, minor + 1, 0)
    return (0, 0, patch + 1)


def _tilde_ceiling(p: tuple[int | None, int | None, int | None]) -> tuple[int, int, int] | None:
    if p[0] is None:
        return None
    return (p[0] + 1, 0, 0) if p[1] is None else (p[0], p[1] + 1, 0)


def _between(low: tuple[int, int, int], high: tuple[int, int, int] | None) -> Predicate:
    return lambda v: _triple(v) >= low and (high is None or _triple(v) < high)


def _comparator(token: str, spec: str) -> Predicate:
    match = _COMPARATOR.match(token)
    if match is None:  # pragma: no cover - the pattern accepts any non-empty token
        raise PromptFormatError(f"invalid version range {spec!r}")
    op, rest = match.group(1) or "", match.group(2).strip()
    if op in ("", "=") and _VERSION.match(rest):
        exact = parse_version(rest).key
        return lambda v: v.key == exact
    p = _partial(rest, spec)
    if op in ("", "="):
        return _between(_floor(p), _wildcard_ceiling(p))
    if op == "^":
        return _between(_floor(p), _caret_ceiling(p))
    if op == "~":
        return _between(_floor(p), _tilde_ceiling(p))
    low = _floor(p)
    ops: dict[str, Predicate] = {
        ">=": lambda v: _triple(v) >= low,
        ">": lambda v: _triple(v) > low if p[2] is not None else _triple(v) >= (_wildcard_ceiling(p) or low),
        "<": lambda v: _triple(v) < low,
        "<=": lambda v: _triple(v) <= low if p[2] is not None else _triple(v) < (_wildcard_ceiling(p) or low),
    }
    return ops[op]


@functools.lru_cache(maxsize=1024)
def parse_range(spec: str) -> tuple[Predicate, ...]:
    """Parse a range spec into predicates that must all hold.

    Raises:
        PromptFormatError: The spec cannot be read.
    """
    text = spec.strip()
    if not text:
        raise PromptFormatError("invalid version range '': give a version, a range or 'latest'")
    if text == "latest":
        return ()
    tokens = [t for t in re.split(r"[,\s]+", re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", text)) if t]
    return tuple(_comparator(token, spec) for token in tokens)


def matches(spec: str, version: Version) -> bool:
    """Whether ``version`` satisfies ``spec`` (pre-releases only match exact specs)."""
    if is_exact(spec):
        return version.key == parse_version(spec.strip().removeprefix("=").strip()).key
    if version.prerelease:
        return False
    return all(predicate(version) for predicate in parse_range(spec))


def resolve(spec: str, versions: Iterable[str]) -> str | None:
    """The highest version in ``versions`` satisfying ``spec``, or None.

    ``latest`` is the highest release (or the highest pre-release when there is no release).
    """
    parsed = sorted((parse_version(v) for v in versions), reverse=True)
    if spec.strip() == "latest":
        releases = [v for v in parsed if not v.prerelease] or parsed
        return str(releases[0]) if releases else None
    for candidate in parsed:
        if matches(spec, candidate):
            return str(candidate)
    return None
