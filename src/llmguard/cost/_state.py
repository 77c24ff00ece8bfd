"""Per-guard cost state shared by the ledger observer and the hard-budget policy.

Built once per `llmguard.Guard` (weakly keyed), when the guard's runtime is compiled:
the ledger, its background writer, the budget tracker and the alert dispatcher.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from llmguard._options import CostOptions

from ._alerts import AlertDispatcher, evaluate_alerts
from ._budget import BudgetTracker
from ._config import CostPolicy, resolve_ledger, resolve_policy
from ._ledger import CHUNK_ROWS, Ledger
from ._rows import row_sink
from ._rules import Alert
from ._writer import WRITE_ERRORS, BatchWriter

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["CostState", "build_state", "ledger_of", "pending_in_writers", "state_for"]

PRUNE_EVERY_S = 6 * 3600.0

REFRESH_SPACING = 10.0
"""A budget refresh sums the window's ledger rows, so its cost grows with the traffic: the next one
waits at least this many times as long as the last one took (refreshes use at most a tenth of the
writer thread). At the default 1 s interval, a refresh of over 0.1 s (about 120,000 rows in the
window on SQLite) spaces them out; the staleness check still fails closed past ``stale_after_s``."""


@dataclass(eq=False)
class CostState:
    """Everything the cost feature holds for one guard."""

    policy: CostPolicy
    ledger: Ledger | None
    dispatcher: AlertDispatcher
    tracker: BudgetTracker | None = None
    writer: BatchWriter | None = None
    pending: deque[Alert] = field(default_factory=deque)
    next_check: float = 0.0
    next_prune: float = 0.0
    next_refresh: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def queue_alert(self, alert: Alert) -> None:
        """Hand an alert raised on the hot path to the background thread (cheap)."""
        self.pending.append(alert)
        if self.writer is not None:
            self.writer.wake()

    def periodic(self) -> None:
        """Background duties: deliver queued alerts, prune old rows, evaluate rules when due."""
        while self.pending:
            self.dispatcher.deliver([self.pending.popleft()])
        now = time.monotonic()
        if self.ledger is not None and now >= self.next_prune:
            self.next_prune = now + PRUNE_EVERY_S
            self._prune()
        if self.tracker is not None and self.ledger is not None and now >= self.next_refresh:
            self.next_refresh = now + self.policy.refresh_interval_s
            try:
                self.tracker.refresh(self.ledger)
            except WRITE_ERRORS as exc:
                self.tracker.last_error = f"{type(exc).__name__}: {exc}"
                raise
            finally:
                took = time.monotonic() - now
                self.next_refresh = max(self.next_refresh, now + REFRESH_SPACING * took)
        interval = self.policy.check_interval_s
        if self.ledger is not None and interval > 0 and now >= self.next_check:
            self.next_check = now + interval
            self.check()

    def _prune(self) -> None:
        days = getattr(self.ledger, "retention_days", None)
        if days is not None and self.ledger is not None:
            self.ledger.prune(time.time_ns() - int(days * 86_400 * 1e9))

    def check(self, now: datetime | None = None) -> list[Alert]:
        """Evaluate rules and budgets now; deliver and return the alerts not delivered before."""
        if self.ledger is None:
            return []
        with self.lock:
            alerts = evaluate_alerts(self.ledger, self.policy.rules, self.policy.budgets, now=now)
            return self.dispatcher.deliver(alerts)


_states: weakref.WeakKeyDictionary[Guard, CostState | None] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _reinit_after_fork() -> None:  # pragma: no cover - runs in forked children (tests/faults)
    global _states_lock
    _states_lock = threading.Lock()
    for state in list(_states.values()):
        if state is not None:
            state.lock = threading.Lock()
            state.pending.clear()  # alerts raised before the fork are the parent's to deliver


os.register_at_fork(after_in_child=_reinit_after_fork)


def state_for(guard: Guard, options: CostOptions | None = None) -> CostState | None:
    """The guard's cost state, built on first use; None when neither a ledger nor budgets are enabled.

    ``options`` are the guard's resolved cost options (resolved here when not given).
    """
    with _states_lock:
        if guard in _states:
            return _states[guard]
        state = build_state(options if options is not None else CostOptions.resolve(guard))
        _states[guard] = state
        return state


def ledger_of(guard: Guard) -> tuple[Ledger | None, float]:
    """(the guard's ledger or None, its writer's flush interval), without starting a writer.

    The ledger of the guard's cost state once its runtime built it, else resolved from its options.
    """
    with _states_lock:
        if guard in _states:
            state = _states[guard]
            if state is None:
                return None, 0.0
            return state.ledger, state.policy.flush_interval_s
    found = _resolved.get(guard)
    if found is None:
        options = CostOptions.resolve(guard)
        policy = resolve_policy(options)
        found = _resolved[guard] = (resolve_ledger(options, policy), policy.flush_interval_s)
    return found


_resolved: weakref.WeakKeyDictionary[Guard, tuple[Ledger | None, float]] = weakref.WeakKeyDictionary()
"""`ledger_of` for guards whose runtime has not built a cost state (a process that only takes feedback)."""


def pending_in_writers(call_id: str) -> bool:
    """Whether a ledger row of ``call_id`` waits in a writer queue of this process (not written yet)."""
    with _states_lock:
        writers = [
            state.writer for state in _states.values() if state is not None and state.writer is not None
        ]
    return any(writer.holds(lambda item: item[0][0] == call_id) for writer in writers)  # (row, scope, nanos)


def build_state(options: CostOptions) -> CostState | None:
    """A cost state from ``options``; None when neither a ledger nor budgets are enabled."""
    policy = resolve_policy(options)
    ledger = resolve_ledger(options, policy)
    if ledger is None and not policy.budgets:
        return None
    dispatcher = AlertDispatcher(ledger, policy.callbacks, options.providers.logger_provider)
    state = CostState(policy=policy, ledger=ledger, dispatcher=dispatcher)
    state.next_check = time.monotonic() + policy.check_interval_s
    if policy.budgets:
        state.tracker = BudgetTracker(policy.budgets, state.queue_alert)
        if ledger is not None:
            tracker = state.tracker
            tracker.expect_refresh(policy.stale_after_s)
            tracker.set_refresher(lambda: tracker.refresh(ledger))
            _seed(tracker, ledger)
            state.next_refresh = time.monotonic() + policy.refresh_interval_s
    name = "ledger" if ledger is not None else "budget tracker"
    sink = row_sink(ledger, state.tracker) if ledger is not None else _no_sink
    state.writer = BatchWriter(
        sink,
        name=name,
        batch_size=CHUNK_ROWS,
        max_queue=policy.queue_size,
        interval=policy.flush_interval_s,
        max_lag=policy.max_write_lag_s,
        periodic=state.periodic,
        has_pending=lambda: bool(state.pending),
    )
    return state


def _seed(tracker: BudgetTracker, ledger: Ledger) -> None:
    try:
        tracker.seed(ledger)
    except WRITE_ERRORS as exc:
        tracker.last_error = f"{type(exc).__name__}: {exc}"
        from llmguard._internal import advise_once

        where = getattr(ledger, "path", "ledger")
        advise_once(
            "ledger-seed",
            str(where),
            f"llmguard: cannot read budgets' spend so far from {where}; starting at $0",
        )


def _no_sink(rows: object) -> None:
    """Budgets without a ledger keep no rows."""
