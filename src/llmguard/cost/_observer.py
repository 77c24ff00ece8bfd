"""The ledger observer: one row per finished call, queued for the background writer.

``on_end`` runs on the caller's thread: it appends ``(record, cost)`` to a bounded deque and
updates the in-memory budget totals. The row tuple is built on the writer thread; nothing on the
caller's path touches the disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmguard._lifecycle import LifecycleBase
from llmguard._record import CallRecord

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

    def __repr__(self) -> str:
        return f"LedgerObserver(ledger={self.state.ledger!r})"

    def on_start(self, call: CallContext) -> None:
        """Nothing to do before the call."""

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """Queue the row; count the cost against budgets."""
        cost = record.cost
        nanos = None if cost is None else round(cost.total * NANOS)
        if self._submit is not None:
            self._submit((record, nanos))
        if nanos and self._tracker is not None:
            self._tracker.add(record_scope(record), record.start_time_ns, nanos)

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
