"""Negative feedback -> judging of that call, only while its content is still held in memory.

Content is held by the opt-in retention buffer (``retain_unsampled``, see
`llmguard._feedback._observer`) or by a live call whose record kept its output. The call
is handed to the judging queue through a hook: the one set with `set_judging_hook`, else
an observer of the guard's runtime exposing ``submit(record) -> bool`` (the judging queue).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._guard import Guard
    from llmguard._record import CallRecord

    from ._model import FeedbackEntry

__all__ = ["JudgingHook", "after_feedback", "content_of", "retained_record", "set_judging_hook"]

JudgingHook = Callable[["Guard", "CallRecord", "FeedbackEntry"], bool]
"""(guard, record with content, the negative feedback) -> whether the call was queued for judging."""

_hook: JudgingHook | None = None

CONFIGURED_OFF = "skipped: judging not configured"
NO_CONTENT = "skipped: content unavailable"
NO_QUEUE = "skipped: judging queue unavailable"
QUEUED = "queued"


def set_judging_hook(hook: JudgingHook | None) -> JudgingHook | None:
    """Set (or clear, with ``None``) the callable that queues a negatively rated call for judging.

    Returns the previous hook. Without one, an observer of the guard's runtime with a
    ``submit(record) -> bool`` method (the judging queue) is used.
    """
    global _hook
    previous, _hook = _hook, hook
    return previous


def retained_record(guard: Guard, call_id: str, call: CallContext | None) -> CallRecord | None:
    """The call's record with its output, from a live call or the guard's retention buffer."""
    if call is not None and call.record is not None and call.record.output_text is not None:
        return call.record
    runtime = guard.__dict__.get("runtime")
    for observer in runtime.observers if runtime is not None else ():
        lookup = getattr(observer, "retained", None)
        if callable(lookup) and getattr(observer, "is_feedback_buffer", False):
            record: CallRecord | None = lookup(call_id)
            if record is not None:
                return record
    return None


def content_of(record: CallRecord) -> dict[str, Any]:
    """The input and output of a retained call (for judging and golden-dataset candidates)."""
    request = record.request
    keys = ("messages", "input", "system", "instructions", "prompt")
    inputs = {key: request[key] for key in keys if isinstance(request, Mapping) and key in request}
    return {
        "input": inputs,
        "output": record.output_text,
        "model": record.response_model or record.request_model,
    }


def after_feedback(
    guard: Guard, entry: FeedbackEntry, call: CallContext | None
) -> tuple[str, dict[str, Any] | None]:
    """Queue a negatively rated call for judging when possible; return (judging status, content)."""
    record = retained_record(guard, entry.ref.call_id, call)
    content = content_of(record) if record is not None else None
    if not guard.judges and _hook is None:
        return (CONFIGURED_OFF if record is not None else NO_CONTENT), content
    if record is None:
        return NO_CONTENT, None
    return (QUEUED if _submit(guard, record, entry) else NO_QUEUE), content


def _submit(guard: Guard, record: CallRecord, entry: FeedbackEntry) -> bool:
    if _hook is not None:
        return bool(_hook(guard, record, entry))
    runtime = guard.__dict__.get("runtime")
    for observer in runtime.observers if runtime is not None else ():
        submit = getattr(observer, "submit", None)
        if callable(submit) and not getattr(observer, "is_feedback_buffer", False):
            return bool(submit(record))
    return False
