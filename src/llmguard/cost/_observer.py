"""The ledger observer: one row per finished call, queued for the background writer.

``on_end`` runs on the caller's thread: it updates the in-memory budget totals and appends the
call's row (a tuple of ids, counts and cost, never the request) to a bounded deque; nothing on the
caller's path touches the disk. Queuing the row rather than the `CallRecord` keeps the request body
(a 20 KB prompt, say) out of the queue while the writer catches up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmguard._lifecycle import LifecycleBase
from llmguard._record import CallRecord

from ._budget import UTCClock
from ._ledger import NANOS
from ._rows import REFUSAL_REASONS, ledger_row, record_scope, row_sink
from ._state import CostState, state_for
from ._writer import WriterStats

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._guard import Guard

__all__ = ["REFUSAL_REASONS", "LedgerObserver", "build", "ledger_row", "record_scope", "row_sink"]


class LedgerObserver(LifecycleBase):
    """Queue one ledger row per call and keep budget totals current.

    Use `stats` for the writer's counters (written, dropped, failed, pending).
    """

    def __init__(self, state: CostState) -> None:
        self.state = state
        writer = state.writer
        assert writer is not None
        self._submit = writer.submit if state.ledger is not None else None
        self._tracker = state.tracker
        self._clock = UTCClock()

    def __repr__(self) -> str:
        return f"LedgerObserver(ledger={self.state.ledger!r})"

    def on_start(self, call: CallContext) -> None:
        """Nothing to do before the call."""

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """Count the cost against budgets; queue the row."""
        cost = record.cost
        nanos = None if cost is None else round(cost.total * NANOS)
        scope = None
        if nanos and self._tracker is not None:
            scope = record_scope(record)
            self._tracker.add(scope, record.start_time_ns, nanos)
        if self._submit is not None:
            self._submit((ledger_row(record, self._clock, nanos), scope, nanos))

    @property
    def stats(self) -> WriterStats:
        """The background writer's counters."""
        assert self.state.writer is not None
        return self.state.writer.stats()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until queued rows are written (or failed); True when the queue drained in time."""
        assert self.state.writer is not None
        return self.state.writer.flush(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Write what is queued and stop the writer thread (idempotent)."""
        assert self.state.writer is not None
        self.state.writer.shutdown(timeout)
        if self.state.ledger is not None and not self.state.writer.stats().pending:
            self.state.ledger.close()


def build(guard: Guard) -> LedgerObserver | None:
    """The ledger observer of ``guard``, or None when neither a ledger nor budgets are enabled."""
    state = state_for(guard)
    return None if state is None else LedgerObserver(state)
