"""Ledger rows of finished calls: the row tuple and the budget scope of a `llmguard.CallRecord`.

A leaf of the cost package (it imports no cost module that imports it back): the cost state
builds the writer's sink from it, and the ledger observer reads budget scopes from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from llmguard._record import CallRecord
from llmguard._scope import ContextValues

from ._budget import BudgetTracker, UTCClock, context_scope
from ._ledger import Ledger, LedgerRow

__all__ = ["REFUSAL_REASONS", "LedgerItem", "ledger_row", "record_scope", "row_sink"]

LedgerItem = tuple[LedgerRow, dict[str, Any] | None, int | None]
"""What the ledger observer queues per call: (row, budget scope values or None, nano-USD).

The row, not the `CallRecord`: a queued item holds no request body, so a writer that falls behind
holds a few hundred bytes per call, whatever the prompts' size.
"""

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


def row_sink(ledger: Ledger, tracker: BudgetTracker | None = None) -> Callable[[Sequence[LedgerItem]], None]:
    """A writer sink writing queued `LedgerItem` rows to the ledger.

    After a successful write the budgets ``tracker`` counts the priced rows as committed (see
    `BudgetTracker.refresh`: the shared view never counts a call twice).
    """

    def write(batch: Sequence[LedgerItem]) -> None:
        ledger.write([row for row, _, _ in batch])
        if tracker is not None:
            tracker.committed(
                # row[1] is the row's ts_ns (`llmguard.cost._ledger.COLUMNS`)
                [(scope, row[1], nanos) for row, scope, nanos in batch if nanos and scope is not None]
            )

    return write
