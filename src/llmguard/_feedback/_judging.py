"""Negative feedback -> judging of that call, only while its content is still held in memory.

Content is held by the opt-in retention buffer (``retain_unsampled``, see
`llmguard._feedback._observer`) or by a live call whose record kept its output. The call
is handed to judging through a hook: the one set with `set_judging_hook`, else the judging
handle the feedback feature received when the guard was compiled (`FeedbackRoute`): judging is
"configured" exactly when its observer was built, whichever source (argument or config file)
named the judges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from llmguard._contract import JudgingHandle
    from llmguard._core import CallContext
    from llmguard._guard import Guard
    from llmguard._record import CallRecord

    from ._model import FeedbackEntry

__all__ = [
    "FeedbackRoute",
    "JudgingHook",
    "Retention",
    "after_feedback",
    "content_of",
    "retained_record",
    "set_judging_hook",
]

JudgingHook = Callable[["Guard", "CallRecord", "FeedbackEntry"], bool]
"""(guard, record with content, the negative feedback) -> whether the call was queued for judging."""

_hook: JudgingHook | None = None


class Retention(Protocol):
    """The retention buffer, as feedback reads it."""

    def retained(self, call_id: str) -> CallRecord | None:
        """The kept record of ``call_id``, if still held."""
        ...


@dataclass(frozen=True, slots=True)
class FeedbackRoute:
    """What negative feedback reaches, fixed when the guard is compiled.

    Attributes:
        buffer: The retention buffer (None when ``retain_unsampled`` is 0).
        judging: The judging handle (None when judging is off).
    """

    buffer: Retention | None = None
    judging: JudgingHandle | None = None


def route_of(guard: Guard) -> FeedbackRoute | None:
    """The guard's feedback route, or None while its runtime is not compiled (no call made yet)."""
    compiled = guard._compiled
    return None if compiled is None else compiled.links.feedback


CONFIGURED_OFF = "skipped: judging not configured"
NO_CONTENT = "skipped: content unavailable"
NO_QUEUE = "skipped: judging queue unavailable"
QUEUED = "queued"


def set_judging_hook(hook: JudgingHook | None) -> JudgingHook | None:
    """Set (or clear, with ``None``) the callable that queues a negatively rated call for judging.

    Returns the previous hook. Without one, the judging handle the guard's feedback feature was
    built with (the judging queue) is used.
    """
    global _hook
    previous, _hook = _hook, hook
    return previous


def retained_record(route: FeedbackRoute | None, call_id: str, call: CallContext | None) -> CallRecord | None:
    """The call's record with its output, from a live call or the retention buffer."""
    if call is not None and call.record is not None and call.record.output_text is not None:
        return call.record
    if route is None or route.buffer is None:
        return None
    return route.buffer.retained(call_id)


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
    route = route_of(guard)
    record = retained_record(route, entry.ref.call_id, call)
    content = content_of(record) if record is not None else None
    judging = route.judging if route is not None else None
    if judging is None and _hook is None:
        return (CONFIGURED_OFF if record is not None else NO_CONTENT), content
    if record is None:
        return NO_CONTENT, None
    return (QUEUED if _submit(guard, judging, record, entry) else NO_QUEUE), content


def _submit(guard: Guard, judging: JudgingHandle | None, record: CallRecord, entry: FeedbackEntry) -> bool:
    if _hook is not None:
        return bool(_hook(guard, record, entry))
    return judging is not None and bool(judging.submit(record))
