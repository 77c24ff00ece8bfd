"""Cost and quality as metrics: a local call ledger, budgets and anomaly alerts.

Enable the ledger (it stores, so it is off by default) and add budgets and rules::

    guard = llmguard.Guard(
        ledger=True,  # rows go to the llmguard database (guard.db: SQLite or PostgreSQL)
        budgets=CostPolicy(
            budgets=[Budget(prompt="support-bot", period="month", soft_usd=500, hard_usd=800)],
            rules=[BaselineRule(series="cost", multiplier=3.0, days=7, min_value=10)],
            callbacks=[page_someone],
        ),
    )

Rules run in the background every ``check_interval_s`` and on demand with `check_alerts`;
``llmguard cost report`` and ``llmguard cost check`` read the same ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from llmguard.exceptions import BudgetExceededError

from ._alerts import ALERT_EVENT, AlertCallback, AlertDispatcher, evaluate_alerts
from ._budget import Budget
from ._config import CostPolicy
from ._ledger import COLUMNS, NANOS, Ledger, LedgerRow, SQLiteLedger, SQLLedger
from ._rules import Alert, BaselineRule, ProjectionRule, Rule, Series, ZScoreRule
from ._series import SERIES, load_series
from ._writer import WriterStats

if TYPE_CHECKING:
    from llmguard._guard import Guard
    from llmguard._record import CallRecord

__all__ = [
    "ALERT_EVENT",
    "COLUMNS",
    "NANOS",
    "SERIES",
    "Alert",
    "AlertCallback",
    "AlertDispatcher",
    "BaselineRule",
    "Budget",
    "BudgetExceededError",
    "CostPolicy",
    "Ledger",
    "LedgerRow",
    "ProjectionRule",
    "Rule",
    "SQLLedger",
    "SQLiteLedger",
    "Series",
    "WriterStats",
    "ZScoreRule",
    "budget_spent",
    "check_alerts",
    "evaluate_alerts",
    "ledger_stats",
    "load_series",
    "record_call",
]


def check_alerts(guard: Guard, *, now: datetime | None = None) -> list[Alert]:
    """Evaluate ``guard``'s rules and budgets now; deliver and return the alerts not delivered before.

    Queued ledger rows are flushed first, so the evaluation sees every finished call.
    """
    from ._state import state_for

    state = state_for(guard)
    if state is None:
        return []
    if state.writer is not None:
        state.writer.flush()
        while state.pending:
            state.dispatcher.deliver([state.pending.popleft()])
    return state.check(now)


def record_call(guard: Guard, record: CallRecord) -> bool:
    """Count one finished call as ``guard``'s clients do: a ledger row and budget spend.

    For backfills, calls made outside a guarded client and replays of past traffic
    (``examples/cost_month.py``): the row is dated by ``record.start_time_ns``. The row is
    written in the background like any other; `check_alerts` and ``guard.flush()`` wait for it.

    Returns:
        False when ``guard`` has neither a ledger nor budgets (nothing was counted).
    """
    from ._observer import LedgerObserver

    observer = next((o for o in guard.runtime.observers if isinstance(o, LedgerObserver)), None)
    if observer is None:
        return False
    observer.on_end(None, record)  # type: ignore[arg-type]  # the observer reads only the record
    return True


def ledger_stats(guard: Guard) -> WriterStats | None:
    """The ledger writer's counters (written, dropped, failed, pending), or None when off."""
    from ._state import state_for

    state = state_for(guard)
    return None if state is None or state.writer is None else state.writer.stats()


def budget_spent(guard: Guard, budget: Budget, *, group: str | None = None) -> float:
    """USD counted against ``budget`` (one of ``guard``'s) in its current window, from the in-memory totals.

    For a ``per`` budget, ``group`` names the user, session, tag or metadata value.
    """
    from ._state import state_for

    state = state_for(guard)
    if state is None or state.tracker is None:
        raise KeyError(budget.id)
    return state.tracker.spent(budget, group=group)
