"""Anomaly rules on synthetic series with known answers (pure: no ledger, no clock)."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta

import pytest

from llmguard.cost import BaselineRule, ProjectionRule, Series, ZScoreRule
from llmguard.cost._rules import month_progress

TODAY = date(2025, 3, 20)


def _series(history: list[float], today: float | None, *, additive: bool = True, count: int = 100) -> Series:
    values = {TODAY - timedelta(days=len(history) - i): v for i, v in enumerate(history)}
    if today is not None:
        values[TODAY] = today
    counts = dict.fromkeys(values, count)
    return Series("cost", values, counts, additive, min(values) if values else None)


# -- the seed's rule: $100 baseline x 2.0, strict ">" ---------------------------------------------


@pytest.mark.parametrize(
    ("today", "fires"),
    [(201.0, True), (200.01, True), (200.0, False), (199.0, False), (199.99, False)],
)
def test_seed_boundary_fixed_baseline(today: float, fires: bool) -> None:
    rule = BaselineRule(baseline=100.0, multiplier=2.0)
    alert = rule.evaluate(_series([], today), TODAY)
    assert (alert is not None) is fires
    if alert is not None:
        assert alert.threshold == 200.0
        assert alert.value == today
        assert alert.window == "2025-03-20"


@pytest.mark.parametrize(("today", "fires"), [(201.0, True), (200.0, False), (199.0, False)])
def test_seed_boundary_trailing_mean(today: float, fires: bool) -> None:
    rule = BaselineRule(multiplier=2.0, days=7)
    series = _series([90, 110, 100, 95, 105, 100, 100], today)  # mean exactly 100
    assert (rule.evaluate(series, TODAY) is not None) is fires


def test_trailing_mean_excludes_today_and_older_days() -> None:
    # 10 days of history; the 3-day window sees only the last three (40, 50, 60) -> mean 50.
    series = _series([1000, 1000, 1000, 1000, 1000, 1000, 1000, 40, 50, 60], 101)
    alert = BaselineRule(multiplier=2.0, days=3).evaluate(series, TODAY)
    assert alert is not None
    assert alert.threshold == 100.0
    assert BaselineRule(multiplier=2.0, days=3).evaluate(_series([40, 50, 60], 100), TODAY) is None


def test_trailing_mean_counts_missing_days_as_zero_in_additive_series() -> None:
    values = {TODAY - timedelta(days=4): 40.0, TODAY - timedelta(days=1): 40.0, TODAY: 41.0}
    series = Series("cost", values, dict.fromkeys(values, 1), True, TODAY - timedelta(days=4))
    # window of 4 days: 40, 0, 0, 40 -> mean 20, threshold 40 -> 41 fires
    alert = BaselineRule(multiplier=2.0, days=4).evaluate(series, TODAY)
    assert alert is not None
    assert alert.threshold == 40.0
    rate = Series("error_rate", values, dict.fromkeys(values, 1), False, TODAY - timedelta(days=4))
    # a rate series skips missing days: mean 40, threshold 80 -> no alert
    assert BaselineRule(series="error_rate", multiplier=2.0, days=4).evaluate(rate, TODAY) is None


def test_trailing_mean_needs_history() -> None:
    assert BaselineRule(multiplier=2.0).evaluate(_series([], 1_000_000.0), TODAY) is None


def test_history_is_clipped_to_the_first_day_with_data() -> None:
    # Two days of $10, window of 7: the ledger did not exist before, so the mean is 10, not 20/7.
    alert = BaselineRule(multiplier=2.0, days=7).evaluate(_series([10, 10], 21), TODAY)
    assert alert is not None
    assert alert.threshold == 20.0


@pytest.mark.parametrize(("today", "fires"), [(9.99, False), (10.0, True)])
def test_min_spend_guard_suppresses_quiet_days(today: float, fires: bool) -> None:
    rule = BaselineRule(multiplier=3.0, days=7, min_value=10.0)  # LiteLLM's defaults
    series = _series([1, 1, 1, 1, 1, 1, 1], today)
    assert (rule.evaluate(series, TODAY) is not None) is fires


def test_min_count_guard() -> None:
    rule = BaselineRule(series="cost", multiplier=2.0, baseline=1.0, min_count=50)
    assert rule.evaluate(_series([], 5.0, count=49), TODAY) is None
    assert rule.evaluate(_series([], 5.0, count=50), TODAY) is not None


# -- z-score ------------------------------------------------------------------------------------


def test_zscore_known_answer() -> None:
    history = [10.0, 12.0, 14.0, 16.0, 18.0]  # mean 14, sample stdev sqrt(10) = 3.1623
    assert statistics.stdev(history) == pytest.approx(10**0.5)
    rule = ZScoreRule(threshold=3.0, days=5)
    # z = (24 - 14) / 3.1623 = 3.162 > 3 -> alert; z(23) = 2.846 -> none
    alert = rule.evaluate(_series(history, 24.0), TODAY)
    assert alert is not None
    assert alert.value == pytest.approx(10 / 10**0.5)
    assert rule.evaluate(_series(history, 23.0), TODAY) is None


def test_zscore_boundary_is_strict() -> None:
    history = [10.0, 20.0]  # mean 15, stdev 7.0711
    exact = 15 + 2 * statistics.stdev(history)
    rule = ZScoreRule(threshold=2.0, days=2, min_days=2)
    assert rule.evaluate(_series(history, exact), TODAY) is None
    assert rule.evaluate(_series(history, exact + 0.01), TODAY) is not None


def test_zscore_flat_history_and_short_history_do_not_alert() -> None:
    assert ZScoreRule(days=7).evaluate(_series([5, 5, 5, 5, 5, 5, 5], 500), TODAY) is None
    assert ZScoreRule(days=7, min_days=3).evaluate(_series([1, 9], 500), TODAY) is None


def test_zscore_min_value_guard() -> None:
    history = [0.10, 0.12, 0.11, 0.09, 0.10]
    assert ZScoreRule(days=5).evaluate(_series(history, 0.5), TODAY) is not None
    assert ZScoreRule(days=5, min_value=1.0).evaluate(_series(history, 0.5), TODAY) is None


# -- projection ---------------------------------------------------------------------------------


def test_month_progress() -> None:
    assert month_progress(datetime(2025, 4, 16, tzinfo=UTC)) == pytest.approx(0.5)
    assert month_progress(datetime(2025, 2, 15, 0, tzinfo=UTC)) == pytest.approx(0.5)


def test_projection_known_answer() -> None:
    # April: $300 spent by the 16th at 00:00 (half the month) projects to $600.
    values = {date(2025, 4, d): 20.0 for d in range(1, 16)}
    series = Series("cost", values, dict.fromkeys(values, 10), True, date(2025, 4, 1))
    now = datetime(2025, 4, 16, tzinfo=UTC)
    alert = ProjectionRule(budget=599.0).evaluate(series, date(2025, 4, 16), now)
    assert alert is not None
    assert alert.value == pytest.approx(600.0)
    assert alert.window == "2025-04"
    assert ProjectionRule(budget=600.0).evaluate(series, date(2025, 4, 16), now) is None
    assert ProjectionRule(budget=599.0, min_value=301).evaluate(series, date(2025, 4, 16), now) is None


def test_projection_waits_for_min_elapsed() -> None:
    values = {date(2025, 4, 1): 50.0}
    series = Series("cost", values, {date(2025, 4, 1): 1}, True, date(2025, 4, 1))
    early = datetime(2025, 4, 1, 6, tzinfo=UTC)  # 0.8% of April: too early to project
    assert ProjectionRule(budget=100.0).evaluate(series, date(2025, 4, 1), early) is None
    later = datetime(2025, 4, 2, 0, tzinfo=UTC)
    assert ProjectionRule(budget=100.0).evaluate(series, date(2025, 4, 2), later) is not None


def test_rule_ids_are_stable() -> None:
    assert BaselineRule(where={"prompt": "bot"}).id == "baseline:cost[prompt=bot]"
    assert ZScoreRule(series="p95_latency", name="lat").id == "lat"
