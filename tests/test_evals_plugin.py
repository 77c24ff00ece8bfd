from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

TESTS = """
import pytest
from llmguard.evals import eval_case_ids

SUITE = "evals/support-bot.suite.yaml"


@pytest.mark.llmguard_eval(SUITE, repeats=1, cache=False)
def test_gate(llmguard_eval):
    assert llmguard_eval().eval_score > 0.9


@pytest.mark.llmguard_eval(SUITE, repeats=1, cache=False, fake_quality=0.3)
def test_degraded_gate(llmguard_eval):
    llmguard_eval()


@pytest.mark.parametrize("case_id", eval_case_ids(SUITE)[:2])
def test_case(llmguard_eval_case, case_id):
    llmguard_eval_case(SUITE, case_id, repeats=1, cache=False)


def test_degraded_case(llmguard_eval_case):
    llmguard_eval_case(SUITE, "two-factor", repeats=1, cache=False, fake_quality=0.3)
"""


def test_pytest_plugin_fails_when_the_gate_fails(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    shutil.copytree(EXAMPLES / "evals", tmp_path / "evals", ignore=shutil.ignore_patterns("cache", "records"))
    (tmp_path / "test_suite.py").write_text(TESTS)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "test_suite.py",
    ]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "2 failed, 3 passed" in out
    assert "eval gate failed for support-bot: llm_judge mean" in out
    assert "eval case two-factor failed: llm_judge: score 2.00" in out
