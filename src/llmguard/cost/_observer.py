"""The ledger observer: one row per finished call, queued for the background writer.

``on_end`` runs on the caller's thread: it appends ``(record, cost)`` to a bounded deque and
updates the in-memory budget totals. The row tuple is built on the writer thread; nothing on the
caller's path touches the disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmguard._record import CallRecord
from llmguard._scope import ContextValues

from ._budget import BudgetTracker, UTCClock, context_scope
from ._ledger import NANOS, Ledger, LedgerRow
from ._state import CostState, state_for
from ._writer import WriterStats

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._guard import Guard

__all__ = ["LedgerObserver", "build", "ledger_row", "row_sink"]

REFUSAL_REASONS = frozenset({"content_filter", "refusal"})
"""Finish reasons that count as a refusal in the ledger's ``refused`` column."""


def ledger_row(record: CallRecord, clock: UTCClock, nanos: int | None) -> LedgerRow:
    """The ledger row of ``record`` (see `llmguard.cost._ledger.COLUMNS`)."""
    usage = record.usage
    prompt = record.prompt
    finish = record.finish_reasons
    return (
        record.call_id,
        record.start_time_ns,
        clock.keys(record.start_time_ns)[0],
        record.kind,
        record.service_name,
        record.environment,
        record.provider,
        record.requested_model,
        record.request_model,
        record.response_model,
        prompt.name if prompt else None,
        prompt.version if prompt else None,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
        nanos,
        record.duration_s,
        record.time_to_first_chunk_s,
        "error" if record.error_type else "ok",
        record.error_type,
        1 if finish and not REFUSAL_REASONS.isdisjoint(finish) else 0,
        *_context_columns(record.context),
    )


def _context_columns(scope: ContextValues | None) -> tuple[str | None, str | None, str | None, str | None]:
    if scope is None:
        return (None, None, None, None)
    return (
        scope.user_id,
        scope.session_id,
        json.dumps(list(scope.tags)) if scope.tags else None,
        json.dumps(dict(scope.metadata), sort_keys=True) if scope.metadata else None,
    )


def record_scope(record: CallRecord) -> dict[str, Any]:
    """Budget scope values of a finished call."""
    values = {
        "service": record.service_name,
        "prompt": record.prompt.name if record.prompt else None,
        "model": record.request_model,
        "_model": record.requested_model,
        "provider": record.provider,
        "kind": record.kind,
    }
    if record.context is not None:
        context_scope(record.context, values)
    return values


class LedgerObserver:
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


def row_sink(
    ledger: Ledger, tracker: BudgetTracker | None = None
) -> Callable[[Sequence[tuple[CallRecord, int | None]]], None]:
    """A writer sink turning queued ``(record, nano-USD)`` pairs into ledger rows.

    After a successful write the budgets ``tracker`` counts the rows as committed (see
    `BudgetTracker.refresh`: the shared view never counts a call twice).
    """
    clock = UTCClock()

    def write(batch: Sequence[tuple[CallRecord, int | None]]) -> None:
        ledger.write([ledger_row(record, clock, nanos) for record, nanos in batch])
        if tracker is not None:
            tracker.committed(
                [(record_scope(record), record.start_time_ns, nanos) for record, nanos in batch if nanos]
            )

    return write


def build(guard: Guard) -> LedgerObserver | None:
    """The ledger observer of ``guard``, or None when neither a ledger nor budgets are enabled."""
    state = state_for(guard)
    return None if state is None else LedgerObserver(state)
