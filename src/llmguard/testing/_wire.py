"""The wire shell of the fake providers: parse requests, render plans as responses.

A `Plan` is the pure description of an answer; `respond` turns it into an `httpx2` or legacy
`httpx` response, matching whichever library built the request.
"""

from __future__ import annotations

import http
import importlib
import json
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias

from ._models import FakeRequest
from ._sse import SSEEvent

if TYPE_CHECKING:
    import httpx
    import httpx2

__all__ = [
    "Payload",
    "Plan",
    "format_seconds",
    "parse_request",
    "payload_plan",
    "respond",
    "sdk_wire",
    "status_message",
]

Payload: TypeAlias = Mapping[str, Any] | list[SSEEvent]
"""What a provider renders for a request: a JSON body, or the events of a stream."""


@dataclass(frozen=True)
class Plan:
    status: int
    headers: Mapping[str, str]
    chunks: tuple[bytes, ...] = ()
    streamed: bool = False
    cut_after: int | None = None
    timeout: bool = False


def parse_request(request: httpx2.Request | httpx.Request) -> FakeRequest:
    try:
        body = json.loads(request.content) if request.content else {}
    except ValueError:
        body = {}
    return FakeRequest(
        method=request.method,
        path=request.url.path,
        url=str(request.url),
        headers=dict(request.headers.items()),
        body=body if isinstance(body, dict) else {},
    )


def _wire(request: httpx2.Request | httpx.Request) -> ModuleType:
    """The library that built ``request`` (``httpx2`` or legacy ``httpx``)."""
    return importlib.import_module(type(request).__module__.partition(".")[0])


def sdk_wire(cls: type[object]) -> ModuleType:
    """The HTTP library the SDK behind client class ``cls`` takes as ``http_client=``.

    openai 3.x and anthropic 2.x use ``httpx2``; older releases (openai < 2.47, anthropic <= 0.125)
    use legacy ``httpx`` and reject an ``httpx2`` client. Read off the SDK's own ``_base_client``.
    """
    for klass in cls.__mro__:
        base_client = sys.modules.get(f"{klass.__module__.partition('.')[0]}._base_client")
        for name in ("httpx2", "httpx"):
            module = getattr(base_client, name, None)
            if isinstance(module, ModuleType):
                return module
    return importlib.import_module("httpx2")


def format_seconds(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else format(value, "g")


def status_message(status: int) -> str:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"{phrase} (injected by the llmguard fake provider)"


def payload_plan(payload: Payload, headers: Mapping[str, str], cut: int | None) -> Plan:
    if isinstance(payload, list):
        chunks = tuple(event.encode() for event in payload)
        sse_headers = {**headers, "content-type": "text/event-stream; charset=utf-8"}
        return Plan(200, sse_headers, chunks, streamed=True, cut_after=cut)
    body = json.dumps(payload).encode()
    json_headers = {**headers, "content-type": "application/json"}
    return Plan(200, json_headers, (body,), cut_after=None if cut is None else 0)


def _iter_chunks(plan: Plan, error: Exception) -> Iterator[bytes]:
    for index, chunk in enumerate(plan.chunks):
        if index == plan.cut_after:
            raise error
        yield chunk
    if plan.cut_after is not None:
        raise error


async def _aiter_chunks(plan: Plan, error: Exception) -> AsyncIterator[bytes]:
    for chunk in _iter_chunks(plan, error):
        yield chunk


def respond(request: httpx2.Request | httpx.Request, plan: Plan, *, asynchronous: bool) -> Any:
    wire = _wire(request)
    if plan.timeout:
        raise wire.ReadTimeout("timeout injected by the llmguard fake provider", request=request)
    if plan.cut_after is None and not plan.streamed:
        content: Any = b"".join(plan.chunks)
    else:
        error = wire.ReadError("stream cut by the llmguard fake provider", request=request)
        content = _aiter_chunks(plan, error) if asynchronous else _iter_chunks(plan, error)
    return wire.Response(plan.status, headers=dict(plan.headers), content=content, request=request)
