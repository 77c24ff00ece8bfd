"""Recording feedback: resolve the target to a call and a guard, validate, write to the guard's sink.

Only invalid input raises (`llmguard.FeedbackTokenError` for a bad token,
`llmguard.FeedbackError` for a bad target, name or value). Sink failures are logged and
counted (`sink_errors`), never raised.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from llmguard import _refs
from llmguard._internal import handle_internal_errors

from ._judging import after_feedback
from ._model import FeedbackEntry, FeedbackValue, make_entry
from ._ref import CallRef, context_of, guard_of, ref_from_context
from ._sinks import ERRORS, FanOutFeedbackSink, FeedbackSink, OTelFeedbackSink, as_sink, close_all, safe_write
from ._sqlite import SQLiteFeedbackSink
from ._tokens import read_token

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._guard import Guard

__all__ = ["afeedback", "close_sinks", "feedback", "record_entry", "resolve", "sink_errors", "sink_for"]

_sinks: weakref.WeakKeyDictionary[Guard, FeedbackSink] = weakref.WeakKeyDictionary()
_sinks_lock = threading.Lock()


def _default_guard() -> Guard:
    from llmguard._guard import get_default_guard

    return get_default_guard()


def sink_for(guard: Guard) -> FeedbackSink:
    """The guard's feedback sink: its ``feedback_sink`` slot, else SQLite on ``db_path`` plus OTel events."""
    sink = _sinks.get(guard)
    if sink is not None:
        return sink
    with _sinks_lock:
        sink = _sinks.get(guard)
        if sink is None:
            sink = _build_sink(guard)
            _sinks[guard] = sink
            weakref.finalize(guard, close_all, [sink])
    return sink


def _build_sink(guard: Guard) -> FeedbackSink:
    if guard.feedback_sink is not None:
        return as_sink(guard.feedback_sink)
    otel = OTelFeedbackSink(guard.logger_provider, capture_content=guard.settings.capture_content)
    return FanOutFeedbackSink(SQLiteFeedbackSink(guard.db_path), otel)


def close_sinks(guard: Guard) -> None:
    """Close the sink built for ``guard`` (its SQLite connection); a later write reopens it."""
    with _sinks_lock:
        sink = _sinks.pop(guard, None)
    if sink is not None:
        close_all([sink])


def sink_errors() -> dict[str, int]:
    """How many feedback writes failed in this process, by sink class name."""
    return ERRORS.snapshot()


def resolve(target: Any, guard: Guard | None) -> tuple[CallRef, Guard, CallContext | None, str]:
    """(call reference, guard, live call context or None, source) for a feedback target."""
    if isinstance(target, str):
        owner = guard or _default_guard()
        ref = read_token(owner, target)
        return ref, owner, None, "token"
    if isinstance(target, CallRef):
        return target, guard or guard_of(_known(target)) or _default_guard(), None, "api"
    found = context_of(target)
    if found is None:
        from ._ref import call_ref

        call_ref(target)  # raises FeedbackError with the explanation
        raise AssertionError("unreachable")
    live = None if isinstance(found, _refs.KnownCall) else found
    return ref_from_context(found), guard or guard_of(found) or _default_guard(), live, "api"


def _known(ref: CallRef) -> _refs.KnownCall | None:
    """What the response-id index knows of the referenced call (to route feedback to its guard)."""
    known = _refs.by_response_id(ref.response_id) if ref.response_id else None
    return known if known is not None and known.call_id == ref.call_id else None


def feedback(
    target: Any,
    name: str,
    value: FeedbackValue,
    *,
    comment: str | None = None,
    user_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    guard: Guard | None = None,
) -> FeedbackEntry:
    """Record user feedback on the call that produced ``target``.

    Args:
        target: A guarded client's response (or stream, raw response, stream helper), a
            `CallRef`, or a token from ``guard.feedback_token(...)``.
        name: What is rated, e.g. ``thumbs``, ``rating``, ``category`` (letters, digits, ``_.:-``).
        value: A number (rating), a bool (thumbs) or a string (category).
        comment: Free text from the user.
        user_id: Who gave it; feedback is unique per (call, name, user): re-sending updates it.
        metadata: JSON-serialisable extra fields.
        guard: Where to record it (default: the guard that made the call, else the default guard).

    Returns:
        The entry as written to the sink.

    Raises:
        FeedbackTokenError: ``target`` is a forged, tampered, expired or malformed token.
        FeedbackError: ``target`` is not linked to a call, or ``name``/``value``/``comment`` is invalid.
    """
    ref, owner, call, source = resolve(target, guard)
    entry = make_entry(ref, name, value, comment=comment, user_id=user_id, metadata=metadata, source=source)
    return record_entry(owner, entry, call)


def record_entry(guard: Guard, entry: FeedbackEntry, call: CallContext | None = None) -> FeedbackEntry:
    """Run the negative-feedback hook, then write ``entry`` to the guard's sink (never raises for sinks)."""
    if entry.negative:
        judging, content = "skipped: internal error", None
        with handle_internal_errors("feedback judging"):
            judging, content = after_feedback(guard, entry, call)
        entry = replace(entry, judging=judging, content=content)
    sink: FeedbackSink | None = None
    with handle_internal_errors("feedback sink"):
        sink = sink_for(guard)
    if sink is not None:
        safe_write(sink, entry)
    return entry


async def afeedback(
    target: Any,
    name: str,
    value: FeedbackValue,
    *,
    comment: str | None = None,
    user_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    guard: Guard | None = None,
) -> FeedbackEntry:
    """Async `feedback`: validates inline, writes in a worker thread (the event loop never waits on a sink)."""
    import anyio.to_thread

    ref, owner, call, source = resolve(target, guard)
    entry = make_entry(ref, name, value, comment=comment, user_id=user_id, metadata=metadata, source=source)
    return await anyio.to_thread.run_sync(record_entry, owner, entry, call)
