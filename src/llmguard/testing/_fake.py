"""The provider-neutral core of the fake providers.

A fake turns each HTTP request into a `Plan` (status, headers, body chunks, and whether to
time out or cut the body) with pure code, then a thin shell renders the plan as an `httpx2`
or legacy `httpx` response, sleeping with `time.sleep` or `asyncio.sleep` on the way.
Providers subclass `FakeProvider` and only describe their payloads and error shape.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast, overload

from ._models import FailureKind, FakeFailure, FakeRequest, FakeUsage, TokenCounts, estimate_tokens
from ._sse import split_words
from ._wire import (
    Payload,
    Plan,
    format_seconds,
    parse_request,
    payload_plan,
    respond,
    sdk_wire,
    status_message,
)

if TYPE_CHECKING:
    import httpx
    import httpx2

__all__ = ["DEFAULT_REPLY", "FakeProvider", "ReplyContext", "collect_text"]

DEFAULT_REPLY = "Hello from the fake provider."
"""The reply text a fake serves when none is configured."""

_ClientT = TypeVar("_ClientT")
_TEXT_KEYS = ("content", "text", "input", "prompt")


@dataclass(frozen=True)
class ReplyContext:
    """Everything a provider needs to render one successful reply."""

    id: str
    model: str
    text: str
    pieces: tuple[str, ...]
    tokens: TokenCounts
    created: int


def collect_text(value: object) -> str:
    """Join the prompt text found in a request body value, for token estimates.

    Args:
        value: A string, a list of messages or content blocks, or a message mapping.

    Returns:
        The strings found under content-like keys, joined by newlines.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(collect_text(item) for item in value)
    if isinstance(value, Mapping):
        return "\n".join(collect_text(value[key]) for key in _TEXT_KEYS if key in value)
    return ""


@dataclass
class _Rule:
    failure: FakeFailure
    predicate: Callable[[FakeRequest], bool]
    remaining: int | None


def _always(_request: FakeRequest) -> bool:
    return True


def _is_async_client_class(cls: type[object]) -> bool:
    return any(
        base.__name__ == "AsyncAPIClient" and base.__module__.partition(".")[0] in {"openai", "anthropic"}
        for base in cls.__mro__
    )


class FakeProvider(ABC):
    """An in-process fake of a provider's HTTP API, served through a mock transport.

    Args:
        reply: The reply text, or a function of the request that returns it.
        model: The served model name, or a function of the request that returns it;
            `None` echoes the requested model.
        usage: Token numbers to report; fields left as `None` are estimated from text lengths.
        latency: Seconds to wait before answering each request.
        chunker: Splits the reply into streamed deltas; defaults to word by word.
        id_factory: Builds response ids from a kind (`"chatcmpl"`, `"resp"`, `"msg"`, ...)
            and the request's sequence number.
    """

    base_url: ClassVar[str]
    """The base URL the fake serves; pass it as the SDK's `base_url`."""

    _request_id_header: ClassVar[str] = "x-request-id"

    def __init__(
        self,
        *,
        reply: str | Callable[[FakeRequest], str] = DEFAULT_REPLY,
        model: str | Callable[[FakeRequest], str] | None = None,
        usage: FakeUsage | None = None,
        latency: float = 0.0,
        chunker: Callable[[str], Sequence[str]] = split_words,
        id_factory: Callable[[str, int], str] | None = None,
    ) -> None:
        self.reply = reply
        self.model = model
        self.usage = usage or FakeUsage()
        self.latency = latency
        self.chunker = chunker
        self.id_factory = id_factory or _default_id
        self._lock = threading.RLock()
        self._calls: list[FakeRequest] = []
        self._counter = 0
        self._queued: list[_Rule] = []
        self._rules: list[_Rule] = []

    # -- accounting ---------------------------------------------------------------------------

    @property
    def calls(self) -> list[FakeRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def call_count(self) -> int:
        """How many requests the fake has received."""
        with self._lock:
            return len(self._calls)

    def reset(self) -> None:
        """Forget recorded calls and pending failures, and restart the id counter."""
        with self._lock:
            self._calls.clear()
            self._queued.clear()
            self._rules.clear()
            self._counter = 0

    # -- failures -----------------------------------------------------------------------------

    def fail_next(
        self,
        kind: FailureKind,
        *,
        times: int = 1,
        retry_after: float | str | None = 0,
        after_chunks: int = 1,
        message: str | None = None,
    ) -> None:
        """Make the next request(s) fail; queued failures apply before `fail_when` rules.

        Args:
            kind: An HTTP status code (429, 500, ...), `"timeout"` to raise the transport's
                `ReadTimeout`, or `"stream_cut"` to raise `ReadError` partway through the body.
            times: How many consecutive requests fail.
            retry_after: The `retry-after` header of a status failure. The SDKs ignore `0` and
                fall back to their own backoff; a small value such as `0.001` retries at once.
            after_chunks: For `"stream_cut"`, the number of SSE events sent before the cut.
                A non-streamed body is cut before its first byte.
            message: The error message; defaults to one derived from the status code.
        """
        failure = FakeFailure(kind, retry_after, after_chunks, message)
        with self._lock:
            self._queued.append(_Rule(failure, _always, times))

    def fail_when(
        self,
        predicate: Callable[[FakeRequest], bool],
        kind: FailureKind,
        *,
        times: int | None = None,
        retry_after: float | str | None = 0,
        after_chunks: int = 1,
        message: str | None = None,
    ) -> None:
        """Make requests that match a predicate fail.

        Args:
            predicate: Called with each request; a true result makes it fail.
            kind: As for `fail_next`.
            times: How many matching requests fail; `None` means all of them.
            retry_after: As for `fail_next`.
            after_chunks: As for `fail_next`.
            message: As for `fail_next`.
        """
        failure = FakeFailure(kind, retry_after, after_chunks, message)
        with self._lock:
            self._rules.append(_Rule(failure, predicate, times))

    # -- transports and clients ---------------------------------------------------------------

    @overload
    def handle(self, request: httpx2.Request) -> httpx2.Response: ...
    @overload
    def handle(self, request: httpx.Request) -> httpx.Response: ...
    def handle(self, request: httpx2.Request | httpx.Request) -> httpx2.Response | httpx.Response:
        """Answer a request synchronously; usable as a mock transport handler or respx side effect.

        Args:
            request: An `httpx2` or legacy `httpx` request.

        Returns:
            A response from the same library as the request.
        """
        plan = self._plan(request)
        if self.latency > 0:
            time.sleep(self.latency)
        return cast("httpx2.Response | httpx.Response", respond(request, plan, asynchronous=False))

    @overload
    async def ahandle(self, request: httpx2.Request) -> httpx2.Response: ...
    @overload
    async def ahandle(self, request: httpx.Request) -> httpx.Response: ...
    async def ahandle(self, request: httpx2.Request | httpx.Request) -> httpx2.Response | httpx.Response:
        """Answer a request asynchronously, streaming the body as an async iterator.

        Args:
            request: An `httpx2` or legacy `httpx` request.

        Returns:
            A response from the same library as the request.
        """
        plan = self._plan(request)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        return cast("httpx2.Response | httpx.Response", respond(request, plan, asynchronous=True))

    def http_client(self, **kwargs: Any) -> httpx2.Client:
        """Build an `httpx2.Client` served by this fake.

        Args:
            **kwargs: Passed on to `httpx2.Client`.

        Returns:
            A client whose every request this fake answers.
        """
        import httpx2  # imported when asked: SDKs before openai 2.47 / anthropic 0.126 do without it

        return cast("httpx2.Client", self._wire_client(httpx2, is_async=False, **kwargs))

    def async_http_client(self, **kwargs: Any) -> httpx2.AsyncClient:
        """Build an `httpx2.AsyncClient` served by this fake.

        Args:
            **kwargs: Passed on to `httpx2.AsyncClient`.

        Returns:
            A client whose every request this fake answers.
        """
        import httpx2

        return cast("httpx2.AsyncClient", self._wire_client(httpx2, is_async=True, **kwargs))

    def legacy_http_client(self, **kwargs: Any) -> httpx.Client:
        """Build a legacy `httpx.Client` served by this fake (needs `httpx` installed).

        The openai SDK accepts it as `http_client=`; anthropic releases after 0.125 reject it.

        Args:
            **kwargs: Passed on to `httpx.Client`.

        Returns:
            A client whose every request this fake answers.
        """
        import httpx  # legacy httpx is optional: import it only when asked

        return cast("httpx.Client", self._wire_client(httpx, is_async=False, **kwargs))

    def legacy_async_http_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """Build a legacy `httpx.AsyncClient` served by this fake (needs `httpx` installed).

        Args:
            **kwargs: Passed on to `httpx.AsyncClient`.

        Returns:
            A client whose every request this fake answers.
        """
        import httpx  # legacy httpx is optional: import it only when asked

        return cast("httpx.AsyncClient", self._wire_client(httpx, is_async=True, **kwargs))

    def _wire_client(self, wire: ModuleType, *, is_async: bool, **kwargs: Any) -> Any:
        """A client of HTTP library ``wire`` (``httpx2`` or ``httpx``) that this fake answers."""
        if is_async:
            return wire.AsyncClient(
                transport=wire.MockTransport(self.ahandle), base_url=self.base_url, **kwargs
            )
        return wire.Client(transport=wire.MockTransport(self.handle), base_url=self.base_url, **kwargs)

    def client(self, cls: type[_ClientT], /, **kwargs: Any) -> _ClientT:
        """Build an SDK client wired to this fake, e.g. `fake.client(openai.AsyncOpenAI)`.

        The HTTP client is built with the library the SDK takes (`httpx2` for openai 3.x and
        anthropic 2.x, legacy `httpx` for older releases), async for async client classes.

        Args:
            cls: The SDK client class, or a subclass of one.
            **kwargs: Passed on to `cls`; they override `api_key`, `base_url` and `http_client`.

        Returns:
            The client; close it (or use it as a context manager) when done.
        """
        options: dict[str, Any] = {"api_key": "test-key", "base_url": self.base_url, **kwargs}
        if "http_client" not in options:
            options["http_client"] = self._wire_client(sdk_wire(cls), is_async=_is_async_client_class(cls))
        built: _ClientT = cast(Any, cls)(**options)
        return built

    # -- helpers for providers ----------------------------------------------------------------

    def reply_text(self, request: FakeRequest) -> str:
        """Return the reply text for a request.

        Args:
            request: The recorded request.

        Returns:
            The configured text, or the configured function's result.
        """
        return self.reply if isinstance(self.reply, str) else self.reply(request)

    def served_model(self, request: FakeRequest) -> str:
        """Return the model name to report for a request.

        Args:
            request: The recorded request.

        Returns:
            The configured model, or the requested one, or `"fake-model"`.
        """
        if self.model is None:
            return request.model or "fake-model"
        return self.model if isinstance(self.model, str) else self.model(request)

    def token_counts(self, prompt: str, reply: str) -> TokenCounts:
        """Resolve the configured usage against a prompt and a reply.

        Args:
            prompt: The prompt text, used when `usage.input_tokens` is `None`.
            reply: The reply text, used when `usage.output_tokens` is `None`.

        Returns:
            The token numbers to report.
        """
        usage = self.usage
        return TokenCounts(
            input=estimate_tokens(prompt) if usage.input_tokens is None else usage.input_tokens,
            output=estimate_tokens(reply) if usage.output_tokens is None else usage.output_tokens,
            cached=usage.cached_tokens,
            cache_write=usage.cache_write_tokens,
            reasoning=usage.reasoning_tokens,
        )

    def reply_context(self, request: FakeRequest, sequence: int, kind: str, prompt: str) -> ReplyContext:
        """Resolve the reply, model, id and usage for one successful request.

        Args:
            request: The recorded request.
            sequence: The request's 1-based sequence number.
            kind: The id kind passed to `id_factory`, e.g. `"chatcmpl"`.
            prompt: The prompt text, for usage estimates.

        Returns:
            The resolved context.
        """
        text = self.reply_text(request)
        return ReplyContext(
            id=self.id_factory(kind, sequence),
            model=self.served_model(request),
            text=text,
            pieces=tuple(self.chunker(text)),
            tokens=self.token_counts(prompt, text),
            created=int(time.time()),
        )

    @abstractmethod
    def render(self, request: FakeRequest, sequence: int) -> Payload | None:
        """Render the successful answer to a request.

        Args:
            request: The recorded request.
            sequence: The request's 1-based sequence number, for ids.

        Returns:
            A JSON body, the events of a stream, or `None` for an unknown endpoint (404).
        """

    @abstractmethod
    def error_body(self, status: int, message: str) -> Mapping[str, Any]:
        """Render an error body in the provider's shape.

        Args:
            status: The HTTP status code.
            message: The human-readable message.

        Returns:
            The JSON error body.
        """

    # -- the pure core ------------------------------------------------------------------------

    def _plan(self, request: httpx2.Request | httpx.Request) -> Plan:
        call = parse_request(request)
        with self._lock:
            self._calls.append(call)
            self._counter += 1
            sequence = self._counter
            failure = self._take_failure(call)
        headers = {self._request_id_header: f"req_fake_{sequence:06d}"}
        if failure is not None and failure.kind == "timeout":
            return Plan(0, headers, timeout=True)
        if failure is not None and isinstance(failure.kind, int):
            return self._error_plan(failure.kind, failure.message, headers, failure.retry_after)
        payload = self.render(call, sequence)
        if payload is None:
            return self._error_plan(404, f"Unknown request URL: {call.method} {call.path}", headers, None)
        return payload_plan(payload, headers, None if failure is None else failure.after_chunks)

    def _take_failure(self, call: FakeRequest) -> FakeFailure | None:
        for rule in (*self._queued, *self._rules):
            if rule.remaining != 0 and rule.predicate(call):
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule.failure
        return None

    def _error_plan(
        self, status: int, message: str | None, headers: Mapping[str, str], retry_after: float | str | None
    ) -> Plan:
        body = json.dumps(self.error_body(status, message or status_message(status))).encode()
        error_headers = {**headers, "content-type": "application/json"}
        if retry_after is not None:
            error_headers["retry-after"] = format_seconds(retry_after)
        return Plan(status, error_headers, (body,))


def _default_id(kind: str, sequence: int) -> str:
    return f"{kind}-fake-{sequence:06d}"
