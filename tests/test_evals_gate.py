from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmguard.evals import EvalGate, latest_record, load_suite, run_suite
from llmguard.exceptions import PromptError
from llmguard.prompts import FileStore, PromptRegistry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    shutil.copytree(EXAMPLES / "evals", tmp_path / "evals", ignore=shutil.ignore_patterns("cache", "records"))
    return tmp_path


def _registry(project: Path) -> PromptRegistry:
    gate = EvalGate([project / "evals" / "support-bot.suite.yaml"])
    return PromptRegistry(FileStore(project / "prompts"), protected_labels=["production"], gate=gate)


def test_promotion_refused_without_a_matching_passing_record(project: Path) -> None:
    registry = _registry(project)
    with pytest.raises(PromptError, match="no passing eval record"):
        registry.promote("support-bot", "2.1.0", label="production")
    registry.promote("support-bot", "2.1.0", label="staging")  # unprotected labels move freely


def test_promotion_accepted_with_a_passing_record_and_evidence_recorded(project: Path) -> None:
    run = run_suite(project / "evals" / "support-bot.suite.yaml", cache=False)
    registry = _registry(project)
    move = registry.promote("support-bot", "2.1.0", label="production", reason="eval passed")
    assert move.evidence["run_id"] == run.run_id
    assert move.evidence["eval_score"] == pytest.approx(run.eval_score)
    assert move.evidence["model"] == "gpt-4o-2024-08-06"
    history = registry.history("support-bot", "production")
    assert history[-1].evidence["run_id"] == run.run_id
    assert (
        "eval_score: 0.87" in (project / "prompts" / "support-bot" / "v2.1.0.yaml").read_text()
    )  # never rewritten


def test_failed_record_or_changed_files_do_not_count(project: Path) -> None:
    suite = project / "evals" / "support-bot.suite.yaml"
    bad = run_suite(load_suite(suite, fake_quality=0.3), cache=False)
    assert not bad.passed
    with pytest.raises(PromptError, match="no passing eval record"):
        _registry(project).promote("support-bot", "2.1.0", label="production")
    run_suite(suite, cache=False)
    dataset = project / "evals" / "support-bot.golden.jsonl"
    dataset.write_text(dataset.read_text().replace("30 minutes", "15 minutes"))
    with pytest.raises(PromptError, match="no passing eval record"):
        _registry(project).promote("support-bot", "2.1.0", label="production")
    suite.write_text(suite.read_text().replace("repeats: 3", "repeats: 2"))
    run_suite(suite, cache=False)
    _registry(project).promote("support-bot", "2.1.0", label="production")


def test_changed_model_needs_a_new_eval(project: Path) -> None:
    suite = project / "evals" / "support-bot.suite.yaml"
    run_suite(suite, cache=False)
    suite.write_text(
        suite.read_text().replace("model: gpt-4o-2024-08-06          #", "model: gpt-4o-2024-11-20  #")
    )
    with pytest.raises(PromptError, match="gpt-4o-2024-11-20"):
        _registry(project).promote("support-bot", "2.1.0", label="production")


def test_forced_promotion_needs_a_reason_and_is_recorded(project: Path) -> None:
    registry = _registry(project)
    with pytest.raises(PromptError, match="needs a reason"):
        registry.promote("support-bot", "2.1.0", label="production", evidence={"forced": True})
    move = registry.promote(
        "support-bot", "2.1.0", label="production", reason="hotfix", evidence={"forced": True}
    )
    assert move.evidence["forced"] is True
    assert move.evidence["forced_reason"] == "hotfix"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "llmguard", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_cli_gated_promotion(project: Path) -> None:
    promote = (
        "prompts",
        "promote",
        "support-bot",
        "2.1.0",
        "--label",
        "production",
        "--suite",
        "evals/support-bot.suite.yaml",
    )
    refused = _cli(*promote, cwd=project)
    assert refused.returncode == 2
    assert "no passing eval record" in refused.stderr
    no_reason = _cli(*promote, "--force", cwd=project)
    assert no_reason.returncode == 2
    assert "--force needs --reason" in no_reason.stderr
    evaluated = _cli("eval", "run", "evals/support-bot.suite.yaml", cwd=project)
    assert evaluated.returncode == 0, evaluated.stderr
    accepted = _cli(*promote, "--reason", "eval passed", cwd=project)
    assert accepted.returncode == 0, accepted.stderr
    history = json.loads(_cli("--json", "prompts", "history", "support-bot", cwd=project).stdout)
    record = latest_record(project / "evals" / "records", "support-bot")
    assert record is not None
    assert history[-1]["evidence"]["run_id"] == record["run_id"]
    shown = _cli("prompts", "show", "support-bot", "--version", "2.1.0", cwd=project)
    assert f"eval: score 1.000 passed on gpt-4o-2024-08-06 (run {record['run_id']})" in shown.stdout
    forced = _cli(*promote, "--force", "--reason", "rollforward", "--expect", "2.1.0", cwd=project)
    assert forced.returncode == 0, forced.stderr
    last = json.loads(_cli("--json", "prompts", "history", "support-bot", cwd=project).stdout)[-1]
    assert last["evidence"]["forced"] is True
    assert last["evidence"]["forced_reason"] == "rollforward"
