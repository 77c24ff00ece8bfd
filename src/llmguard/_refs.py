"""Which call produced an object: an id-keyed table of the objects guarded clients returned.

The SDKs' pydantic models are unhashable and must not carry foreign attributes, so references
live here, keyed by ``id(obj)`` and cleaned by a weak-reference callback when the object dies.
A bounded index by provider response id covers objects the app rebuilds (stream helpers' final
objects, deserialised copies).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import CallContext

__all__ = ["by_response_id", "find", "remember", "remember_response_id"]

_by_id: dict[int, tuple[weakref.ref[Any], CallContext]] = {}
_by_response: OrderedDict[str, CallContext] = OrderedDict()
_MAX_RESPONSE_IDS = 10_000
_lock = threading.Lock()


def remember(obj: Any, call: CallContext) -> None:
    """Link ``obj`` (a response, stream or raw response) to ``call`` for as long as ``obj`` lives."""
    key = id(obj)
    try:
        ref: weakref.ref[Any] = weakref.ref(obj, partial(_forget, key))
    except TypeError:
        return  # not weak-referenceable (e.g. None): nothing to link
    _by_id[key] = (ref, call)


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    entry = _by_id.get(key)
    if entry is not None and entry[0] is ref:
        del _by_id[key]


def remember_response_id(response_id: str, call: CallContext) -> None:
    """Index ``call`` by the provider's response id (bounded, oldest dropped first)."""
    with _lock:
        _by_response[response_id] = call
        if len(_by_response) > _MAX_RESPONSE_IDS:
            _by_response.popitem(last=False)


def find(obj: Any) -> CallContext | None:
    """The call that returned ``obj``, if it is still known."""
    entry = _by_id.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    return None


def by_response_id(response_id: str) -> CallContext | None:
    """The call whose provider response id is ``response_id``, if still indexed."""
    with _lock:
        return _by_response.get(response_id)
