from __future__ import annotations

import math

import pytest

from llmguard.evals import CaseResult, EvalCase, JudgeGate, Sample, load_suite, t_interval, t_quantile
from llmguard.evals._results import summarize_judge
from llmguard.evals._stats import mean, stdev, t_cdf
from llmguard.judging import JudgeResult


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.706205),
        (0.975, 2, 4.302653),
        (0.975, 4, 2.776445),
        (0.975, 9, 2.262157),
        (0.995, 30, 2.749996),
        (0.95, 1000, 1.646379),
        (0.025, 4, -2.776445),
    ],
)
def test_t_quantile_matches_tables(p: float, df: int, expected: float) -> None:
    assert t_quantile(p, df) == pytest.approx(expected, abs=1e-5)


def test_t_cdf_is_symmetric() -> None:
    assert t_cdf(0.0, 5) == pytest.approx(0.5)
    assert t_cdf(-1.3, 7) == pytest.approx(1 - t_cdf(1.3, 7))


def test_t_interval_known_values() -> None:
    interval = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert interval.mean == 3.0
    assert interval.low == pytest.approx(3.0 - half, abs=1e-5)
    assert interval.high == pytest.approx(3.0 + half, abs=1e-5)
    assert t_interval([2.0]).low is None
    assert stdev([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) == pytest.approx(2.13809, abs=1e-5)
    assert math.isnan(mean([]))


def test_invalid_quantile() -> None:
    with pytest.raises(ValueError, match="0 < p < 1"):
        t_quantile(1.0, 3)


def _case(case_id: str, scores: list[float], tags: tuple[str, ...] = ()) -> CaseResult:
    samples = []
    for repeat, score in enumerate(scores):
        result = JudgeResult.of("llm_judge", score, scale=(1.0, 5.0), threshold=0.75)
        samples.append(Sample(repeat, output="x", results={"llm_judge": result}))
    return CaseResult(EvalCase(id=case_id, input="q", tags=tags), samples)


def test_repeats_give_a_t_interval_over_repeat_means(tmp_path: object) -> None:
    suite = _suite(repeats=3, gate={"llm_judge": JudgeGate(mean=3.5, case_floor=2.5, bound="lower")})
    # repeat means: (2+4)/2 = 3, (3+5)/2 = 4, (5+5)/2 = 5 -> mean 4, sd 1
    cases = [_case("a", [2.0, 3.0, 5.0], ("billing",)), _case("b", [4.0, 5.0, 5.0])]
    summary = summarize_judge(suite, "llm_judge", cases, (1.0, 5.0), "fp")
    assert summary.interval.n == 3
    assert summary.interval.mean == pytest.approx(4.0)
    half = 4.302653 * 1.0 / math.sqrt(3)
    assert summary.interval.low == pytest.approx(4.0 - half, abs=1e-5)
    assert summary.interval.high == pytest.approx(4.0 + half, abs=1e-5)
    assert summary.normalized_mean == pytest.approx(0.75)
    assert summary.pass_rate == pytest.approx(4 / 6)
    assert summary.flaky == ("a",)
    checks = {c.what: c for c in summary.checks}
    assert not checks["mean"].ok  # the lower bound (1.52) is below 3.5, though the mean (4.0) is not
    assert checks["case_floor"].ok
    assert [t.tag for t in summary.tags] == ["billing"]


def _suite(**updates: object):  # type: ignore[no-untyped-def]
    from pathlib import Path

    path = Path("s.suite.yaml")
    path.write_text(
        "prompt: p@1.0.0\ndatasets: [d.jsonl]\njudges: {llm_judge: {model: m, rubric: r}}\n", encoding="utf-8"
    )
    return load_suite(path).model_copy(update=updates)
