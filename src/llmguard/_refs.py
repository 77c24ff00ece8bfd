"""Which call produced an object: an id-keyed table of the objects guarded clients returned.

The SDKs' pydantic models are unhashable and must not carry foreign attributes, so references
live here, keyed by ``id(obj)`` and cleaned by a weak-reference callback when the object dies.
A bounded index by provider response id covers objects the app rebuilds (stream helpers' final
objects, deserialised copies). That index holds a `KnownCall` (ids, prompt, model: a few hundred
bytes), never the call itself, so its memory is bounded by its size, not by the calls' content.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import CallContext, Runtime
    from ._record import PromptRef

__all__ = [
    "MAX_RESPONSE_IDS",
    "KnownCall",
    "by_response_id",
    "find",
    "knows_call_id",
    "remember",
    "remember_response_id",
]

MAX_RESPONSE_IDS = 10_000
"""How many finished calls the response-id index keeps (oldest dropped first)."""

_by_id: dict[int, tuple[weakref.ref[Any], CallContext]] = {}
_by_response: OrderedDict[str, KnownCall] = OrderedDict()
_lock = threading.Lock()
_last_model: str | None = None


class KnownCall:
    """What the response-id index remembers of a finished call: its identity, not its content."""

    __slots__ = (
        "call_id",
        "model",
        "prompt",
        "response_id",
        "runtime",
        "session_id",
        "span_id",
        "trace_id",
        "user_id",
    )

    def __init__(self, call: CallContext, response_id: str, model: str | None) -> None:
        self.call_id: str = call.call_id
        self.trace_id: str | None = call.trace_id
        self.span_id: str | None = call.span_id
        self.response_id = response_id
        self.prompt: PromptRef | None = call.prompt
        self.model = model
        """The served model (the sent one when the provider did not say)."""
        self.runtime: Runtime = call.runtime
        """The runtime that made the call (feedback routes to its guard)."""
        scope = call.scope
        self.user_id: str | None = scope.user_id if scope is not None else None
        self.session_id: str | None = scope.session_id if scope is not None else None
        """The call context's user and session (feedback inherits them)."""


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    entry = _by_id.get(key)
    if entry is not None and entry[0] is ref:
        del _by_id[key]


def remember(obj: Any, call: CallContext) -> None:
    """Link ``obj`` (a response, stream or raw response) to ``call`` for as long as ``obj`` lives."""
    key = id(obj)
    try:
        ref: weakref.ref[Any] = weakref.ref(obj, partial(_forget, key))
    except TypeError:
        return  # not weak-referenceable (e.g. None): nothing to link
    _by_id[key] = (ref, call)


def remember_response_id(response_id: str, call: CallContext, model: str | None) -> None:
    """Index ``call``'s identity by the provider's response id (bounded, oldest dropped first)."""
    global _last_model
    if model is not None and model == _last_model:
        model = _last_model  # one string object for a model's entries, not one per response parsed
    else:
        _last_model = model
    known = KnownCall(call, response_id, model)
    with _lock:
        _by_response[response_id] = known
        if len(_by_response) > MAX_RESPONSE_IDS:
            _by_response.popitem(last=False)


def find(obj: Any) -> CallContext | None:
    """The call that returned ``obj``, if it is still known."""
    entry = _by_id.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    return None


def by_response_id(response_id: str) -> KnownCall | None:
    """The finished call whose provider response id is ``response_id``, if still indexed."""
    with _lock:
        return _by_response.get(response_id)


def knows_call_id(call_id: str) -> bool:
    """Whether ``call_id`` is a call this process still knows: a live returned object or an indexed one.

    A scan of both tables (for feedback on a stored `llmguard.CallRef`, not for the call path).
    """
    for _ in range(3):
        try:
            # `_call_id`, not `call_id`: a call whose id was never asked for was never handed out
            live = [entry[1]._call_id for entry in list(_by_id.values())]
        except RuntimeError:  # the table changed size while copied (another thread): copy again
            continue
        if call_id in live:
            return True
        break
    with _lock:
        return any(known.call_id == call_id for known in _by_response.values())


def _reinit_after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # a parent thread may have held it at fork time


os.register_at_fork(after_in_child=_reinit_after_fork)
