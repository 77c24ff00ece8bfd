"""Tests for ``llmguard pins check``: scanning, lock handling, output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmguard.cli._pins import find_models, pins_app

runner = CliRunner()

APP_PY = """\
from openai import OpenAI

DEFAULT_MODEL = "gpt-4o"
judge_model: str = "claude-sonnet-4-6"
model_path = "./weights"
client = OpenAI()
client.chat.completions.create(model="gpt-4o-2024-08-06", messages=[])
client.responses.create(model="chatgpt-4o-latest", input="hi")
settings = {"model": "o3", "temperature": 0}
greeting = "gpt-4o-mini"
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def _check_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(pins_app, ["check", "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def _models(report: dict[str, Any]) -> dict[str, str]:
    return {f["model"]: f["status"] for f in report["findings"]}


def test_python_scanning_uses_the_ast(tmp_path: Path) -> None:
    _write(tmp_path, {"app.py": APP_PY})
    findings = find_models([tmp_path], {})
    assert [(f.line, f.model) for f in findings] == [
        (3, "gpt-4o"),
        (4, "claude-sonnet-4-6"),
        (7, "gpt-4o-2024-08-06"),
        (8, "chatgpt-4o-latest"),
        (9, "o3"),
    ]
    assert [f.ok for f in findings] == [False, True, True, False, False]


def test_config_and_prompt_files(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "prompts/support/greet.yaml": "name: greet\nmodel: claude-sonnet-4-5\ntemplate: hi\n",
            "config.yml": "agents:\n  - name: a\n    judge_model: gpt-4.1-2025-04-14\n",
            "settings.toml": '[llm]\nmodel = "gpt-4o-mini"\nname = "gpt-4o"\n',
            "models.json": '{"default_model": "claude-opus-4-8", "models": ["gpt-4o"]}',
        },
    )
    code, report = _check_json(str(tmp_path))
    assert code == 1
    assert _models(report) == {
        "claude-sonnet-4-5": "unpinned",
        "gpt-4.1-2025-04-14": "pinned",
        "claude-opus-4-8": "pinned",
        "gpt-4o-mini": "unpinned",
    }
    lines = {f["model"]: (Path(f["file"]).name, f["line"]) for f in report["findings"]}
    assert lines["claude-sonnet-4-5"] == ("greet.yaml", 2)
    assert lines["gpt-4.1-2025-04-14"] == ("config.yml", 3)
    assert lines["gpt-4o-mini"] == ("settings.toml", 2)
    pins = {k: report["summary"][k] for k in ("models", "files", "pinned", "locked", "unpinned")}
    assert pins == {"models": 4, "files": 4, "pinned": 2, "locked": 0, "unpinned": 2}


def test_skipped_directories(tmp_path: Path) -> None:
    for skipped in (".venv", ".git", "node_modules", "lib/site-packages"):
        _write(tmp_path, {f"{skipped}/x.py": 'model = "gpt-4o"\n'})
    _write(tmp_path, {"ok.py": 'model = "gpt-4o-2024-08-06"\n'})
    code, report = _check_json(str(tmp_path))
    assert (code, _models(report)) == (0, {"gpt-4o-2024-08-06": "pinned"})


def test_all_pinned_exits_zero_with_a_table(tmp_path: Path) -> None:
    _write(tmp_path, {"a.py": 'client.create(model="claude-sonnet-4-6")\n'})
    result = runner.invoke(pins_app, ["check", str(tmp_path / "a.py")], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "claude-sonnet-4-6" in result.stdout
    assert "OK: 1 model name(s) in 1 file(s): 0 unpinned, 0 locked, 1 pinned" in result.stdout


def test_unpinned_exits_one_with_suggestion(tmp_path: Path) -> None:
    _write(tmp_path, {"a.py": 'client.create(model="gpt-4o")\n'})
    result = runner.invoke(pins_app, ["check", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "gpt-4o-2024-08-06" in result.stdout
    assert "FAIL: 1 model name(s) in 1 file(s): 1 unpinned" in result.stdout


def test_nothing_found(tmp_path: Path) -> None:
    result = runner.invoke(pins_app, ["check", str(tmp_path)])
    assert result.exit_code == 0
    assert "OK: 0 model name(s)" in result.stdout


def test_lock_file_makes_aliases_locked(tmp_path: Path) -> None:
    _write(tmp_path, {"a.py": APP_PY, "llmguard.lock": '[pins]\n"gpt-4o" = "gpt-4o-2024-08-06"\n'})
    code, report = _check_json(str(tmp_path))
    assert _models(report)["gpt-4o"] == "locked"
    locked = next(f for f in report["findings"] if f["model"] == "gpt-4o")
    assert locked["locked"] == "gpt-4o-2024-08-06"
    assert code == 1  # chatgpt-4o-latest and o3 still float


def test_pyproject_pins_table(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pyproject.toml": '[tool.llmguard]\njudge_model = "o3"\n[tool.llmguard.pins]\n"o3" = "o3-2025-04-16"\n',
        },
    )
    code, report = _check_json(str(tmp_path))
    assert (code, _models(report)) == (0, {"o3": "locked"})


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"llmguard.lock": "[pins\n"}, "not valid TOML"),
        ({"llmguard.lock": '[pins]\n"gpt-4o" = "gpt-4o-mini"\n'}, "pin 'gpt-4o'"),
        ({"pyproject.toml": '[tool.llmguard.pins]\n"gpt-4o" = 3\n'}, "[tool.llmguard.pins]: pin 'gpt-4o'"),
    ],
)
def test_bad_lock_exits_two(tmp_path: Path, files: dict[str, str], fragment: str) -> None:
    _write(tmp_path, files)
    result = runner.invoke(pins_app, ["check", str(tmp_path)])
    assert result.exit_code == 2
    assert fragment in result.stderr


def test_missing_path_exits_two(tmp_path: Path) -> None:
    result = runner.invoke(pins_app, ["check", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such file or directory" in result.stderr


def test_unparsable_files_are_skipped_with_a_warning(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {"bad.py": "def (:\n", "bad.yaml": "a: [\n", "bad.json": "{", "ok.py": 'model = "o3-2025-04-16"\n'},
    )
    result = runner.invoke(pins_app, ["check", "--json", str(tmp_path)])
    assert result.exit_code == 0
    assert _models(json.loads(result.stdout)) == {"o3-2025-04-16": "pinned"}
    assert result.stderr.count("warning: skipped") == 3


def test_defaults_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, {"a.py": 'model = "gpt-4o"\n'})
    monkeypatch.chdir(tmp_path)
    code, report = _check_json()
    assert code == 1
    assert report["findings"][0]["file"] == "a.py"


def test_real_console_script(tmp_path: Path) -> None:
    """Runs ``python -m llmguard pins check`` as a user would."""
    _write(tmp_path, {"a.py": 'model = "gpt-4o"\n', "b.py": 'model = "gpt-4o-2024-08-06"\n'})
    argv = [sys.executable, "-m", "llmguard", "pins", "check", "--json", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert _models(report) == {"gpt-4o": "unpinned", "gpt-4o-2024-08-06": "pinned"}
    ok = subprocess.run(
        [*argv[:-1], str(tmp_path / "b.py")], capture_output=True, text=True, timeout=60, check=False
    )
    assert ok.returncode == 0, ok.stderr


def test_llmguard_toml_pins_and_root_json_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, {"llmguard.toml": '[pins]\n"o3" = "o3-2025-04-16"\n', "a.py": 'model = "o3"\n'})
    code, report = _check_json(str(tmp_path))
    assert (code, _models(report)) == (0, {"o3": "locked"})
    result = runner.invoke(pins_app, ["check", str(tmp_path)], obj={"json": True})
    assert json.loads(result.stdout)["summary"]["locked"] == 1


def test_config_named_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _write(tmp_path / "conf", {"custom.toml": '[pins]\n"o3" = "o3-2025-04-16"\n'}) / "custom.toml"
    _write(tmp_path / "proj", {"a.py": 'model = "o3"\n'})
    monkeypatch.setenv("LLMGUARD_CONFIG", str(config))
    code, report = _check_json(str(tmp_path / "proj"))
    assert (code, _models(report)) == (0, {"o3": "locked"})
