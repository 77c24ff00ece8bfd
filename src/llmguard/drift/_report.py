"""Reports, series and rule evaluation over a `DriftStore`, and alert delivery on the cost path."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from llmguard.cost._alerts import AlertDispatcher
from llmguard.cost._rules import Alert

from ._compare import CompareOptions, Comparison, Windows, compare_windows, day_ns, windows_for
from ._rules import DriftRule
from ._store import DriftStore

__all__ = ["DriftAlerts", "DriftReport", "drift_report", "drift_series", "evaluate_drift"]

_logger = logging.getLogger("llmguard")

DEFAULT_OPTIONS = CompareOptions()


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Every scope's comparison of the current window with the baseline.

    Attributes:
        windows: The two windows.
        comparisons: All calls first, then per prompt, then per tag.
        series: Per day of the report range, all calls: that day against its own baseline.
    """

    windows: Windows
    comparisons: tuple[Comparison, ...]
    series: tuple[Comparison, ...] = ()


def _scopes(store: DriftStore, windows: Windows, by: Iterable[str]) -> list[tuple[str | None, str | None]]:
    prompts, tags = store.groups(day_ns(windows.baseline_start), day_ns(windows.current_end))
    scopes: list[tuple[str | None, str | None]] = [(None, None)] if "all" in by else []
    if "prompt" in by:
        scopes += [(p, None) for p in prompts]
    if "tag" in by:
        scopes += [(None, t) for t in tags]
    return scopes


def drift_report(
    store: DriftStore,
    today: date,
    *,
    current_days: int = 1,
    baseline_days: int = 7,
    baseline: tuple[date, date] | None = None,
    by: Sequence[str] = ("all", "prompt", "tag"),
    series_days: int = 0,
    options: CompareOptions = DEFAULT_OPTIONS,
) -> DriftReport:
    """Compare the current window with the baseline for all calls, each prompt and each tag.

    ``series_days`` > 0 adds the daily series of the last that many days (all calls).
    """
    windows = windows_for(today, current_days=current_days, baseline_days=baseline_days, baseline=baseline)
    comparisons = tuple(
        compare_windows(store, windows, options, prompt=prompt, tag=tag)
        for prompt, tag in _scopes(store, windows, by)
    )
    series: tuple[Comparison, ...] = ()
    if series_days > 0:
        days = [today - timedelta(days=i) for i in range(series_days - 1, -1, -1)]
        series = tuple(
            drift_series(store, days, baseline_days=baseline_days, baseline=baseline, options=options)
        )
    return DriftReport(windows, comparisons, series)


def drift_series(
    store: DriftStore,
    days: Sequence[date],
    *,
    baseline_days: int = 7,
    baseline: tuple[date, date] | None = None,
    prompt: str | None = None,
    tag: str | None = None,
    options: CompareOptions = DEFAULT_OPTIONS,
) -> list[Comparison]:
    """Each day against its baseline (trailing, or the fixed one): the distance over time."""
    return [
        compare_windows(
            store,
            windows_for(day, baseline_days=baseline_days, baseline=baseline),
            options,
            prompt=prompt,
            tag=tag,
        )
        for day in days
    ]


def evaluate_drift(
    store: DriftStore,
    rules: Sequence[DriftRule],
    *,
    now: datetime | None = None,
    current_days: int = 1,
    baseline_days: int = 7,
    baseline: tuple[date, date] | None = None,
    options: CompareOptions = DEFAULT_OPTIONS,
) -> list[Alert]:
    """Every drift alert whose condition holds at ``now`` (no dedupe); one comparison per scope."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    windows = windows_for(today, current_days=current_days, baseline_days=baseline_days, baseline=baseline)
    cache: dict[tuple[str | None, str | None], Comparison] = {}
    alerts: list[Alert] = []
    for rule in rules:
        key = (rule.prompt, rule.tag)
        if key not in cache:
            guard = min(r.min_samples for r in rules if (r.prompt, r.tag) == key)
            topics = any(r.metric == "topic" for r in rules if (r.prompt, r.tag) == key)
            scoped = dataclasses.replace(options, min_samples=guard, topics=topics)
            cache[key] = compare_windows(store, windows, scoped, prompt=rule.prompt, tag=rule.tag)
        alert = rule.evaluate(cache[key])
        if alert is not None:
            alerts.append(alert)
    return alerts


class DriftAlerts:
    """Deliver drift alerts once per (rule, window), across processes, on the cost alert path.

    The store's ``llmguard_drift_alerts`` table claims each (rule, window); the cost feature's
    `llmguard.cost.AlertDispatcher` then delivers it to callbacks, the ``llmguard`` logger and
    the OpenTelemetry log event ``llmguard.cost.alert`` (attribute ``llmguard.alert.kind = drift``).

    Args:
        store: The drift store.
        callbacks: Called with each new alert.
        logger_provider: OpenTelemetry logger provider (None: the global one).
    """

    def __init__(
        self,
        store: DriftStore,
        callbacks: Sequence[Callable[[Alert], None]] = (),
        logger_provider: Any = None,
    ) -> None:
        self.store = store
        self.dispatcher = AlertDispatcher(None, callbacks, logger_provider)

    def deliver(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Deliver the alerts no process delivered before; return them."""
        fresh = [a for a in alerts if self._claim(a)]
        return self.dispatcher.deliver(fresh)

    def _claim(self, alert: Alert) -> bool:
        try:
            return self.store.claim_alert(alert.rule, alert.window, alert.message)
        except Exception:  # the store, not the alert, failed: deduplicate in memory only
            _logger.debug("llmguard: drift alert dedupe table unavailable", exc_info=True)
            return True
