"""Judge faults: a judge that raises, a judge that hangs. Calls are never affected, threads bounded."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from llmguard.judging import JudgeInput, Sampling

from ._app import assert_accounted, build_app

pytestmark = pytest.mark.timeout(60)


def test_judge_raising(tmp_path: Path) -> None:
    def explodes(item: JudgeInput) -> float:
        raise RuntimeError("judge bug")

    app = build_app(tmp_path, judges=[explodes])
    try:
        for n in range(5):
            assert app.serve(f"question {n}").startswith("Open Settings")
        acc = app.accounting()
        assert_accounted(app, acc)
        # two judges, each call judged when sampled and again after its negative feedback
        assert acc.judging.sampled == 5 * 2 * 2
        assert (acc.judging.judged, acc.judging.errored) == (10, 10)  # the rule judge ran, the other errored
        assert acc.judgment_rows == 20
    finally:
        app.close()


def test_judge_hanging(tmp_path: Path) -> None:
    release = threading.Event()

    def hangs(item: JudgeInput) -> float:
        release.wait(30)
        return 1.0

    sampling = Sampling(rate=1.0, errors=True, judge_timeout=0.05, workers=1, max_hung_judges=2)
    app = build_app(tmp_path, judges=[hangs], sampling=sampling)
    try:
        for n in range(20):
            assert app.serve(f"question {n}").startswith("Open Settings")
        acc = app.accounting(timeout=20)
        assert_accounted(app, acc)
        judging = acc.judging
        timeouts = judging.errored
        assert timeouts == 2  # max_hung_judges threads hung, then the judge is no longer started
        assert judging.judged == 40  # the rule judge: 20 calls, sampled and after negative feedback
        assert judging.dropped_by_reason == {"judge_hung": 40 - timeouts}
        names = [thread.name for thread in threading.enumerate()]
        assert names.count("llmguard-judging-0") == 1  # the one worker
        assert names.count("llmguard-judge") <= 1 + 2  # its helper and the two hung ones, not 40
    finally:
        release.set()
        app.close()
