"""``llmguard rollout``: start from a plan file or options, status, advance, pause, resume, abort, watch, history."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmguard.cli import app
from llmguard.judging import JudgeResult, Judgment, SQLiteSink

runner = CliRunner()


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts" / "bot"
    folder.mkdir(parents=True)
    for version in ("1.0.0", "1.1.0"):
        (folder / f"v{version}.yaml").write_text(
            f'version: "{version}"\nmodel: "gpt-4o-2024-08-06"\nsystem_prompt: "v{version}"\n',
            encoding="utf-8",
        )
    (folder / "labels.yaml").write_text("production: 1.0.0\n", encoding="utf-8")
    return tmp_path / "prompts"


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_the_operator_commands(prompts: Path) -> None:
    d = ["--prompts-dir", str(prompts)]
    code, out = cli(
        "rollout", "start", "bot", "--candidate", "1.1.0", "--steps", "1:30m,5:1h", "--force", "-m", "t", *d
    )
    assert code == 0, out
    assert "1.0.0 → 1.1.0" in out
    assert "1% candidate" in out
    code, out = cli("--json", "rollout", "status", "bot", *d)
    state = json.loads(out)
    assert (state["status"], state["step"], [s["weight"] for s in state["plan"]["steps"]]) == (
        "running",
        0,
        [1, 5, 100],
    )
    assert cli("rollout", "advance", "bot", "-m", "[/] [red]fine\u2028", *d)[0] == 0
    assert "paused" in cli("rollout", "pause", "bot", *d)[1]
    assert "running" in cli("rollout", "resume", "bot", *d)[1]
    code, out = cli("rollout", "abort", "bot", *d)
    assert code == 0
    assert "aborted" in out
    assert (prompts / "bot" / "labels.yaml").read_text(encoding="utf-8").strip().endswith("production: 1.0.0")
    code, out = cli("--json", "rollout", "history", "bot", *d)
    assert [e["action"] for e in json.loads(out)] == ["start", "advance", "pause", "resume", "abort"]
    code, out = cli("rollout", "history", "bot", *d)
    assert code == 0
    assert "[/] [red]fine\\u2028" in out  # markup shown as text, line separators escaped
    code, out = cli("rollout", "abort", "bot", *d)
    assert code == 2
    assert "no active rollout" in out


def test_a_protected_label_refuses_a_start_without_evidence(prompts: Path) -> None:
    code, out = cli("rollout", "start", "bot", "--candidate", "1.1.0", "--prompts-dir", str(prompts))
    assert code == 1
    assert "protected" in out


def test_the_plan_file_beside_the_prompt_is_used_and_validated(prompts: Path) -> None:
    plan = prompts / "bot" / "rollout.yaml"
    plan.write_text("candidate: '1.1.0'\nsteps: [{weight: 20, duration: 1h}]\n", encoding="utf-8")
    code, out = cli("rollout", "start", "bot", "--force", "-m", "t", "--prompts-dir", str(prompts))
    assert code == 0, out
    assert "20% candidate" in out
    cli("rollout", "abort", "bot", "--prompts-dir", str(prompts))
    plan.write_text("candidate: '1.1.0'\nsteps: [{weight: 20, duration: soon}]\n", encoding="utf-8")
    code, out = cli("rollout", "start", "bot", "--force", "-m", "t", "--prompts-dir", str(prompts))
    assert code == 2
    assert "rollout.yaml: field steps[0].duration" in out.replace("\n", "")


def test_start_with_a_model_writes_the_candidate_version(prompts: Path) -> None:
    d = ["--prompts-dir", str(prompts)]
    code, out = cli("rollout", "start", "bot", "--model", "gpt-4.1-2025-04-14", "--force", "-m", "t", *d)
    assert code == 0, out
    assert "(model gpt-4.1-2025-04-14)" in out
    assert "model: gpt-4.1-2025-04-14" in (prompts / "bot" / "v1.1.1.yaml").read_text(encoding="utf-8")


def test_watch_needs_the_database(prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGUARD_DB", str(tmp_path / "none.db"))  # restored after the test (--db sets it)
    code, out = cli(
        "--db", str(tmp_path / "none.db"), "rollout", "watch", "bot", "--once", "--prompts-dir", str(prompts)
    )
    assert code == 2
    assert "none.db" in out.replace("\n", "")


def test_watch_once_rolls_a_regression_back_and_exits_1(
    prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "llmguard.db"
    monkeypatch.setenv("LLMGUARD_DB", str(db))  # restored after the test (the CLI's --db sets it)
    d = ["--prompts-dir", str(prompts)]
    assert (
        cli("rollout", "start", "bot", "--candidate", "1.1.0", "--steps", "50:1m", "--force", "-m", "t", *d)[
            0
        ]
        == 0
    )
    ns = time.time_ns()
    sink = SQLiteSink(db)
    sink.write(
        Judgment(call_id=f"c{i}", judge="quality", status="ok", prompt_name="bot", created_ns=ns + i,
                 prompt_version="1.0.0" if i % 2 else "1.1.0",
                 result=JudgeResult(name="quality", score=(0.9 if i % 2 else 0.4) + (i % 7) / 100))
        for i in range(400)
    )  # fmt: skip
    sink.close()
    time.sleep(0.01)
    code, out = cli("--db", str(db), "rollout", "watch", "bot", "--once", *d)
    assert code == 1, out
    assert "rollback" in out
    code, out = cli("--json", "rollout", "status", "bot", *d)
    state = json.loads(out)
    assert state["status"] == "rolled_back"
    failed = [m for m in state["last_check"]["metrics"] if m["status"] == "regression"]
    assert [m["metric"] for m in failed] == ["judge_score:quality"]
    code, out = cli("rollout", "status", "bot", *d)
    assert "status rolled_back" in out
    assert "judge_score:quality: regression (n=200/200" in out
