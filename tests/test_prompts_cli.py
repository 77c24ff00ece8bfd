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
    (project / "llmguard.toml").write_text("protected_labels = []\n")  # the flow, not the eval gate
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


def _history(project: Path) -> list[dict[str, object]]:
    result = run("--json", "prompts", "history", "support-bot", cwd=project)
    assert result.returncode == 0, result.stderr
    moves: list[dict[str, object]] = json.loads(result.stdout)
    return moves


def test_production_is_protected_by_default(project: Path) -> None:
    promote = ("prompts", "promote", "support-bot", "2.1.0", "--label")
    refused = run(*promote, "production", cwd=project)
    assert refused.returncode == 1  # refused, not a usage error
    assert "label 'production' is protected" in refused.stderr
    assert "--suite" in refused.stderr
    assert not (project / "prompts" / "support-bot" / "labels.yaml").exists()
    assert run(*promote, "production", "--force", cwd=project).returncode == 2  # --force needs --reason
    assert run(*promote, "staging", cwd=project).returncode == 0  # unprotected
    forced = run(*promote, "production", "--force", "--reason", "incident 4711", cwd=project)
    assert forced.returncode == 0, forced.stderr
    assert "forced" in forced.stdout
    last = _history(project)[-1]
    assert last["label"] == "production"
    assert last["why"] == "incident 4711"
    evidence = last["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["forced"] is True
    assert evidence["forced_reason"] == "incident 4711"
    assert evidence["forced_by"]
    proof = run(*promote, "production", "--evidence", '{"eval_score": 0.9, "run_id": "r-1"}', cwd=project)
    assert proof.returncode == 0, proof.stderr


def test_the_protected_set_is_configurable(project: Path) -> None:
    promote = ("prompts", "promote", "support-bot", "2.1.0", "--label")
    (project / "llmguard.toml").write_text('protected_labels = ["prod-eu"]\n')
    assert run(*promote, "production", cwd=project).returncode == 0
    assert run(*promote, "prod-eu", cwd=project).returncode == 1
    (project / "llmguard.toml").write_text('protected_labels = ["not a label"]\n')
    bad = run(*promote, "staging", cwd=project)
    assert bad.returncode == 2
    assert "invalid label 'not a label'" in bad.stderr


@pytest.mark.parametrize(
    "label", ["", "a b", "prod\n", "\x1b[31mprod", "[/]", "-x", "x" * 65, "prod/eu", "ü"]
)
def test_invalid_labels_are_refused_before_anything_is_written(project: Path, label: str) -> None:
    result = run("prompts", "promote", "support-bot", "2.1.0", "--label", label, cwd=project)
    assert result.returncode == 2
    assert "invalid label" in result.stderr
    assert "Traceback" not in result.stderr
    assert "\x1b" not in result.stderr
    assert not (project / "prompts" / "support-bot" / "labels.yaml").exists()
    assert not (project / "prompts" / "support-bot" / "history.jsonl").exists()


def test_line_separators_in_reasons_never_break_history(project: Path) -> None:
    promote = ("prompts", "promote", "support-bot")
    reason = "line\u2028para\u2029next\x85end"
    assert run(*promote, "2.1.0", "-l", "staging", "--reason", reason, cwd=project).returncode == 0
    (project / "prompts" / "support-bot" / "v2.2.0.yaml").write_text('version: "2.2.0"\nsystem_prompt: "x"\n')
    assert run(*promote, "2.2.0", "-l", "staging", "--reason", "second", cwd=project).returncode == 0
    text = (project / "prompts" / "support-bot" / "history.jsonl").read_text(encoding="utf-8")
    assert len(text.splitlines()) == 2  # nothing any reader splits lines on is written raw
    assert [m["why"] for m in _history(project)] == [reason, "second"]
    back = run("prompts", "rollback", "support-bot", "-l", "staging", cwd=project)
    assert back.returncode == 0, back.stderr
    table = run("prompts", "history", "support-bot", cwd=project)
    assert table.returncode == 0
    assert "\\u2028" in table.stdout


def test_a_history_written_raw_by_an_older_version_still_reads(project: Path) -> None:
    move = {"name": "support-bot", "label": "staging", "from": None, "to": "2.1.0", "who": "a", "when": "t"}
    raw = json.dumps({**move, "why": "a\u2028b"}, ensure_ascii=False)
    (project / "prompts" / "support-bot" / "history.jsonl").write_text(raw + "\n", encoding="utf-8")
    assert [m["why"] for m in _history(project)] == ["a\u2028b"]


def test_output_is_escaped(project: Path) -> None:
    reason = "[/] [bold]loud[/bold] \x1b[31mred"
    promoted = run(
        "prompts", "promote", "support-bot", "2.1.0", "-l", "staging", "--reason", reason, cwd=project
    )
    assert promoted.returncode == 0, promoted.stderr
    table = run("prompts", "history", "support-bot", cwd=project)
    assert table.returncode == 0, table.stderr
    assert "[/] [bold]loud[/bold]" in table.stdout
    assert "\x1b" not in table.stdout
    assert "\\x1b[31mred" in table.stdout
    (project / "prompts" / "support-bot" / "labels.yaml").write_text('"[/]": 2.1.0\n')
    for command in (("prompts", "list"), ("prompts", "show", "support-bot")):
        broken = run(*command, cwd=project)
        assert broken.returncode == 2
        assert "invalid label '[/]'" in broken.stderr
        assert "labels.yaml" in broken.stderr
        assert "Traceback" not in broken.stderr
