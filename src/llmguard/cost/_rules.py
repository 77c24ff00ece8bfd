"""Anomaly rules over a daily series: pure functions of the history, today and the clock.

Every rule works on any ledger series (cost, calls, tokens, p95 latency, error rate, refusal
rate, judge score, thumbs-down rate) and has a minimum guard (``min_value`` on today's value,
``min_count`` on today's calls or samples) so quiet days do not alert. Comparisons are strict
(``>``): a $100 baseline with multiplier 2.0 alerts at $201, not at $200.00.

The trailing window is the ``days`` calendar days before today (today excluded), clipped to the
first day the series has data (a new ledger has no history, so no alert). In an *additive*
series (cost, calls, tokens) a day without calls counts as zero; in a rate or percentile series
it has no value and is skipped.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

__all__ = [
    "Alert",
    "BaselineRule",
    "ProjectionRule",
    "Rule",
    "Series",
    "Severity",
    "ZScoreRule",
    "month_progress",
]

Severity = Literal["warning", "critical"]


@dataclass(frozen=True, slots=True)
class Series:
    """One metric per UTC day.

    Attributes:
        name: The series name (``cost``, ``p95_latency``...).
        values: Day -> value (USD for cost, seconds for latency, a 0..1 fraction for rates).
        counts: Day -> calls or samples behind the value.
        additive: Missing days count as zero (sums) rather than being skipped (rates, percentiles).
        first_day: The first day the series has data, if any.
    """

    name: str
    values: Mapping[date, float]
    counts: Mapping[date, int] = field(default_factory=dict)
    additive: bool = True
    first_day: date | None = None

    def trailing(self, today: date, days: int) -> list[float]:
        """Values of the ``days`` days before ``today`` (clipped to the first day with data)."""
        start = today - timedelta(days=days)
        if self.first_day is not None:
            start = max(start, self.first_day)
        out: list[float] = []
        day = start
        while day < today:
            if day in self.values:
                out.append(self.values[day])
            elif self.additive:
                out.append(0.0)
            day += timedelta(days=1)
        return out


@dataclass(frozen=True, slots=True)
class Alert:
    """One fired rule.

    Attributes:
        rule: The rule's id (its ``name``, or one derived from its settings).
        kind: ``baseline``, ``zscore``, ``projection`` or ``budget``.
        series: The series the rule watched.
        window: The dedupe window (``2025-03-20`` for daily rules, ``2025-03`` for monthly ones).
        value: The observed value (today's, the projection, or the spend).
        threshold: The value it had to exceed.
        message: A human-readable explanation.
        severity: ``warning``, or ``critical`` for a hard budget.
        scope: The filter the rule applied (``{"prompt": "support-bot"}``).
    """

    rule: str
    kind: str
    series: str
    window: str
    value: float
    threshold: float
    message: str
    severity: Severity = "warning"
    scope: Mapping[str, str] = field(default_factory=dict)


def _rule_id(kind: str, series: str, where: Mapping[str, str], name: str | None) -> str:
    if name:
        return name
    scope = ",".join(f"{k}={v}" for k, v in sorted(where.items()))
    return f"{kind}:{series}" + (f"[{scope}]" if scope else "")


def _fmt(series: str, value: float) -> str:
    if series == "cost":
        return f"${value:,.2f}"
    if series.endswith("_rate"):
        return f"{value:.1%}"
    if series.endswith("latency"):
        return f"{value:.3f}s"
    return f"{value:,.4g}"


def _guarded(series: Series, today: date, min_value: float, min_count: int) -> float | None:
    """Today's value, or None when it is missing or under the minimum guard."""
    value = series.values.get(today)
    if value is None or value < min_value or series.counts.get(today, 0) < min_count:
        return None
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class BaselineRule:
    """Alert when today's value is greater than ``multiplier`` x a baseline.

    Attributes:
        series: The series to watch.
        multiplier: Alert when today > baseline x multiplier (strict).
        baseline: A fixed baseline; ``None`` uses the trailing mean of ``days`` days (today excluded).
        days: The trailing window.
        min_value: Minimum guard: today's value must be at least this (e.g. $10 of spend).
        min_count: Today's calls or samples must be at least this.
        where: Ledger filter (``service``, ``prompt``, ``model``, ``provider``, ``kind``...).
        name: A stable id for dedupe and messages.
    """

    series: str = "cost"
    multiplier: float = 2.0
    baseline: float | None = None
    days: int = 7
    min_value: float = 0.0
    min_count: int = 0
    where: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None

    @property
    def id(self) -> str:
        """The dedupe id."""
        return _rule_id("baseline", self.series, self.where, self.name)

    @property
    def lookback_days(self) -> int:
        """Days of history the rule reads."""
        return self.days

    def evaluate(self, series: Series, today: date, now: datetime | None = None) -> Alert | None:
        """The alert for ``today``, or None."""
        value = _guarded(series, today, self.min_value, self.min_count)
        if value is None:
            return None
        if self.baseline is not None:
            baseline = self.baseline
        else:
            history = series.trailing(today, self.days)
            if not history:
                return None
            baseline = math.fsum(history) / len(history)
        threshold = baseline * self.multiplier
        if not value > threshold:
            return None
        how = "fixed baseline" if self.baseline is not None else f"{self.days}-day trailing mean"
        message = (
            f"{self.id}: {series.name} today {_fmt(series.name, value)} > {self.multiplier:g} x "
            f"{how} {_fmt(series.name, baseline)} (= {_fmt(series.name, threshold)})"
        )
        return Alert(
            self.id, "baseline", series.name, today.isoformat(), value, threshold, message, scope=self.where
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ZScoreRule:
    """Alert when today's z-score against the trailing window is greater than ``threshold``.

    ``z = (today - mean) / stdev`` with the sample standard deviation of the window. A window
    with no spread (all days equal) or fewer than ``min_days`` days does not alert.

    Attributes:
        series: The series to watch.
        threshold: Alert when z > threshold (strict).
        days: The trailing window (today excluded).
        min_days: Days of history needed.
        min_value: Minimum guard on today's value.
        min_count: Minimum calls or samples today.
        where: Ledger filter.
        name: A stable id.
    """

    series: str = "cost"
    threshold: float = 3.0
    days: int = 14
    min_days: int = 3
    min_value: float = 0.0
    min_count: int = 0
    where: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None

    @property
    def id(self) -> str:
        """The dedupe id."""
        return _rule_id("zscore", self.series, self.where, self.name)

    @property
    def lookback_days(self) -> int:
        """Days of history the rule reads."""
        return self.days

    def evaluate(self, series: Series, today: date, now: datetime | None = None) -> Alert | None:
        """The alert for ``today``, or None."""
        value = _guarded(series, today, self.min_value, self.min_count)
        history = series.trailing(today, self.days)
        if value is None or len(history) < max(self.min_days, 2):
            return None
        import statistics  # only a z-score rule needs it (imported on first use)

        mean = statistics.fmean(history)
        stdev = statistics.stdev(history)
        if stdev == 0:
            return None
        z = (value - mean) / stdev
        if not z > self.threshold:
            return None
        message = (
            f"{self.id}: {series.name} today {_fmt(series.name, value)} is {z:.2f} standard deviations above "
            f"the {len(history)}-day mean {_fmt(series.name, mean)} (threshold {self.threshold:g})"
        )
        return Alert(
            self.id, "zscore", series.name, today.isoformat(), z, self.threshold, message, scope=self.where
        )


def month_progress(now: datetime) -> float:
    """The fraction of ``now``'s UTC calendar month that has elapsed (0 < f <= 1)."""
    now = now.astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    length = calendar.monthrange(now.year, now.month)[1] * 86_400
    return max((now - start).total_seconds(), 1.0) / length


@dataclass(frozen=True, kw_only=True, slots=True)
class ProjectionRule:
    """Alert when the month-to-date value, projected linearly to month end, exceeds ``budget``.

    ``projected = month_to_date / elapsed_fraction_of_month`` (LiteLLM's projection). Needs at
    least ``min_elapsed`` of the month elapsed and a month-to-date value of ``min_value``.

    Attributes:
        budget: The monthly budget (USD for cost).
        series: An additive series (``cost`` by default).
        min_value: Minimum month-to-date value.
        min_elapsed: Minimum elapsed fraction of the month (default one day of thirty).
        where: Ledger filter.
        name: A stable id.
    """

    budget: float
    series: str = "cost"
    min_value: float = 0.0
    min_elapsed: float = 1 / 30
    where: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None

    @property
    def id(self) -> str:
        """The dedupe id."""
        return _rule_id("projection", self.series, self.where, self.name)

    @property
    def lookback_days(self) -> int:
        """Days of history the rule reads (a whole month)."""
        return 31

    def evaluate(self, series: Series, today: date, now: datetime | None = None) -> Alert | None:
        """The alert for ``today``'s month, or None."""
        now = now or datetime(today.year, today.month, today.day, 23, 59, 59, tzinfo=UTC)
        elapsed = month_progress(now)
        mtd = math.fsum(v for d, v in series.values.items() if (d.year, d.month) == (today.year, today.month))
        if elapsed < self.min_elapsed or mtd < self.min_value or mtd <= 0:
            return None
        projected = mtd / elapsed
        if not projected > self.budget:
            return None
        message = (
            f"{self.id}: {series.name} month to date {_fmt(series.name, mtd)} projects to "
            f"{_fmt(series.name, projected)} by month end, over the monthly budget {_fmt(series.name, self.budget)}"
        )
        window = f"{today.year:04d}-{today.month:02d}"
        return Alert(
            self.id, "projection", series.name, window, projected, self.budget, message, scope=self.where
        )


Rule = BaselineRule | ZScoreRule | ProjectionRule
"""Any anomaly rule."""
