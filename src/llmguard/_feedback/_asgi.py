"""``feedback_app(guard)``: a dependency-free ASGI endpoint for browser feedback.

``POST`` a JSON object ``{"token", "name", "value", "comment"?, "user_id"?, "metadata"?}`` where
``token`` comes from ``guard.feedback_token(response)``. Route it anywhere (FastAPI/Starlette
``app.add_route("/feedback", feedback_app(guard), methods=["POST", "OPTIONS"])``); it answers
every path and ``root_path`` it is given. (Starlette's ``app.mount("/feedback", ...)`` serves
it under ``/feedback/`` and redirects ``/feedback`` with a 307.)

Status codes: 200 stored; 400 malformed JSON or fields; 403 invalid or expired token, or an
origin not allowed; 405 other methods; 413 body too large; 415 not JSON; 422 invalid value.
Errors are JSON ``{"error": code, "detail": message}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmguard.exceptions import FeedbackError, FeedbackTokenError

from ._api import record_entry, resolve
from ._model import make_entry

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["ASGIApp", "FeedbackApp", "feedback_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FIELDS = frozenset({"token", "name", "value", "comment", "user_id", "metadata"})
REQUIRED = ("token", "name", "value")


class _HTTPError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, list(headers)


class FeedbackApp:
    """The ASGI application built by `feedback_app`."""

    def __init__(self, guard: Guard | None, *, allow_origins: Sequence[str], max_body: int) -> None:
        self.guard = guard
        self.allow_origins = frozenset(origin.rstrip("/") for origin in allow_origins)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        origin = headers.get("origin")
        cors = self._cors_headers(origin, headers)
        try:
            status, body = await self._handle(scope, receive, headers, origin, cors)
        except _HTTPError as exc:
            await _send_json(send, exc.status, {"error": exc.code, "detail": exc.detail}, cors + exc.headers)
            return
        await _send_json(send, status, body, cors)

    async def _handle(
        self, scope: Scope, receive: Receive, headers: dict[str, str], origin: str | None, cors: list[Any]
    ) -> tuple[int, Any]:
        method = scope["method"].upper()
        if origin is not None and not cors:
            raise _HTTPError(403, "origin_not_allowed", f"origin {origin!r} is not allowed to send feedback")
        if method == "OPTIONS":
            return 204, None
        if method != "POST":
            raise _HTTPError(405, "method_not_allowed", "use POST", [(b"allow", b"POST, OPTIONS")])
        if headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
            raise _HTTPError(415, "unsupported_media_type", "send the feedback as application/json")
        payload = _parse(await self._read_body(receive, headers))
        return 200, await self._record(payload)

    def _cors_headers(self, origin: str | None, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        if origin is None or not self._allowed(origin, headers.get("host")):
            return []
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", b"content-type"),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin"),
        ]

    def _allowed(self, origin: str, host: str | None) -> bool:
        if "*" in self.allow_origins or origin.rstrip("/") in self.allow_origins:
            return True
        return host is not None and urlsplit(origin).netloc == host  # same origin

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            raise _HTTPError(413, "payload_too_large", f"the body must be at most {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _HTTPError(400, "disconnected", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _HTTPError(413, "payload_too_large", f"the body must be at most {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _record(self, payload: dict[str, Any]) -> dict[str, Any]:
        import anyio.to_thread

        try:
            ref, owner, call, _ = resolve(payload["token"], self.guard)
            entry = make_entry(
                ref,
                payload["name"],
                payload["value"],
                comment=payload.get("comment"),
                user_id=payload.get("user_id"),
                metadata=payload.get("metadata"),
                source="token",
            )
        except FeedbackTokenError as exc:
            raise _HTTPError(403, "invalid_token", str(exc)) from None
        except FeedbackError as exc:
            raise _HTTPError(422, "invalid_feedback", str(exc)) from None
        entry = await anyio.to_thread.run_sync(record_entry, owner, entry, call)
        return {"ok": True, "call_id": ref.call_id, "name": entry.name, "judging": entry.judging}


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _HTTPError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _HTTPError(400, "invalid_json", "the body must be a JSON object")
    unknown = sorted(set(payload) - FIELDS)
    if unknown:
        raise _HTTPError(
            400, "unknown_field", f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(FIELDS))}"
        )
    missing = [key for key in REQUIRED if key not in payload]
    if missing:
        raise _HTTPError(400, "missing_field", f"missing field {missing[0]!r}")
    if not isinstance(payload["token"], str):
        raise _HTTPError(400, "invalid_field", "'token' must be a string")
    return payload


async def _send_json(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    data = b"" if body is None else json.dumps(body).encode()
    base = [(b"cache-control", b"no-store"), (b"content-length", str(len(data)).encode())]
    if body is not None:
        base.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": base + headers})
    await send({"type": "http.response.body", "body": data})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def feedback_app(
    guard: Guard | None = None, *, allow_origins: Sequence[str] = (), max_body: int = 16_384
) -> FeedbackApp:
    """An ASGI app recording browser feedback sent with a signed token.

    Args:
        guard: The guard whose secret verifies tokens and whose sink stores feedback (default:
            the default guard at request time).
        allow_origins: Origins allowed to POST cross-origin (CORS), e.g. ``["https://app.example"]``;
            ``"*"`` allows any (the token is the credential). Same-origin requests are always allowed.
        max_body: The largest accepted body, in bytes.

    Returns:
        The ASGI application.
    """
    if isinstance(allow_origins, str):
        allow_origins = [allow_origins]
    return FeedbackApp(guard, allow_origins=allow_origins, max_body=max_body)
