"""Tests for llmguard._lock: loading and validating llmguard.lock and [tool.llmguard.pins]."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmguard._lock import PYPROJECT_SOURCE, load_lock, lock_from_table
from llmguard.exceptions import ConfigurationError


def _lock_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "llmguard.lock"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_lock(tmp_path: Path) -> None:
    path = _lock_file(
        tmp_path,
        '[pins]\n"gpt-4o" = "gpt-4o-2024-08-06"\n"claude-sonnet-4-5" = "claude-sonnet-4-5-20250929"\n'
        '"claude-opus-4-0" = "claude-opus-4-6"\n',
    )
    assert load_lock(path) == {
        "gpt-4o": "gpt-4o-2024-08-06",
        "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
        "claude-opus-4-0": "claude-opus-4-6",
    }


def test_empty_pins_table(tmp_path: Path) -> None:
    assert load_lock(_lock_file(tmp_path, "[pins]\n")) == {}


def test_explicit_provider(tmp_path: Path) -> None:
    path = _lock_file(tmp_path, '[pins]\n"sonnet" = "anthropic.claude-sonnet-4-6"\n')
    assert load_lock(path, provider="bedrock") == {"sonnet": "anthropic.claude-sonnet-4-6"}
    with pytest.raises(ConfigurationError, match="not pinned"):
        load_lock(path, provider="openai")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[pins]\n"gpt-4o" = gpt-4o-2024-08-06\n', ["not valid TOML", "line 2"]),
        ('[pins]\n"gpt-4o" = 4\n', ["pin 'gpt-4o'", "a string", "not int"]),
        ('[pins]\n"gpt-4o" = ["gpt-4o-2024-08-06"]\n', ["pin 'gpt-4o'", "not list"]),
        (
            '[pins]\n"gpt-4o" = "gpt-4o-mini"\n',
            ["pin 'gpt-4o'", "'gpt-4o-mini'", "not pinned", "'gpt-4o-mini-2024-07-18'"],
        ),
        (
            '[pins]\n"claude" = "claude-sonnet-4-0"\n',
            ["pin 'claude'", "not pinned", "claude-sonnet-4-20250514"],
        ),
        ('[pins]\n"gpt-4o" = "chatgpt-4o-latest"\n', ["pin 'gpt-4o'", "-latest"]),
        ('[pins]\n"gpt-4o" = ""\n', ["pin 'gpt-4o'", "empty target"]),
        ('[pins]\n"gpt-4o" = "   "\n', ["pin 'gpt-4o'", "empty target"]),
        ('[pins]\n"" = "gpt-4o-2024-08-06"\n', ["empty name"]),
        ('"gpt-4o" = "gpt-4o-2024-08-06"\n', ["[pins] table", '"gpt-4o" = "gpt-4o-2024-08-06"']),
        ('pins = "gpt-4o"\n', ["[pins] table"]),
    ],
)
def test_bad_lock_files(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = _lock_file(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        load_lock(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_missing_lock_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"llmguard\.lock: cannot read"):
        load_lock(tmp_path / "llmguard.lock")


def test_lock_from_table() -> None:
    assert lock_from_table({"gpt-4o": "gpt-4o-2024-08-06"}, PYPROJECT_SOURCE) == {
        "gpt-4o": "gpt-4o-2024-08-06"
    }


@pytest.mark.parametrize(
    ("table", "fragments"),
    [
        ({"gpt-4o": 1.5}, ["pin 'gpt-4o'", "not float"]),
        ({"gpt-4o": "gpt-4o"}, ["pin 'gpt-4o'", "not pinned", "'gpt-4o-2024-08-06'"]),
        ({"gpt-4o": {"snapshot": "gpt-4o-2024-08-06"}}, ["pin 'gpt-4o'", "not dict"]),
    ],
)
def test_bad_pyproject_tables(table: dict[str, object], fragments: list[str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        lock_from_table(table, PYPROJECT_SOURCE)
    assert str(caught.value).startswith("pyproject.toml [tool.llmguard.pins]: ")
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="gpt-4o"):
        lock_from_table({"gpt-4o": 1}, "custom source")


def test_a_table_that_is_not_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match=r"^llmguard\.toml pins: expected a table .* not str"):
        lock_from_table("gpt-4o", "llmguard.toml pins")  # type: ignore[arg-type]


def test_a_non_string_key() -> None:
    with pytest.raises(ConfigurationError, match="empty name"):
        lock_from_table({1: "gpt-4o-2024-08-06"}, "argument pins")  # type: ignore[dict-item]
