"""``llmguard prompts`` in real subprocesses: output, files written and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SEED = Path(__file__).parent / "data" / "prompts"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "llmguard", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(SEED, tmp_path / "prompts")
    return tmp_path


def test_validate_flags_the_seed_alias(project: Path) -> None:
    warn = run("prompts", "validate", cwd=project)
    assert warn.returncode == 0, warn.stderr
    assert "gpt-4o" in warn.stdout
    assert "warning" in warn.stdout
    strict = run("prompts", "validate", "--strict", cwd=project)
    assert strict.returncode == 1
    assert "not pinned" in strict.stdout
    enforce = run("prompts", "validate", "--policy", "enforce", cwd=project)
    assert enforce.returncode == 1
    (project / "llmguard.toml").write_text('pin_policy = "enforce"\n')
    assert run("prompts", "validate", cwd=project).returncode == 1


def test_validate_reports_bad_files(project: Path) -> None:
    (project / "prompts" / "support-bot" / "v2.2.0.yaml").write_text('version: "2.3.0"\n')
    result = run("--json", "prompts", "validate", "--policy", "off", cwd=project)
    assert result.returncode == 1
    findings = json.loads(result.stdout)["findings"]
    assert any("v2.2.0.yaml" in f["where"] and "field version" in f["message"] for f in findings)


def test_promote_history_rollback_flow(project: Path) -> None:
    assert run("prompts", "new", "support-bot", cwd=project).returncode == 0
    assert (project / "prompts" / "support-bot" / "v2.2.0.yaml").is_file()
    listed = run("--json", "prompts", "list", cwd=project)
    assert json.loads(listed.stdout)[0]["versions"] == ["2.1.0", "2.2.0"]
    first = run(
        "prompts",
        "promote",
        "support-bot",
        "2.1.0",
        "--label",
        "production",
        "--reason",
        "launch",
        cwd=project,
    )
    assert first.returncode == 0
    assert "promoted" in first.stdout
    conflict = run(
        "prompts", "promote", "support-bot", "2.2.0", "-l", "production", "--expect", "2.0.0", cwd=project
    )
    assert conflict.returncode == 1
    assert "conflict" in conflict.stderr
    canary = run(
        "prompts", "promote", "support-bot", "2.2.0", "-l", "production", "--canary", "10", cwd=project
    )
    assert canary.returncode == 0
    assert "2.1.0=90,2.2.0=10" in canary.stdout
    history = json.loads(run("--json", "prompts", "history", "support-bot", cwd=project).stdout)
    assert [(m["from"], m["to"]) for m in history] == [(None, "2.1.0"), ("2.1.0", "2.1.0=90,2.2.0=10")]
    assert history[0]["why"] == "launch"
    back = run("prompts", "rollback", "support-bot", "--label", "production", cwd=project)
    assert back.returncode == 0
    assert "rolled back" in back.stdout
    again = run("prompts", "rollback", "support-bot", "--label", "production", cwd=project)
    assert again.returncode == 2
    assert "no earlier promotion" in again.stderr
    shown = json.loads(run("--json", "prompts", "show", "support-bot", cwd=project).stdout)
    assert shown["version"] == "2.1.0"
    assert shown["label"] == "production"


def test_show_diff_and_errors(project: Path) -> None:
    shown = run("prompts", "show", "support-bot", "--version", "^2", cwd=project)
    assert shown.returncode == 0
    assert "Acme Corp" in shown.stdout
    assert "sha256:" in shown.stdout
    (project / "prompts" / "support-bot" / "v2.2.0.yaml").write_text(
        'version: "2.2.0"\nmodel: "gpt-4o-2024-08-06"\nsystem_prompt: "Short."\n'
    )
    diff = run("prompts", "diff", "support-bot", "2.1.0", "2.2.0", cwd=project)
    assert diff.returncode == 0
    assert '+model: "gpt-4o-2024-08-06"' in diff.stdout
    missing = run("prompts", "show", "nope", cwd=project)
    assert missing.returncode == 2
    assert "no prompt named 'nope'" in missing.stderr
    traversal = run("prompts", "show", "../../etc/passwd", cwd=project)
    assert traversal.returncode == 2
    assert "invalid prompt name" in traversal.stderr


def test_prompts_dir_option(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    result = run("--json", "prompts", "list", "--prompts-dir", str(project / "prompts"), cwd=other)
    assert result.returncode == 0
    assert json.loads(result.stdout)[0]["name"] == "support-bot"
