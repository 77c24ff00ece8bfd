from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import llmguard
from llmguard import Guard
from llmguard.evals import EvalGate, EvalRun, demo_provider, latest_record, run_suite
from llmguard.exceptions import PromotionRefusedError, PromptError
from llmguard.prompts import FileStore, PromptRegistry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The example project as shipped: its suite runs the offline demo provider (``provider: fake``)."""
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    shutil.copytree(EXAMPLES / "evals", tmp_path / "evals", ignore=shutil.ignore_patterns("cache", "records"))
    return tmp_path


@pytest.fixture
def project(demo: Path) -> Path:
    """The example project with its suite on a real provider (``provider: openai``)."""
    suite = demo / "evals" / "support-bot.suite.yaml"
    suite.write_text(suite.read_text().replace("provider: fake", "provider: openai"))
    return demo


def _run_real(project: Path, quality: float = 1.0) -> EvalRun:
    """Run the suite as `provider: openai` would, answered offline by the demo provider's HTTP fake."""
    dataset = project / "evals" / "support-bot.golden.jsonl"
    cases = [json.loads(line) for line in dataset.read_text().splitlines() if line.strip()]
    fake = demo_provider({c["input"]: c["expected_output"] for c in cases}, quality=quality)
    client = fake.client(llmguard.AsyncOpenAI, guard=Guard(pin_policy="enforce"), max_retries=0)
    return run_suite(project / "evals" / "support-bot.suite.yaml", cache=False, client=client)


def _registry(project: Path) -> PromptRegistry:
    gate = EvalGate([project / "evals" / "support-bot.suite.yaml"])
    return PromptRegistry(FileStore(project / "prompts"), protected_labels=["production"], gate=gate)


def test_promotion_refused_without_a_matching_passing_record(project: Path) -> None:
    registry = _registry(project)
    with pytest.raises(PromptError, match="no passing eval record"):
        registry.promote("support-bot", "2.1.0", label="production")
    registry.promote("support-bot", "2.1.0", label="staging")  # unprotected labels move freely


def test_promotion_accepted_with_a_passing_record_and_evidence_recorded(project: Path) -> None:
    run = _run_real(project)
    assert run.passed
    registry = _registry(project)
    move = registry.promote("support-bot", "2.1.0", label="production", reason="eval passed")
    assert move.evidence["run_id"] == run.run_id
    assert move.evidence["eval_score"] == pytest.approx(run.eval_score)
    assert move.evidence["model"] == "gpt-4o-2024-08-06"
    assert move.evidence["provider"] == "openai"
    history = registry.history("support-bot", "production")
    assert history[-1].evidence["run_id"] == run.run_id
    assert (
        "eval_score: 0.87" in (project / "prompts" / "support-bot" / "v2.1.0.yaml").read_text()
    )  # never rewritten


def test_failed_record_or_changed_files_do_not_count(project: Path) -> None:
    suite = project / "evals" / "support-bot.suite.yaml"
    bad = _run_real(project, quality=0.3)
    assert not bad.passed
    with pytest.raises(PromotionRefusedError, match="no passing eval record"):
        _registry(project).promote("support-bot", "2.1.0", label="production")
    _run_real(project)
    dataset = project / "evals" / "support-bot.golden.jsonl"
    dataset.write_text(dataset.read_text().replace("30 minutes", "15 minutes"))
    with pytest.raises(PromptError, match="no passing eval record"):
        _registry(project).promote("support-bot", "2.1.0", label="production")
    suite.write_text(suite.read_text().replace("repeats: 3", "repeats: 2"))
    _run_real(project)
    _registry(project).promote("support-bot", "2.1.0", label="production")


def test_changed_model_needs_a_new_eval(project: Path) -> None:
    suite = project / "evals" / "support-bot.suite.yaml"
    _run_real(project)
    suite.write_text(
        suite.read_text().replace("model: gpt-4o-2024-08-06          #", "model: gpt-4o-2024-11-20  #")
    )
    with pytest.raises(PromptError, match="gpt-4o-2024-11-20"):
        _registry(project).promote("support-bot", "2.1.0", label="production")


def test_a_pin_change_alone_needs_an_eval_on_the_new_model(project: Path) -> None:
    """A version that only changes the pinned snapshot is a deployment event: the old model's records never count."""
    new = "gpt-4.1-2025-04-14"
    folder = project / "prompts" / "support-bot"
    old_text = (folder / "v2.1.0.yaml").read_text()
    new_text = old_text.replace('version: "2.1.0"', 'version: "2.2.0"').replace(
        'model: "gpt-4o"', f'model: "{new}"'
    )
    assert new_text.count(new) == 1
    assert "2.2.0" in new_text
    (folder / "v2.2.0.yaml").write_text(new_text)
    _run_real(project)
    _registry(project).promote("support-bot", "2.1.0", label="production", reason="eval passed")
    with pytest.raises(PromotionRefusedError, match="no passing eval record"):
        _registry(project).promote("support-bot", "2.2.0", label="production")

    suite = project / "evals" / "support-bot.suite.yaml"
    suite.write_text(suite.read_text().replace("prompt: support-bot@2.1.0", "prompt: support-bot@2.2.0"))
    stale = _run_real(project)  # the suite's model: override still names the old snapshot
    assert stale.passed
    assert stale.model == "gpt-4o-2024-08-06"
    with pytest.raises(
        PromotionRefusedError, match=f"evaluates model gpt-4o-2024-08-06 but the version pins {new}"
    ):
        _registry(project).promote("support-bot", "2.2.0", label="production")
    assert (
        _registry(project).history("support-bot", "production")[-1].evidence["model"] == "gpt-4o-2024-08-06"
    )

    suite.write_text(suite.read_text().replace("model: gpt-4o-2024-08-06          #", f"model: {new}  #"))
    fresh = _run_real(project)
    assert fresh.passed
    assert fresh.model == new
    move = _registry(project).promote(
        "support-bot", "2.2.0", label="production", reason="eval on the new pin"
    )
    assert move.evidence["model"] == new
    assert move.evidence["run_id"] == fresh.run_id


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
    assert refused.returncode == 1  # a gate refusal is a failed check, not a usage error
    assert "no passing eval record" in refused.stderr
    no_reason = _cli(*promote, "--force", cwd=project)
    assert no_reason.returncode == 2
    assert "--force needs --reason" in no_reason.stderr
    assert _run_real(project).passed
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
    assert last["evidence"]["forced_by"]
    assert "forced: the eval gate was skipped" in forced.stdout


def test_fake_provider_records_never_count(demo: Path) -> None:
    suite = demo / "evals" / "support-bot.suite.yaml"
    run = run_suite(suite, cache=False)
    assert run.passed  # a perfect demo run...
    record = latest_record(demo / "evals" / "records", "support-bot")
    assert record is not None
    assert record["provider"] == "fake"
    with pytest.raises(PromotionRefusedError, match="provider: fake, whose records never count"):
        _registry(demo).promote("support-bot", "2.1.0", label="production")  # ...is no evidence
    result = _cli(
        "prompts", "promote", "support-bot", "2.1.0", "-l", "production", "--suite", str(suite), cwd=demo
    )
    assert result.returncode == 1
    assert "never count" in result.stderr


def test_a_fake_record_under_a_real_suite_does_not_count(project: Path) -> None:
    run = _run_real(project)
    record_file = Path(str(run.record_path))
    data = json.loads(record_file.read_text())
    record_file.write_text(json.dumps({**data, "provider": "fake"}))
    with pytest.raises(PromotionRefusedError, match="no passing eval record"):
        _registry(project).promote("support-bot", "2.1.0", label="production")


def test_fake_evidence_given_by_hand_does_not_count(demo: Path) -> None:
    registry = PromptRegistry(FileStore(demo / "prompts"), protected_labels=["production"])
    with pytest.raises(PromotionRefusedError, match="fake eval provider"):
        registry.promote(
            "support-bot", "2.1.0", label="production", evidence={"provider": "fake", "eval_score": 1}
        )
    result = _cli(
        "prompts",
        "promote",
        "support-bot",
        "2.1.0",
        "-l",
        "production",
        "--evidence",
        '{"provider": "fake"}',
        cwd=demo,
    )
    assert result.returncode == 1
    assert "fake eval provider" in result.stderr
