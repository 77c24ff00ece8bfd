"""Judge calibration on constructed data with known agreement, through the real stores and OTel."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from llmguard import Guard
from llmguard.judging import JudgeResult, Judgment, SQLiteSink
from llmguard.review import ReviewStore, record_label
from llmguard.review._calibrate import Pair, calibrate, calibrate_pairs


def vars_value(point: object) -> float:
    value: float = getattr(point, "value")  # noqa: B009 - gauges have NumberDataPoints
    return value


def pairs(n: int, wrong: set[int]) -> list[Pair]:
    """``n`` calls, half passed by the human; the judge flips its verdict on ``wrong``."""
    made = []
    for i in range(n):
        human = i < n // 2
        judge = human != (i in wrong)
        made.append(Pair(f"c{i}", "ann", judge, human, (n - i) / n, float(n - i)))
    return made


def test_kappa_and_spearman_match_known_agreement() -> None:
    data = pairs(100, wrong={0, 1, 2, 3, 4, 95, 96, 97, 98, 99})  # 90% observed, 50% by chance
    result = calibrate_pairs("judge", "fp", data, resamples=200)
    assert result.kappa.value == pytest.approx(0.8)
    assert result.kappa.n == 100
    assert result.kappa.low is not None
    assert result.kappa.high is not None
    assert result.kappa.low < 0.8 < result.kappa.high
    assert result.kappa.low > 0.6
    assert result.spearman.value == pytest.approx(1.0)  # scores in the same order
    assert result.confusion == ((45, 5), (5, 45))
    assert {p.call_id for p in result.disagreements} <= {f"c{i}" for i in (0, 1, 2, 3, 4, 95, 96, 97, 98, 99)}
    assert len(result.disagreements) == 5


def test_chance_agreement_and_reversed_scores() -> None:
    data = [Pair(f"c{i}", "ann", i % 2 == 0, i % 4 < 2, i / 40, float(40 - i)) for i in range(40)]
    result = calibrate_pairs("judge", None, data, resamples=100)
    assert result.kappa.value == pytest.approx(0.0)
    assert result.spearman.value == pytest.approx(-1.0)
    undefined = calibrate_pairs("judge", None, [Pair("c", "ann", True, True, 1.0, 1.0)])
    assert undefined.kappa.value is None
    assert undefined.kappa.n == 1


def test_calibrate_reads_the_stores_and_emits_gauges_per_fingerprint(tmp_path: Path) -> None:
    guard = Guard(db_path=tmp_path / "c.db", pin_policy="off")
    store = ReviewStore(guard.db_path)
    ids = [f"{i:032x}" for i in range(10)]
    judgments = []
    for i, call_id in enumerate(ids):
        store.enqueue(call_id, "random", {"input": {}, "output": str(i)})
        for fingerprint, passes in (("v1", i < 5), ("v2", True)):
            result = JudgeResult.of("helpful", 1.0 if passes else 0.0, fingerprint=fingerprint)
            judgments.append(Judgment(call_id=call_id, judge="helpful", status="ok", result=result))
    sink = SQLiteSink(guard.db_path)
    sink.write(judgments)
    sink.close()
    for i, call_id in enumerate(ids):
        record_label(guard, store, call_id, "ann", i < 4 or i == 5)  # v1 agrees with ann on 8 of 10
        if i < 4:
            record_label(guard, store, call_id, "bob", i < 2)  # agrees with ann on 2 of 4
    reader = InMemoryMetricReader()
    report = calibrate(store, resamples=100, meter_provider=MeterProvider(metric_readers=[reader]))
    by_fp = {j.fingerprint: j for j in report.judges}
    assert set(by_fp) == {"v1", "v2"}
    v1 = by_fp["v1"]
    assert v1.n == 14
    assert v1.confusion == ((6, 1), (3, 4))  # ann on 10 calls, bob on 4: 10 of 14 agree
    chance = (7 * 9 + 7 * 5) / 14**2  # human 7 pass / 7 fail, judge 9 pass / 5 fail
    assert v1.kappa.value == pytest.approx((10 / 14 - chance) / (1 - chance))
    assert by_fp["v2"].kappa.value == pytest.approx(0.0)  # the judge always passes: no better than chance
    assert report.reviewers.n == 4
    assert report.reviewers.value == pytest.approx(0.0)
    assert report.labels == 14
    data = reader.get_metrics_data()
    assert data is not None
    points = {
        (
            p.attributes["llmguard.judge.fingerprint"],
            p.attributes.get("llmguard.review.statistic"),
        ): vars_value(p)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name.startswith("llmguard.review.judge_")
        for p in m.data.data_points
        if p.attributes is not None
    }
    assert points[("v1", "cohen_kappa")] == pytest.approx(v1.kappa.value)
    assert points[("v1", None)] == 14
