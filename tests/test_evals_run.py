from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from llmguard.evals import (
    EvalRun,
    acompare,
    demo_provider,
    load_suite,
    run_suite,
    to_html,
    to_json,
    to_junit,
    to_markdown,
)
from llmguard.evals._fake import EvalFakeReplies
from llmguard.testing import FakeProvider

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def suite_path(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    shutil.copytree(EXAMPLES / "evals", tmp_path / "evals", ignore=shutil.ignore_patterns("cache", "records"))
    return tmp_path / "evals" / "support-bot.suite.yaml"


def _fake_for(path: Path, quality: float = 1.0) -> FakeProvider:
    cases = [json.loads(line) for line in (path.parent / "support-bot.golden.jsonl").read_text().splitlines()]
    return demo_provider({c["input"]: c["expected_output"] for c in cases}, quality=quality)


def test_suite_passes_offline_through_the_real_llm_judge(suite_path: Path) -> None:
    fake = _fake_for(suite_path)
    run = run_suite(suite_path, fake=fake)
    assert run.passed, run.failures
    assert run.exit_code == 0
    assert len(run.cases) == 12
    assert run.eval_score == pytest.approx(1.0)
    judge_requests = [c for c in fake.calls if "response_format" in c.body]
    assert len(judge_requests) == 12 * 3  # one llm_judge request per case x repeat
    assert "REFERENCE ANSWER:" in judge_requests[0].body["messages"][1]["content"]
    assert run.judge_spend.calls == 36
    assert run.app_spend.calls == 36
    assert run.judges["llm_judge"].interval.n == 3
    assert run.record_path is not None
    assert Path(run.record_path).is_file()


def test_second_run_with_the_cache_makes_no_provider_calls(suite_path: Path) -> None:
    first = _fake_for(suite_path)
    run_suite(suite_path, fake=first)
    assert first.call_count == 72
    second = _fake_for(suite_path)
    replay = run_suite(suite_path, fake=second)
    assert second.call_count == 0
    assert replay.cache_hits == 36 * 5  # 36 responses + 36 x 4 judgments
    assert replay.passed
    assert replay.eval_score == pytest.approx(1.0)
    third = _fake_for(suite_path)
    run_suite(suite_path, fake=third, cache=False)
    assert third.call_count == 72


def test_degraded_answers_fail_the_gate(suite_path: Path) -> None:
    run = run_suite(suite_path, fake=_fake_for(suite_path, quality=0.3), cache=False)
    assert not run.passed
    assert any(f.startswith("llm_judge mean") for f in run.failures)
    assert set(run.failing_cases()) == {c.case.id for c in run.cases}


def test_cli_degraded_run_exits_1_and_junit_names_failing_cases(suite_path: Path, tmp_path: Path) -> None:
    junit = tmp_path / "eval.xml"
    cmd = [
        sys.executable,
        "-m",
        "llmguard",
        "eval",
        "run",
        str(suite_path),
        "--fake-quality",
        "0.3",
        "--junit",
        str(junit),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gate FAILED" in result.stdout
    root = ET.parse(junit).getroot()
    failed = {tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None}
    assert "password-reset" in failed
    assert "pricing-enterprise" in failed
    message = next(tc.find("failure") for tc in root.iter("testcase") if tc.get("name") == "password-reset")
    assert message is not None
    assert "llm_judge: score 2.00" in (message.get("message") or "")


def test_cli_passing_run_exits_0_with_reports(suite_path: Path, tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "llmguard", "--json", "eval", "run", str(suite_path), "--repeats", "1",
        "--markdown", str(tmp_path / "r.md"), "--html", str(tmp_path / "r.html"),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "passed"
    assert len(data["case_results"]) == 12
    assert "✅" in (tmp_path / "r.md").read_text()
    assert "<svg" in (tmp_path / "r.html").read_text()


def test_cli_bad_suite_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.suite.yaml"
    bad.write_text("prompt: x@1.0.0\ndatasets: [missing.jsonl]\njudges: {no_refusal: {}}\n")
    cmd = [sys.executable, "-m", "llmguard", "eval", "run", str(bad)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert "missing.jsonl" in result.stderr


def test_reports(suite_path: Path) -> None:
    run = run_suite(suite_path, fake=_fake_for(suite_path, quality=0.3), cache=False, write_record=False)
    md = to_markdown(run)
    assert "❌" in md
    assert "`password-reset`" in md
    page = to_html(run)
    assert page.startswith("<!doctype html>")
    assert "<svg" in page
    assert "Covers" in page
    assert "<script" not in page
    data = to_json(run)
    assert data["verdict"] == "failed"
    assert data["judges"]["llm_judge"]["fingerprint"].startswith("llm_judge:gpt-4o-2024-08-06:")
    assert to_junit(run).count("<failure") == 12


def test_alias_model_is_refused_by_the_enforcing_guard(suite_path: Path) -> None:
    from llmguard.exceptions import EvalError

    suite = load_suite(suite_path).model_copy(update={"model": None})  # the prompt's own 'gpt-4o' alias
    with pytest.raises(EvalError, match="gpt-4o"):
        run_suite(suite, fake=_fake_for(suite_path), cache=False, write_record=False)


@pytest.mark.anyio
async def test_compare_flags_a_significant_regression(suite_path: Path) -> None:
    worse = suite_path.parent.parent / "prompts" / "support-bot" / "v2.2.0.yaml"
    worse.write_text(
        (worse.parent / "v2.1.0.yaml")
        .read_text()
        .replace('"2.1.0"', '"2.2.0"')
        .replace("professional", "casual")
    )
    answers = EvalFakeReplies({}, 1.0)
    base = _fake_for(suite_path)
    good: EvalFakeReplies = base.reply  # type: ignore[assignment]
    answers.answers = good.answers

    def reply(request: object) -> str:
        from llmguard.testing import FakeRequest

        assert isinstance(request, FakeRequest)
        system = request.body["messages"][0]["content"] if "messages" in request.body else ""
        answers.quality = 0.3 if "casual" in str(system) else 1.0
        return answers(request)

    base.reply = reply
    suite = load_suite(suite_path, prompt="support-bot@2.2.0", repeats=1)
    result = await acompare(suite, "support-bot@2.1.0", fake=base, cache=False, write_record=False)
    assert result.significant_regression
    assert not result.passed
    assert result.exit_code == 1
    assert "password-reset" in result.regressions
    assert result.difference.high is not None
    assert result.difference.high < 0


def test_single_case_filter(suite_path: Path) -> None:
    run: EvalRun = run_suite(suite_path, fake=_fake_for(suite_path), only=["two-factor"], write_record=False)
    assert [c.case.id for c in run.cases] == ["two-factor"]


def test_eval_demo_example_runs_offline() -> None:
    script = EXAMPLES / "eval_demo.py"
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate PASSED" in result.stdout
    assert "0 provider calls" in result.stdout
    assert "gate failed, 12 failing cases" in result.stdout
