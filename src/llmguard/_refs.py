"""Which call produced an object: an id-keyed table of the objects guarded clients returned.

The SDKs' pydantic models are unhashable and must not carry foreign attributes, so references
live here, keyed by ``id(obj)`` and cleaned by a weak-reference callback when the object dies.
A bounded index by provider response id covers objects the app rebuilds (stream helpers' final
objects, deserialised copies). That index holds a call's identity (packed ids, prompt, model: about
190 bytes with its key, read back as a `KnownCall`), never the call itself, so its memory is
bounded by its size, not by the calls' content.
"""

from __future__ import annotations

import os
import struct
import threading
import weakref
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

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

_WIDTH = 40
"""Bytes of one call's ids in the ring: the call id (16), then the trace (16) and span (8) ids."""
_TRACED, _UNTRACED = 40, 16
"""How a call's ids are stored (the last item of its `_Context`): all 40 bytes, or only the call
id's 16 (no trace). Ids of another shape than telemetry's are that item themselves, as strings."""
_put = struct.Struct("16s24s").pack_into
"""Writes a call's ids into the ring: one C call (a slice assignment costs about 2,400 instructions
more), which pads a missing trace with zeros."""

_Shape: TypeAlias = "int | tuple[str, str | None, str | None]"
_Context: TypeAlias = tuple["PromptRef | None", "str | None", "Runtime", "str | None", "str | None", _Shape]
"""What an indexed call shares with the calls around it: (prompt, model, runtime, user_id,
session_id, how its ids are stored). One tuple serves consecutive calls that have the same."""

_by_id: dict[int, tuple[weakref.ref[Any], CallContext]] = {}
_lock = threading.Lock()
_last: _Context | None = None


class _Index:
    """The response-id index: a ring of ``cap`` slots and a dict from response id to slot.

    Slot ``s`` holds the response id ``rids[s]`` (the string the response carried, also the dict's
    key), its call's ids packed in ``ids[40*s : 40*s+40]`` and its `_Context` ``contexts[s]``
    (shared by consecutive calls alike). New ids take the slots in turn; once the ring is full,
    the next one overwrites the oldest, whose id leaves the dict. About 190 bytes a call at the cap
    (the id's string, its dict entry and slot number, 40 bytes, two list cells) instead of 277 for
    a dict entry holding a tuple and a bytes object (`python -m benchmarks.refs_memory`).
    """

    __slots__ = ("cap", "contexts", "ids", "next", "rids", "slots")

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self.slots: dict[str, int] = {}
        self.rids: list[str | None] = [None] * self.cap
        self.contexts: list[_Context | None] = [None] * self.cap
        self.ids = bytearray(_WIDTH * self.cap)
        self.next = 0
        """The slot the next new id takes."""

    def known(self, s: int, response_id: str) -> KnownCall:
        """Slot ``s`` read back (call with the lock)."""
        context = self.contexts[s]
        assert context is not None
        shape = context[5]
        at = _WIDTH * s
        if shape == _TRACED:
            text = self.ids[at : at + _WIDTH].hex()
            ids: tuple[str, str | None, str | None] = (text[:32], text[32:64], text[64:])
        elif isinstance(shape, tuple):
            ids = shape
        else:
            ids = (self.ids[at : at + 16].hex(), None, None)
        return KnownCall(response_id, ids, context)


_index: _Index | None = None
"""The response-id index (made on the first indexed call, with the cap `MAX_RESPONSE_IDS` has then)."""


class KnownCall:
    """What the response-id index remembers of a finished call: its identity, not its content.

    The index keeps each call's call, trace and span ids packed in 40 bytes of a ring (instead of
    three hex strings of 32, 32 and 16 characters) and shares its prompt, model, runtime, user and
    session with the calls around it; a `KnownCall` is built from them when it is read.
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

    def __init__(self, response_id: str, ids: tuple[str, str | None, str | None], context: _Context) -> None:
        self.response_id = response_id
        self.call_id: str = ids[0]
        self.trace_id: str | None = ids[1]
        self.span_id: str | None = ids[2]
        prompt, model, runtime, user_id, session_id, _ = context
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
    """Index ``call``'s identity by the provider's response id (bounded, oldest dropped first).

    An id seen again keeps its place in the ring and takes the newest call.
    """
    global _last, _index
    # The call id's 16 bytes (`llmguard._record.packed_call_id`, inlined: this runs on every call),
    # made from what the call stored (its hex string may never be needed).
    packed = (((call.start_ns // 1_000_000) << 80) | call._number).to_bytes(16)
    trace_id = call.trace_id
    shape: _Shape
    if trace_id is None:
        tail, shape = b"", _UNTRACED
    else:
        try:  # telemetry's trace and span ids: 32 and 16 lowercase hex digits
            tail, shape = bytes.fromhex(trace_id + call.span_id), _TRACED  # type: ignore[operator]
            if len(tail) != 24 or len(trace_id) != 32:
                raise ValueError(trace_id)
        except (TypeError, ValueError):  # ids of another shape: kept as they are, in the context
            tail, shape = b"", (call.call_id, trace_id, call.span_id)
    scope = call.scope
    if scope is None:
        context: _Context = (call.prompt, model, call.runtime, None, None, shape)
    else:
        context = (call.prompt, model, call.runtime, scope.user_id, scope.session_id, shape)
    last = _last
    if context == last:
        context = last  # one tuple (and one model string) for consecutive calls alike
    else:
        _last = context
    _lock.acquire()  # not `with`: this saves about 700 instructions a call
    try:
        index = _index
        if index is None:
            index = _index = _Index(MAX_RESPONSE_IDS)
        slot = index.next
        s = index.slots.setdefault(response_id, slot)
        rids = index.rids
        old = rids[s]
        if old != response_id:  # a new id, in the next slot: the id there (the oldest) leaves
            if old is not None:
                del index.slots[old]
            rids[s] = response_id
            index.next = (slot + 1) % index.cap
        index.contexts[s] = context
        _put(index.ids, _WIDTH * s, packed, tail)
    finally:
        _lock.release()


def find(obj: Any) -> CallContext | None:
    """The call that returned ``obj``, if it is still known."""
    entry = _by_id.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    return None


def by_response_id(response_id: str) -> KnownCall | None:
    """The finished call whose provider response id is ``response_id``, if still indexed."""
    with _lock:
        index = _index
        if index is None:
            return None
        s = index.slots.get(response_id)
        return None if s is None else index.known(s, response_id)


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
        index = _index
        if index is None:
            return False
        contexts, ids = index.contexts, index.ids
        if any(
            context is not None and isinstance(context[5], tuple) and context[5][0] == call_id
            for context in contexts
        ):
            return True
        if packed is None or len(packed) != 16:
            return False
        at = ids.find(packed)
        while at >= 0:  # a match at a slot's start is its call id (the other offsets are not ids)
            if at % _WIDTH == 0:
                context = contexts[at // _WIDTH]
                if context is not None and not isinstance(context[5], tuple):
                    return True
            at = ids.find(packed, at + 1)
    return False


def _indexed() -> list[str]:
    """The indexed response ids, oldest first (for tests and diagnostics)."""
    with _lock:
        index = _index
        if index is None:
            return []
        rids = index.rids[index.next :] + index.rids[: index.next]
        return [rid for rid in rids if rid is not None]


def _reinit_after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # a parent thread may have held it at fork time


os.register_at_fork(after_in_child=_reinit_after_fork)
