"""Run the support-bot eval suite offline and gate on it (fake provider, real llm_judge path).

The suite's `provider: fake` answers from the golden references and scores answers by word
overlap through the real LLM-judge code. A second run replays everything from the cache, and a
degraded run (answers keep 30 % of the reference) fails the same gate.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from llmguard.evals import load_suite, print_summary, run_suite, to_junit

SUITE = Path(__file__).parent / "evals" / "support-bot.suite.yaml"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        suite = load_suite(SUITE).model_copy(
            update={"cache_dir": Path(tmp) / "cache", "records_dir": Path(tmp) / "records"}
        )
        run = run_suite(suite)
        print_summary(run)
        replay = run_suite(suite)
        print(
            f"replayed from the cache: {replay.cache_hits} hits, {replay.app_spend.calls + replay.judge_spend.calls} provider calls"
        )
        degraded = run_suite(suite.model_copy(update={"fake_quality": 0.3}), cache=False, write_record=False)
        failing = sorted(case for case in degraded.failing_cases())
        print(
            f"degraded answers: gate {'passed' if degraded.passed else 'failed'}, {len(failing)} failing cases"
        )
        assert "<failure" in to_junit(degraded)
        return 0 if run.passed and replay.passed and not degraded.passed else 1


if __name__ == "__main__":
    sys.exit(main())
