"""Which call produced an object: an id-keyed table of the objects guarded clients returned.

The SDKs' pydantic models are unhashable and must not carry foreign attributes, so references
live here, keyed by ``id(obj)`` and cleaned by a weak-reference callback when the object dies.
A bounded index by provider response id covers objects the app rebuilds (stream helpers' final
objects, deserialised copies). That index holds a call's identity (packed ids, prompt, model: about
300 bytes with its key, read back as a `KnownCall`), never the call itself, so its memory is
bounded by its size, not by the calls' content.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

from ._record import packed_call_id

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

_Entry: TypeAlias = tuple[
    "bytes | tuple[str, str | None, str | None]",
    "PromptRef | None",
    "str | None",
    "Runtime",
    "str | None",
    "str | None",
]
"""An indexed call: (packed ids, prompt, model, runtime, user_id, session_id); see `KnownCall`."""

_by_id: dict[int, tuple[weakref.ref[Any], CallContext]] = {}
_by_response: dict[str, _Entry] = {}
_order: deque[str] = deque()
"""The indexed response ids, oldest first (a dict drops its first key in O(n), a deque in O(1))."""
_lock = threading.Lock()
_last_model: str | None = None


class KnownCall:
    """What the response-id index remembers of a finished call: its identity, not its content.

    The index stores each call as a tuple whose call, trace and span ids are packed into one
    ``bytes`` (16 + 16 + 8 bytes instead of three hex strings of 32, 32 and 16 characters); a
    `KnownCall` is built from it when it is read.
    """

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

    def __init__(self, response_id: str, entry: _Entry) -> None:
        ids, prompt, model, runtime, user_id, session_id = entry
        self.response_id = response_id
        if isinstance(ids, bytes):
            text = ids.hex()
            call_id, trace_id, span_id = text[:32], text[32:64] or None, text[64:] or None
        else:
            call_id, trace_id, span_id = ids
        self.call_id: str = call_id
        self.trace_id: str | None = trace_id
        self.span_id: str | None = span_id
        self.prompt: PromptRef | None = prompt
        self.model: str | None = model
        """The served model (the sent one when the provider did not say)."""
        self.runtime: Runtime = runtime
        """The runtime that made the call (feedback routes to its guard)."""
        self.user_id: str | None = user_id
        self.session_id: str | None = session_id
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
    # The call id's 16 bytes, made from what the call stored (its hex string may never be needed).
    ids: bytes | tuple[str, str | None, str | None] = packed_call_id(call.start_ns, call._number)
    trace_id = call.trace_id
    if trace_id is not None:
        try:  # telemetry's trace and span ids: 32 and 16 lowercase hex digits
            ids += bytes.fromhex(trace_id + call.span_id)  # type: ignore[operator]
            if len(ids) != 40 or len(trace_id) != 32:
                raise ValueError(trace_id)
        except (TypeError, ValueError):
            ids = (call.call_id, trace_id, call.span_id)  # ids of another shape are kept as they are
    scope = call.scope
    if scope is None:
        entry: _Entry = (ids, call.prompt, model, call.runtime, None, None)
    else:
        entry = (ids, call.prompt, model, call.runtime, scope.user_id, scope.session_id)
    with _lock:
        if _by_response.setdefault(response_id, entry) is not entry:
            _by_response[response_id] = entry  # an id seen again: the newest call, at the old place
            return
        _order.append(response_id)
        if len(_order) > MAX_RESPONSE_IDS:
            del _by_response[_order.popleft()]


def find(obj: Any) -> CallContext | None:
    """The call that returned ``obj``, if it is still known."""
    entry = _by_id.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    return None


def by_response_id(response_id: str) -> KnownCall | None:
    """The finished call whose provider response id is ``response_id``, if still indexed."""
    with _lock:
        entry = _by_response.get(response_id)
    return KnownCall(response_id, entry) if entry is not None else None


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
    try:
        packed: bytes | None = bytes.fromhex(call_id)
    except ValueError:
        packed = None
    with _lock:
        entries = list(_by_response.values())
    for entry in entries:
        ids = entry[0]
        if ids[0] == call_id if isinstance(ids, tuple) else packed is not None and ids[:16] == packed:
            return True
    return False


def _reinit_after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # a parent thread may have held it at fork time


os.register_at_fork(after_in_child=_reinit_after_fork)
