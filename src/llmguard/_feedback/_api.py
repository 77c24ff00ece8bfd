"""Recording feedback: resolve the target to a call and a guard, validate, write to the guard's sink.

Only invalid input raises (`llmguard.FeedbackTokenError` for a bad token,
`llmguard.FeedbackError` for a bad target, name or value). Sink failures are logged and
counted (`sink_errors`), never raised.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from llmguard import _refs
from llmguard._internal import handle_internal_errors
from llmguard.exceptions import FeedbackError

from ._judging import after_feedback
from ._known import verify_call_id
from ._model import FeedbackEntry, FeedbackValue, make_entry
from ._privacy import redact_comment, stored_content
from ._ref import CallRef, context_of, guard_of, ref_from_context
from ._sinks import ERRORS, FanOutFeedbackSink, FeedbackSink, OTelFeedbackSink, as_sink, close_all, safe_write
from ._sqlite import SQLiteFeedbackSink
from ._tokens import TokenClaims, read_claims

_CALL_ID = re.compile(r"^(?:[0-9a-f]{32}|[0-9A-HJKMNP-TV-Z]{26})$")
"""A call id llmguard issues: 32 lowercase hex characters (a 26-character ULID in older versions)."""

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._guard import Guard
    from llmguard._stats import FeedbackStats

__all__ = [
    "afeedback",
    "close_sinks",
    "feedback",
    "feedback_stats",
    "record_entry",
    "resolve",
    "resolve_token",
    "sink_errors",
    "sink_for",
]

_sinks: weakref.WeakKeyDictionary[Guard, FeedbackSink] = weakref.WeakKeyDictionary()
_sinks_lock = threading.Lock()
_counts: weakref.WeakKeyDictionary[Guard, tuple[int, int]] = weakref.WeakKeyDictionary()
"""Per guard: (entries its sink accepted, entries its sink raised on); guarded by ``_sinks_lock``."""


def _reinit_after_fork() -> None:  # pragma: no cover - runs in forked children (tests/faults)
    global _sinks_lock
    _sinks_lock = threading.Lock()


os.register_at_fork(after_in_child=_reinit_after_fork)


def _default_guard() -> Guard:
    from llmguard._guard import get_default_guard

    return get_default_guard()


def sink_for(guard: Guard) -> FeedbackSink:
    """The guard's feedback sink: its ``feedback_sink`` slot, else its database (``db``) plus OTel events."""
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
    return FanOutFeedbackSink(open_feedback_store(guard.db), otel)


def open_feedback_store(db: str) -> FeedbackSink:
    """The feedback store in the database ``db`` (path or URL): the one place the feature builds it."""
    return SQLiteFeedbackSink(db)


def close_sinks(guard: Guard) -> None:
    """Close the sink built for ``guard`` (its SQLite connection); a later write reopens it."""
    with _sinks_lock:
        sink = _sinks.pop(guard, None)
    if sink is not None:
        close_all([sink])


def feedback_stats(guard: Guard) -> FeedbackStats:
    """Feedback recorded through ``guard`` (for `llmguard.Guard.stats`)."""
    from llmguard._stats import FeedbackStats

    with _sinks_lock:
        recorded, failed = _counts.get(guard, (0, 0))
    return FeedbackStats(recorded=recorded, failed=failed)


def _count(guard: Guard, ok: bool) -> None:
    with _sinks_lock:
        recorded, failed = _counts.get(guard, (0, 0))
        _counts[guard] = (recorded + ok, failed + (not ok))


def sink_errors() -> dict[str, int]:
    """How many feedback writes failed in this process, by sink class name."""
    return ERRORS.snapshot()


def resolve_token(token: object, guard: Guard | None) -> tuple[TokenClaims, Guard]:
    """(verified claims, guard) for a feedback token.

    A token names its call; the call's content, if retained, comes from the retention buffer.
    """
    owner = guard or _default_guard()
    return read_claims(owner, token), owner


def _check_call_id(call_id: object) -> None:
    if not isinstance(call_id, str) or not _CALL_ID.match(call_id):
        raise FeedbackError(
            f"CallRef(call_id={call_id!r}) names no call llmguard made: use call_ref(response), a CallRef "
            "you stored from one, or a feedback token"
        )


def resolve(target: Any, guard: Guard | None) -> tuple[CallRef, Guard, CallContext | None, str]:
    """(call reference, guard, live call context or None, source) for a feedback target."""
    if isinstance(target, str):
        if _CALL_ID.match(target):
            raise FeedbackError(
                f"{target!r} is a bare call id, not a feedback target: pass CallRef(call_id={target!r}) "
                "from your backend, or a token from guard.feedback_token(...) from a browser"
            )
        claims, owner = resolve_token(target, guard)
        return claims.ref, owner, None, "token"
    if isinstance(target, CallRef):
        known = _known(target)
        if known is None:
            _check_call_id(target.call_id)
        return target, guard or guard_of(known) or _default_guard(), None, "api"
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


def _build(
    target: Any,
    guard: Guard | None,
    name: str,
    value: FeedbackValue,
    comment: str | None,
    user_id: str | None,
    metadata: Mapping[str, Any] | None,
    session_id: str | None,
) -> tuple[Guard, FeedbackEntry, CallContext | None]:
    """Resolve the target and validate the input into an entry (user and session default to the call's)."""
    ref, owner, call, source, user = _target(target, guard, name, user_id)
    entry = make_entry(
        _with_context(ref, call),
        name,
        value,
        comment=comment,
        user_id=user,
        metadata=metadata,
        source=source,
        session_id=session_id,
    )
    return owner, entry, call


def _with_context(ref: CallRef, call: CallContext | None) -> CallRef:
    """``ref`` with the user and session of the live call's context, when the ref lacks them (tokens)."""
    scope = call.scope if call is not None else None
    if scope is None or (ref.user_id is not None or ref.session_id is not None):
        return ref
    return replace(ref, user_id=scope.user_id, session_id=scope.session_id)


def feedback(
    target: Any,
    name: str,
    value: FeedbackValue,
    *,
    comment: str | None = None,
    user_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    guard: Guard | None = None,
    session_id: str | None = None,
) -> FeedbackEntry:
    """Record user feedback on the call that produced ``target``.

    Args:
        target: A guarded client's response (or stream, raw response, stream helper), a
            `CallRef`, or a token from ``guard.feedback_token(...)``.
        name: What is rated, e.g. ``thumbs``, ``rating``, ``category`` (letters, digits, ``_.:-``).
        value: A number (rating), a bool (thumbs) or a string (category).
        comment: Free text from the user.
        user_id: Who gave it; feedback is unique per (call, name, user): re-sending updates it.
            Defaults to the user of the call's context (`llmguard.context`).
        metadata: JSON-serialisable extra fields.
        guard: Where to record it (default: the guard that made the call, else the default guard).
        session_id: The session; defaults to the session of the call's context.

    Returns:
        The entry as written to the sink.

    Raises:
        FeedbackTokenError: ``target`` is a forged, tampered, expired or malformed token.
        FeedbackError: ``target`` is not linked to a call (a `CallRef` whose call id is malformed,
            or absent from the guard's ledger when the ledger is on), or
            ``name``/``value``/``comment`` is invalid.
    """
    owner, entry, call = _build(target, guard, name, value, comment, user_id, metadata, session_id)
    return _verify_and_record(target, owner, entry, call)


def _verify(target: Any, owner: Guard, entry: FeedbackEntry) -> None:
    """For a `CallRef` this process did not index: check its call id against the guard's ledger."""
    if isinstance(target, CallRef) and _known(target) is None:
        verify_call_id(owner, entry.ref.call_id)


def _verify_and_record(
    target: Any, owner: Guard, entry: FeedbackEntry, call: CallContext | None
) -> FeedbackEntry:
    _verify(target, owner, entry)
    return record_entry(owner, entry, call)


def _target(
    target: Any, guard: Guard | None, name: object, user_id: object
) -> tuple[CallRef, Guard, CallContext | None, str, object]:
    """Like `resolve`, plus the user id to record once a token's bindings allow the feedback."""
    if isinstance(target, str) and not _CALL_ID.match(target):
        claims, owner = resolve_token(target, guard)
        return claims.ref, owner, None, "token", claims.check(name, user_id)
    ref, owner, call, source = resolve(target, guard)
    return ref, owner, call, source, user_id


def record_entry(guard: Guard, entry: FeedbackEntry, call: CallContext | None = None) -> FeedbackEntry:
    """Run the negative-feedback hook, then write ``entry`` to the guard's sink (never raises for sinks)."""
    if entry.negative:
        judging, content = "skipped: internal error", None
        with handle_internal_errors("feedback judging"):
            judging, content = after_feedback(guard, entry, call)
            content = stored_content(guard, content)
        entry = replace(entry, judging=judging, content=content)
    if entry.comment is not None:
        with handle_internal_errors("feedback redaction"):
            entry = replace(entry, comment=redact_comment(guard, entry.comment))
    sink: FeedbackSink | None = None
    with handle_internal_errors("feedback sink"):
        sink = sink_for(guard)
    _count(guard, sink is not None and safe_write(sink, entry))
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
    session_id: str | None = None,
) -> FeedbackEntry:
    """Async `feedback`: validates inline; the ledger look-up and the write run in a worker thread.

    The event loop never waits on a sink or on the database.
    """
    import anyio.to_thread

    owner, entry, call = _build(target, guard, name, value, comment, user_id, metadata, session_id)
    return await anyio.to_thread.run_sync(_verify_and_record, target, owner, entry, call)
