"""Evaluating rules and budgets against the ledger, and delivering deduplicated alerts.

`evaluate_alerts` is a read-only query: every alert whose condition holds now. An
`AlertDispatcher` delivers each (rule, window) at most once, across processes too (the
``cost_alerts`` table of the ledger's database), to callbacks, the ``llmguard`` logger and an
OpenTelemetry log event named ``llmguard.cost.alert``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from opentelemetry._logs import SeverityNumber, get_logger

from llmguard._db import after_fork
from llmguard._internal import handle_internal_errors
from llmguard._storage import Database
from llmguard._storage._sql import dialect_of
from llmguard.exceptions import LLMGuardError

from ._budget import Budget, budget_alert, budget_groups_sql, budget_sum_sql
from ._ledger import NANOS, Ledger
from ._rules import Alert, ProjectionRule, Rule
from ._series import load_series

__all__ = ["ALERT_EVENT", "AlertCallback", "AlertDispatcher", "evaluate_alerts", "implied_rules"]

ALERT_EVENT = "llmguard.cost.alert"
"""The OpenTelemetry event name of an alert log record."""

AlertCallback = Callable[[Alert], None]
"""Receives each new alert (on a background thread)."""

_logger = logging.getLogger("llmguard")


def implied_rules(budgets: Iterable[Budget]) -> list[Rule]:
    """The month-end projection rules of monthly budgets that ask for them."""
    rules: list[Rule] = []
    for budget in budgets:
        limit = budget.soft_usd if budget.soft_usd is not None else budget.hard_usd
        if budget.period == "month" and budget.project and limit is not None and budget.per is None:
            rules.append(ProjectionRule(budget=limit, where=budget.where, name=f"{budget.id}:projection"))
    return rules


def evaluate_alerts(
    ledger: Ledger,
    rules: Sequence[Rule] = (),
    budgets: Sequence[Budget] = (),
    *,
    now: datetime | None = None,
) -> list[Alert]:
    """Every alert whose condition holds at ``now`` (default: the current time), without dedupe.

    Args:
        ledger: Where the series come from.
        rules: Anomaly rules.
        budgets: Budgets: soft and hard limits over the current window, and month-end projections.
        now: The evaluation time (UTC); "today" is its UTC date.

    Returns:
        The firing alerts, in rule order then budget order.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    today = now.date()
    alerts: list[Alert] = []
    for rule in [*rules, *implied_rules(budgets)]:
        since = today - timedelta(days=rule.lookback_days + 1)
        series = load_series(ledger, rule.series, since, rule.where)
        alert = rule.evaluate(series, today, now)
        if alert is not None:
            alerts.append(alert)
    for budget in budgets:
        alerts.extend(_budget_alerts(ledger, budget, today))
    return alerts


def _budget_alerts(ledger: Ledger, budget: Budget, today: date) -> list[Alert]:
    window = today.isoformat() if budget.period == "day" else today.isoformat()[:7]
    if budget.per is None:
        sql, params = budget_sum_sql(budget, window, dialect_of(ledger))
        totals: list[tuple[str | None, float]] = [(None, (ledger.query(sql, params)[0][0] or 0) / NANOS)]
    else:
        sql, params = budget_groups_sql(budget, window, dialect_of(ledger))
        totals = [(str(group), (nanos or 0) / NANOS) for group, nanos in ledger.query(sql, params)]
    out: list[Alert] = []
    for group, spent in totals:
        for what, limit in (("soft", budget.soft_usd), ("hard", budget.hard_usd)):
            if limit is not None and spent >= limit:
                out.append(budget_alert(budget, what, window, spent, limit, group))
    return out


class AlertDispatcher:
    """Deliver each (rule, window) once: to callbacks, the ``llmguard`` logger and an OTel log event.

    Args:
        ledger: Its database records delivered alerts (dedupe across processes); None keeps it in memory.
        callbacks: Called with each new alert.
        logger_provider: OpenTelemetry logger provider (None: the global one).
    """

    def __init__(
        self,
        ledger: Ledger | None = None,
        callbacks: Sequence[AlertCallback] = (),
        logger_provider: Any = None,
    ) -> None:
        self._ledger = ledger
        self._callbacks = tuple(callbacks)
        self._otel = get_logger("llmguard.cost", logger_provider=logger_provider)
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        after_fork(self)  # a fresh lock in a forked child
        self.delivered = 0

    def deliver(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Deliver the alerts not delivered before; return them."""
        fresh = [alert for alert in alerts if self._claim(alert)]
        for alert in fresh:
            self._emit(alert)
        return fresh

    def _claim(self, alert: Alert) -> bool:
        key = (alert.rule, alert.window)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        if self._ledger is None:
            return True
        db = getattr(self._ledger, "db", None)
        if not isinstance(db, Database):
            return True  # a custom ledger: deduplicated in this process only
        try:
            if db.sqlite_file:  # the stdlib path: one row changed when this process claims it
                from llmguard._storage._sqlite_sql import ALERT_CLAIM

                return db.execute(ALERT_CLAIM, (key[0], key[1], time.time_ns(), alert.message)) == 1
            from llmguard._storage._schema import ALERTS

            row = {"rule": key[0], "window": key[1], "fired_ns": time.time_ns(), "message": alert.message}
            with db.write() as conn:  # the first replica to insert the (rule, window) row delivers it
                insert = db.insert(ALERTS).values(row).on_conflict_do_nothing().returning(ALERTS.c.rule)
                return conn.execute(insert).first() is not None
        except LLMGuardError:
            _logger.debug("llmguard: alert dedupe table unavailable; deduplicating in memory", exc_info=True)
        return True

    def _emit(self, alert: Alert) -> None:
        self.delivered += 1
        level = logging.ERROR if alert.severity == "critical" else logging.WARNING
        _logger.log(level, "llmguard alert: %s", alert.message)
        with handle_internal_errors("alert OpenTelemetry event"):
            self._otel.emit(
                event_name=ALERT_EVENT,
                severity_number=SeverityNumber.ERROR if alert.severity == "critical" else SeverityNumber.WARN,
                body=alert.message,
                attributes=_attributes(alert),
            )
        for callback in self._callbacks:
            with handle_internal_errors("alert callback"):
                callback(alert)


def _attributes(alert: Alert) -> dict[str, str | float]:
    attrs: dict[str, str | float] = {
        "llmguard.alert.rule": alert.rule,
        "llmguard.alert.kind": alert.kind,
        "llmguard.alert.series": alert.series,
        "llmguard.alert.window": alert.window,
        "llmguard.alert.value": alert.value,
        "llmguard.alert.threshold": alert.threshold,
        "llmguard.alert.severity": alert.severity,
    }
    attrs.update({f"llmguard.alert.scope.{k}": v for k, v in alert.scope.items()})
    return attrs
