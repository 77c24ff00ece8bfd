"""Hostile files and templates get a typed `LLMGuardError` naming the file, field or value.

Each test is one input the fuzz suite (``tests/fuzz``) once found escaping as an untyped
exception, or running without bound.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import llmguard
from llmguard import ConfigurationError, Guard, PromptFormatError, PromptRenderError
from llmguard.prompts import FileStore, PromptRegistry, PromptVersion, SQLiteStore, VariableSpec, _limits
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
MESSAGES = [{"role": "user", "content": "hi"}]


def _prompt_folder(root: Path) -> Path:
    folder = root / "prompts" / "p"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"version: '1.0.0'\nuser_template: \xff\xfe\n", r"not valid UTF-8 \(byte 32"),
        (b"[" * 5000, "malformed YAML"),
        (b"a:\n" + b"  - " * 3000 + b"x\n", "malformed YAML"),
    ],
)
def test_malformed_version_files_name_the_file(tmp_path: Path, data: bytes, message: str) -> None:
    path = _prompt_folder(tmp_path) / "v1.0.0.yaml"
    path.write_bytes(data)
    with pytest.raises(PromptFormatError, match=message) as caught:
        PromptRegistry(FileStore(tmp_path / "prompts")).get("p")
    assert str(path) in str(caught.value)


def test_a_labels_file_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    folder = _prompt_folder(tmp_path)
    (folder / "v1.0.0.yaml").write_text("version: '1.0.0'\nuser_template: hi\n")
    (folder / "labels.yaml").write_bytes(b"production: \xff\n")
    with pytest.raises(PromptFormatError, match=r"labels\.yaml: not valid UTF-8"):
        PromptRegistry(FileStore(tmp_path / "prompts")).get("p", label="production")


@pytest.mark.parametrize("cut", [0, 2, 100, 4096])
def test_a_truncated_or_garbage_sqlite_store_is_typed(tmp_path: Path, cut: int) -> None:
    good = tmp_path / "good.db"
    SQLiteStore(good).close()
    bad = tmp_path / "bad.db"
    bad.write_bytes(good.read_bytes()[:cut] + b"garbage" * 50)

    def read() -> None:
        SQLiteStore(bad).names()

    with pytest.raises(PromptFormatError, match=r"bad\.db"):
        read()


@pytest.mark.parametrize(
    ("name", "document", "message"),
    [
        ("llmguard.toml", b"service_name = '\xff'\n", "not valid UTF-8"),
        ("llmguard.toml", b"a = " + b"[" * 3000 + b"]" * 3000, "not valid TOML"),
        ("pyproject.toml", b"tool = 1  # [tool.llmguard]\n", r"\[tool.llmguard\] must be a table"),
        ("llmguard.toml", b"budgets = {limits = 5}\n", "limits: expected a list of tables"),
        ("llmguard.toml", b"budgets = {check_interval_s = 'soon'}\n", "check_interval_s: expected a number"),
        ("llmguard.toml", b"judges = 5\n", "judge 5"),
    ],
)
def test_malformed_config_files_fail_loudly(tmp_path: Path, name: str, document: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(document)

    def first_call() -> None:
        with FakeOpenAI().client(llmguard.OpenAI, guard=Guard()) as client:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]

    with pytest.raises(ConfigurationError, match=message):
        first_call()


def test_a_feature_that_fails_to_build_is_not_dropped_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside pytest's re-raise (the production path), a broken feature refuses the call, typed."""
    import llmguard._pricing

    def broken(options: object) -> None:
        raise ValueError("prices table is malformed")

    monkeypatch.setenv("LLMGUARD_SWALLOW_INTERNAL_ERRORS", "1")
    monkeypatch.setattr(llmguard._pricing, "pricer_from", broken)
    fake = FakeOpenAI()
    with (
        fake.client(llmguard.OpenAI, guard=Guard(pin_policy="off")) as client,
        pytest.raises(ConfigurationError, match=r"pricing feature.*prices table is malformed"),
    ):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert fake.calls == []


def _render(template: str, **values: object) -> str:
    version = PromptVersion(
        name="t", version="1.0.0", user_template=template, variables={"n": VariableSpec(type="integer")}
    )
    return version.render(**values).messages[-1][1]


def test_an_unknown_filter_is_a_format_error() -> None:
    with pytest.raises(PromptFormatError, match="No filter named 'nope'"):
        _render("{{ n | nope }}", n=1)


def test_division_by_zero_is_a_render_error() -> None:
    with pytest.raises(PromptRenderError, match="ZeroDivisionError"):
        _render("{{ n // 0 }}", n=1)


@pytest.mark.parametrize(
    "template",
    [
        "{{ ((9**64)**64)**64 }}",
        "{% set a = 9**60 %}{% set a = a*a %}{% set a = a*a %}{% set a = a*a %}{% set a = a*a %}{% set a = a*a %}{{ a*a*a*a }}",
        "{{ '%999999999s' % 'x' }}",
        "{{ '%*s' % (999999999, 'x') }}",
        "{% set a = 'x' * 600000 %}{{ a ~ a }}",
        "{% set a = 'x' * 600000 %}{{ a + a }}",
        "{{ ('x' * 1000000) | list | join('y' * 1000) }}",
        "{% set a = 'x' * 1000000 %}{{ [" + "a, " * 3000 + "a] }}",
        "{% set a = 'x' * 1000000 %}{{ '%s' % ([a, a],) }}",
        "{% set a = 'x' * 1000000 %}{{ [a, a] | tojson }}",
        "{% set a = 'x' * 1000000 %}{{ {'k': a, 'j': a} ~ '' }}",
        "{% set a = 'x' * 1000000 %}{% set b %}{% for i in a %}{{ a }}{% endfor %}{% endset %}{{ b | length }}",
    ],
)
def test_templates_cannot_build_huge_values(template: str) -> None:
    with pytest.raises(PromptRenderError, match="refused by the template sandbox"):
        _render(template, n=1)


def test_rendering_has_a_cpu_time_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_limits, "MAX_RENDER_CPU_S", 0.05)
    loops = "{% for i in 'x' * 100000 %}{% for j in 'x' * 100000 %}{% endfor %}{% endfor %}"
    with pytest.raises(PromptRenderError, match="s of CPU time"):
        _render(loops, n=1)


def test_templates_within_the_caps_still_render() -> None:
    text = _render(
        "{% for c in 'ab' %}[{{ c ~ n }}]{% endfor %} {{ [1, 2] | join(', ') }} {{ '%03d' % n }} {{ 2 ** 10 }}",
        n=7,
    )
    assert text == "[a7][b7] 1, 2 007 1024"
