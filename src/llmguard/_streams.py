"""Stream subclasses that finish a call's record exactly once.

A guarded stream class is a subclass of the SDK's own stream class (so ``isinstance`` holds),
built once per stream class and cached. It finds its call in ``response.extensions`` (a raw
response, parsed after ``request`` returned) or else in the active-call context variable (a stream
the SDK builds inside ``request``), records every item, hides the usage-only chunk that
llmguard asked for, and finishes the record on exhaustion, error, ``close()``, context exit or
garbage collection. A ``break`` is not an error.
"""

from __future__ import annotations

import types
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ._context import active_call

if TYPE_CHECKING:
    from ._core import CallContext

__all__ = ["CALL_KEY", "GUARDED_STREAM_TYPES", "guarded_stream_cls"]

CALL_KEY = "llmguard.call"
"""Key of the call context in ``httpx2.Response.extensions``."""

_cache: dict[Any, type] = {}
GUARDED_STREAM_TYPES: set[type] = set()
"""Every guarded stream class built so far (a type check cheaper than probing SDK objects)."""


def _attach(stream: Any) -> CallContext | None:
    call: CallContext | None = stream.response.extensions.get(CALL_KEY)
    if call is None:
        call = active_call.get()  # built inside the guarded `request` of its call
        if call is None or not call.stream or call.finished:
            return None
    weakref.finalize(stream, call.abandon)
    return call


class _SyncMixin:
    response: Any
    _llmguard_call: CallContext | None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._llmguard_call = _attach(self)

    def __stream__(self) -> Iterator[Any]:
        items: Iterator[Any] = super().__stream__()  # type: ignore[misc]
        call = self._llmguard_call
        if call is None:
            yield from items
            return
        try:
            if call.observers or call.hide_usage_chunk:
                for item in items:
                    if call.on_item(item):
                        yield item
            else:  # no observer: only the response id and served model, from the first items that carry them
                acc = call.acc
                for item in items:
                    if acc.response_id is None:
                        acc.item(item)
                    yield item
        except GeneratorExit:
            call.abandon()
            raise
        except BaseException as exc:
            call.fail(exc)
            raise
        call.succeed()

    def close(self) -> None:
        super().close()  # type: ignore[misc]
        if self._llmguard_call is not None:
            self._llmguard_call.abandon()


class _AsyncMixin:
    response: Any
    _llmguard_call: CallContext | None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._llmguard_call = _attach(self)

    async def __stream__(self) -> AsyncIterator[Any]:
        items: AsyncIterator[Any] = super().__stream__()  # type: ignore[misc]
        call = self._llmguard_call
        if call is None:
            async for item in items:
                yield item
            return
        try:
            if call.observers or call.hide_usage_chunk:
                async for item in items:
                    if call.on_item(item):
                        yield item
            else:  # no observer: only the response id and served model, from the first items that carry them
                acc = call.acc
                async for item in items:
                    if acc.response_id is None:
                        acc.item(item)
                    yield item
        except GeneratorExit:
            call.abandon()
            raise
        except BaseException as exc:
            call.fail(exc)
            raise
        call.succeed()

    async def close(self) -> None:
        await super().close()  # type: ignore[misc]
        if self._llmguard_call is not None:
            self._llmguard_call.abandon()


def guarded_stream_cls(stream_cls: Any, *, is_async: bool) -> Any:
    """The guarded subclass of ``stream_cls`` (e.g. ``openai.Stream[ChatCompletionChunk]``), cached."""
    guarded = _cache.get(stream_cls)
    if guarded is None:
        mixin = _AsyncMixin if is_async else _SyncMixin
        origin = getattr(stream_cls, "__origin__", stream_cls)
        guarded = types.new_class(
            f"Guarded{origin.__name__}",
            (mixin, stream_cls),
            exec_body=lambda ns: ns.update(__module__=__name__),
        )
        guarded.__orig_bases__ = (stream_cls,)  # type: ignore[attr-defined]  # the SDK reads the chunk type here
        _cache[stream_cls] = guarded
        GUARDED_STREAM_TYPES.add(guarded)
    return guarded
