"""``feedback_app(guard)``: a dependency-free ASGI endpoint for browser feedback.

``POST`` a JSON object ``{"token", "name", "value", "comment"?, "user_id"?, "metadata"?}`` where
``token`` comes from ``guard.feedback_token(response)``. Route it anywhere (FastAPI/Starlette
``app.add_route("/feedback", feedback_app(guard), methods=["POST", "OPTIONS"])``); it answers
every path and ``root_path`` it is given. (Starlette's ``app.mount("/feedback", ...)`` serves
it under ``/feedback/`` and redirects ``/feedback`` with a 307.)

Status codes: 200 stored; 400 malformed JSON or fields (including lone surrogates, numbers outside
the float range and nesting deeper than `MAX_DEPTH`); 403 invalid or expired token, a name or user
the token does not allow, or an origin not allowed; 405 other methods; 413 body too large; 415 not
JSON; 422 invalid value; 429 too many requests from one client or with one token. Errors are JSON
``{"error": code, "detail": message}``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmguard.exceptions import FeedbackError, FeedbackTokenError

from ._api import record_entry, resolve_token
from ._model import make_entry

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["MAX_DEPTH", "ASGIApp", "FeedbackApp", "RateLimiter", "feedback_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FIELDS = frozenset({"token", "name", "value", "comment", "user_id", "metadata"})
REQUIRED = ("token", "name", "value")
MAX_DEPTH = 16
"""Deepest JSON nesting accepted in a body (``metadata`` included)."""
_MAX_DIGITS = 309
"""Integers with more digits than this are outside the float range a feedback value may take."""


class RateLimiter:
    """Fixed-window request counts per key, in bounded memory (oldest keys forgotten first).

    Args:
        limit: Requests allowed per key and window (``None``: unlimited).
        window_s: The window, in seconds.
        max_keys: Keys remembered at most.
    """

    def __init__(self, limit: int | None, window_s: float, *, max_keys: int = 10_000) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one request; the seconds until the key may retry when it is over its limit, else None."""
        if self.limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.pop(key, (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            self._counts[key] = (start, count + 1)
            while len(self._counts) > self.max_keys:
                self._counts.popitem(last=False)
        return start + self.window_s - now if count >= self.limit else None


class _HTTPError(Exception):
    def __init__(
        self, status: int, code: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, list(headers)


class FeedbackApp:
    """The ASGI application built by `feedback_app`."""

    def __init__(
        self,
        guard: Guard | None,
        *,
        allow_origins: Sequence[str],
        max_body: int,
        token_limit: int | None = 20,
        client_limit: int | None = 300,
        window_s: float = 60.0,
    ) -> None:
        self.guard = guard
        self.allow_origins = frozenset(origin.rstrip("/") for origin in allow_origins)
        self.max_body = max_body
        self.per_token = RateLimiter(token_limit, window_s)
        self.per_client = RateLimiter(client_limit, window_s)

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
        client = scope.get("client")
        _limit(self.per_client, str(client[0]) if client else "", "this client")
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
            claims, owner = resolve_token(payload["token"], self.guard)
            _limit(self.per_token, payload["token"].rsplit(".", 1)[-1], "this token")
            ref = claims.ref
            entry = make_entry(
                ref,
                payload["name"],
                payload["value"],
                comment=payload.get("comment"),
                user_id=claims.check(payload["name"], payload.get("user_id")),
                metadata=payload.get("metadata"),
                source="token",
            )
        except FeedbackTokenError as exc:
            raise _HTTPError(403, "invalid_token", str(exc)) from None
        except FeedbackError as exc:
            raise _HTTPError(422, "invalid_feedback", str(exc)) from None
        entry = await anyio.to_thread.run_sync(record_entry, owner, entry)
        return {"ok": True, "call_id": ref.call_id, "name": entry.name, "judging": entry.judging}


def _limit(limiter: RateLimiter, key: str, who: str) -> None:
    retry = limiter.hit(key)
    if retry is not None:
        seconds = str(max(1, math.ceil(retry))).encode()
        raise _HTTPError(
            429,
            "too_many_requests",
            f"too much feedback from {who}; retry later",
            [(b"retry-after", seconds)],
        )


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise _HTTPError(400, "invalid_number", "a number is outside the range of a float")
    return int(text)


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _HTTPError(400, "invalid_number", "a number is outside the range of a float")
    return number


def _no_constant(text: str) -> None:
    raise _HTTPError(400, "invalid_number", f"{text} is not a number feedback accepts")


def _check_tree(payload: Any) -> None:
    """Refuse nesting deeper than `MAX_DEPTH` and strings that are not valid Unicode (lone surrogates)."""
    stack: list[tuple[Any, int]] = [(payload, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _HTTPError(400, "too_deep", f"the body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _HTTPError(
                    400, "invalid_text", "a string is not valid Unicode (lone surrogate)"
                ) from None
        elif isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(
            body, parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant
        )
    except RecursionError:
        raise _HTTPError(400, "too_deep", f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise _HTTPError(400, "invalid_json", "the body is not valid JSON") from None
    _check_tree(payload)
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
    guard: Guard | None = None,
    *,
    allow_origins: Sequence[str] = (),
    max_body: int = 16_384,
    token_limit: int | None = 20,
    client_limit: int | None = 300,
    window_s: float = 60.0,
) -> FeedbackApp:
    """An ASGI app recording browser feedback sent with a signed token.

    Args:
        guard: The guard whose secret verifies tokens and whose sink stores feedback (default:
            the default guard at request time).
        allow_origins: Origins allowed to POST cross-origin (CORS), e.g. ``["https://app.example"]``;
            ``"*"`` allows any (the token is the credential). Same-origin requests are always allowed.
        max_body: The largest accepted body, in bytes.
        token_limit: Requests accepted per token and window (``None``: unlimited); more get 429.
        client_limit: Requests accepted per client address and window (``None``: unlimited). Behind a
            proxy every request may share one address: raise it, or limit at the proxy.
        window_s: The rate-limit window, in seconds.

    Returns:
        The ASGI application.
    """
    if isinstance(allow_origins, str):
        allow_origins = [allow_origins]
    return FeedbackApp(
        guard,
        allow_origins=allow_origins,
        max_body=max_body,
        token_limit=token_limit,
        client_limit=client_limit,
        window_s=window_s,
    )
