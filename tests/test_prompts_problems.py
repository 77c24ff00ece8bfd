"""A bad prompt file reports every problem at once, with a hint where a field is misplaced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmguard import PromptFormatError
from llmguard.cli import app
from llmguard.prompts import FileStore

BAD = """\
version: "1.0.0"
model: gpt-4o-2024-08-06
temperature: 0.2
system_promt: You are terse.
user_template: "{{ question }}"
variables:
  question: {typ: string}
parameters:
  model: gpt-4o-2024-08-06
  max_tokens: 200
"""


def _store(root: Path, text: str) -> FileStore:
    folder = root / "prompts" / "bot"
    folder.mkdir(parents=True)
    (folder / "v1.0.0.yaml").write_text(text, encoding="utf-8")
    return FileStore(root / "prompts")


def test_every_problem_is_listed_with_hints(tmp_path: Path) -> None:
    store = _store(tmp_path, BAD)
    with pytest.raises(PromptFormatError) as caught:
        store.load("bot")
    problems = caught.value.problems
    assert len(problems) == 4, problems
    by_field = {p.split(":")[0]: p for p in problems}
    assert "belongs under 'parameters:' (parameters.temperature)" in by_field["field temperature"]
    assert "did you mean 'system_prompt'?" in by_field["field system_promt"]
    assert "did you mean 'type'?" in by_field["field variables.question.typ"]
    assert "top-level field" in by_field["field parameters.model"]
    message = str(caught.value)
    assert "4 problems" in message
    assert "(and " not in message
    assert all(p in message for p in problems)


def test_one_problem_keeps_the_one_line_message(tmp_path: Path) -> None:
    store = _store(tmp_path, 'version: "1.0.0"\ntemperature: 0.5\nuser_template: hi\n')
    with pytest.raises(
        PromptFormatError, match=r"v1\.0\.0\.yaml: field temperature: unknown field; .*parameters:"
    ) as caught:
        store.load("bot")
    assert "\n" not in str(caught.value)


def test_validate_prints_one_finding_per_problem(tmp_path: Path) -> None:
    _store(tmp_path, BAD)
    result = CliRunner().invoke(
        app, ["prompts", "validate", "--json", "--prompts-dir", str(tmp_path / "prompts")]
    )
    assert result.exit_code == 1, result.output
    messages = [f["message"] for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"]
    assert sorted(m.split(":")[0] for m in messages) == [
        "field parameters.model",
        "field system_promt",
        "field temperature",
        "field variables.question.typ",
    ]
