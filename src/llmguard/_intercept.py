"""The client shells: one choke point per client at the SDK's ``request`` method.

``request`` sees every logical call (all retries, the final error, the returned stream) of every
endpoint. A stream made inside ``request`` finds its call in the active-call context variable; a
raw response, parsed later, carries it in ``response.extensions`` (put there when ``request``
returns), so both finish the same record. Retries are counted where the SDK sleeps before one
(``_sleep_for_retry``), so a call that is not retried pays nothing for them; SDKs older than that
hook get the count from ``_process_response``. Sync and async shells differ only by ``await``.
"""

from __future__ import annotations

import importlib
import os
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ._context import active_call
from ._env import ANTHROPIC_OPEN_TELEMETRY_PREFIX
from ._internal import log_internal_error
from ._policy import guard_policies, unavailable
from ._providers import ClientInfo, client_info
from ._refs import remember
from ._streams import CALL_KEY, GUARDED_STREAM_TYPES, guarded_stream_cls
from .exceptions import ConfigurationError, LLMGuardError

if TYPE_CHECKING:
    from ._core import CallContext, Runtime
    from ._guard import Guard

__all__ = [
    "anthropic_telemetry_default",
    "async_shell",
    "check_guard",
    "enter_span",
    "exit_span",
    "shell_namespace",
    "sync_shell",
]


def anthropic_telemetry_default(kwargs: dict[str, Any]) -> None:
    """Turn the Anthropic SDK's own spans off unless the user configured them (one span per call)."""
    if kwargs.get("open_telemetry") is None and not any(
        k.startswith(ANTHROPIC_OPEN_TELEMETRY_PREFIX) for k in os.environ
    ):
        kwargs["open_telemetry"] = False


def check_guard(guard: object) -> Guard | None:
    """``guard=`` must be an `llmguard.Guard` (or ``None``): anything else is refused at construction."""
    if guard is None:
        return None
    from ._guard import Guard

    if not isinstance(guard, Guard):
        raise ConfigurationError(
            f"guard=: expected an llmguard.Guard, got {type(guard).__name__} {guard!r:.80}; "
            "build one, e.g. guard=llmguard.Guard(environment='production'), or omit it to use the "
            "process default (llmguard.configure(...))"
        )
    return guard


class _Shell:
    """Helpers shared by the sync and async shells.

    Never a base class: its members are copied into each guarded class, which derives from the SDK
    class alone, so a guarded client has exactly the SDK's object layout (the SDK itself sometimes
    re-types objects between its own class and ours, which needs identical layouts).
    """

    _llmguard_guard: Guard | None
    _llmguard_info: ClientInfo | None

    def _llmguard_init(self, guard: Guard | None) -> None:
        self._llmguard_guard = guard
        self._llmguard_info = None

    @property
    def guard(self) -> Guard:
        """The active `llmguard.Guard`: the one given as ``guard=``, else the process default."""
        if self._llmguard_guard is not None:
            return self._llmguard_guard
        from ._guard import get_default_guard

        return get_default_guard()

    def _llmguard_begin(self, options: Any) -> tuple[CallContext, Any] | None:
        guard: Guard | None = self._llmguard_guard
        try:
            if guard is None:
                guard = self.guard  # the process default
            runtime: Runtime = guard.runtime
            info = self._llmguard_info
            if info is None:
                info = self._llmguard_info = client_info(self)
        except LLMGuardError:
            raise
        except Exception as exc:
            policy = guard_policies(guard)
            if policy is not None:  # opted-in policies fail closed
                raise unavailable(policy, exc) from exc
            log_internal_error("request start")
            return None
        try:
            return runtime.begin(info, options)
        except LLMGuardError:
            raise
        except Exception:
            log_internal_error("request start")
            return None

    def _llmguard_copy(self, new: Any, guard: Guard | None) -> Any:
        new._llmguard_guard = guard if guard is not None else self._llmguard_guard
        return new

    @staticmethod
    def _llmguard_hand_over(call: CallContext, response: Any, stream: bool) -> None:
        if (stream or call.raw) and CALL_KEY not in response.extensions:
            response.extensions[CALL_KEY] = call
            if call.raw and not response.is_closed:
                response.stream = closing_stream(response.stream, call)

    @staticmethod
    def _llmguard_returned(call: CallContext, result: Any, cast_to: Any) -> None:
        remember(result, call)
        if call.finished or type(result) in GUARDED_STREAM_TYPES:
            return  # a guarded stream finishes the call itself
        http = getattr(result, "http_response", None) if call.raw else None
        if http is None:
            call.succeed(result)
            return
        _Shell._llmguard_hand_over(call, http, call.stream)  # parsed (or read) after this return
        weakref.finalize(http, call.abandon)
        if not call.stream:
            _parse_read_body(call, http, cast_to)

    @staticmethod
    def _llmguard_parsed(response: Any, parsed: Any) -> None:
        call = response.extensions.get(CALL_KEY)
        if call is not None and call.raw and not call.stream:
            remember(parsed, call)
            if not call.finished:
                call.succeed(parsed)


_closing_classes: dict[type, type] = {}


def closing_stream(inner: Any, call: CallContext) -> Any:
    """Wrap an unread raw body so that closing it (``with_streaming_response`` exit) finishes the call."""
    cls = _closing_classes.get(type(inner))
    if cls is None:
        cls = _closing_classes[type(inner)] = _closing_class(inner)
    return cls(inner, call)


def _closing_class(inner: Any) -> type:
    module = importlib.import_module(type(inner).__module__.split(".", 1)[0])
    base = module.AsyncByteStream if isinstance(inner, module.AsyncByteStream) else module.SyncByteStream

    class _Closing(base):  # type: ignore[misc, valid-type]
        def __init__(self, inner: Any, call: CallContext) -> None:
            self._inner = inner
            self._call = call

        def __iter__(self) -> Iterator[bytes]:
            yield from self._inner

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for part in self._inner:
                yield part

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                self._call.settle()

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                self._call.settle()

    return _Closing


def _parse_read_body(call: CallContext, http: Any, cast_to: Any) -> None:
    """A raw, already-read response: take usage from its body now, without consuming the user's parse."""
    try:
        content = http.content
    except Exception:
        return  # not read yet (with_streaming_response): finished by .parse() or garbage collection
    try:
        # The SDK that owns the response type builds it (openai's builder returns a plain dict for
        # anthropic models, and the other way round).
        sdk = importlib.import_module(f"{getattr(cast_to, '__module__', 'openai').split('.', 1)[0]}._models")
        call.succeed(sdk.construct_type(type_=cast_to, value=http.json()) if content else None)
    except Exception:
        call.succeed(None)


def enter_span(call: CallContext) -> object | None:
    """Make the call's span current while the SDK runs, when the Anthropic SDK traces too.

    The SDK opens its own span inside ``request``; made current here, llmguard's span is its
    parent (as with the official instrumentations), so both keep their usage. Returns the token
    for `exit_span`, or ``None`` when nothing was attached (the common case: no OpenTelemetry work).
    """
    if call.span is None or not call.info.sdk_traces:
        return None
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(call.span))


def exit_span(token: object | None) -> None:
    """Undo `enter_span`."""
    if token is not None:
        from opentelemetry import context

        context.detach(token)  # type: ignore[arg-type]


def _hand_over_retries(response: Any, stream: bool, retries_taken: int) -> None:
    """``_process_response``'s part on SDKs without ``_sleep_for_retry``: the retries, and the hand-over."""
    call = active_call.get()
    if call is not None:
        call.retries = retries_taken
        if stream or call.raw:
            _Shell._llmguard_hand_over(call, response, stream)


def _count_retry(retries_taken: int) -> None:
    """The SDK sleeps before retry ``retries_taken + 1`` of the active call."""
    call = active_call.get()
    if call is not None:
        call.retries = retries_taken + 1


def _retry_hooks(base: type, is_async: bool) -> dict[str, Any]:
    """Count retries where the SDK sleeps before one (no cost on a call that is not retried).

    SDKs older than ``_sleep_for_retry`` (openai 1.40 and anthropic 0.43 are such) retry by recursion:
    for them ``_process_response`` reads ``retries_taken`` and hands streams their call.
    """
    sdk_sleep = getattr(base, "_sleep_for_retry", None)
    if sdk_sleep is not None and is_async:

        async def _async_sleep(self: Any, *, retries_taken: int, **kwargs: Any) -> Any:
            _count_retry(retries_taken)
            return await sdk_sleep(self, retries_taken=retries_taken, **kwargs)

        return {"_sleep_for_retry": _async_sleep}
    if sdk_sleep is not None:

        def _sleep(self: Any, *, retries_taken: int, **kwargs: Any) -> Any:
            _count_retry(retries_taken)
            return sdk_sleep(self, retries_taken=retries_taken, **kwargs)

        return {"_sleep_for_retry": _sleep}
    sdk_process = base._process_response  # type: ignore[attr-defined]
    if is_async:

        async def _async_process(
            self: Any, *, response: Any, stream: bool, retries_taken: int = 0, **kwargs: Any
        ) -> Any:
            _hand_over_retries(response, stream, retries_taken)
            return await sdk_process(
                self, response=response, stream=stream, retries_taken=retries_taken, **kwargs
            )

        return {"_process_response": _async_process}

    def _process(self: Any, *, response: Any, stream: bool, retries_taken: int = 0, **kwargs: Any) -> Any:
        _hand_over_retries(response, stream, retries_taken)
        return sdk_process(self, response=response, stream=stream, retries_taken=retries_taken, **kwargs)

    return {"_process_response": _process}


def sync_shell(base: type) -> dict[str, Any]:
    """The interception methods of a synchronous client class deriving from ``base``.

    They are placed in the guarded class itself (single inheritance keeps the SDK's object layout)
    and call ``base``'s methods explicitly.
    """
    sdk_request = base.request  # type: ignore[attr-defined]
    sdk_data = base._process_response_data  # type: ignore[attr-defined]

    def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        # ``args``/``kwargs``: ``stream``, ``stream_cls``, and the ``remaining_retries`` of openai < 1.76
        # and anthropic < 0.45, passed through as given.
        started = self._llmguard_begin(options)
        if started is None:
            return sdk_request(self, cast_to, options, *args, **kwargs)
        call, options = started
        if kwargs.get("stream") and kwargs.get("stream_cls") is not None:  # a stream only when asked to
            kwargs["stream_cls"] = guarded_stream_cls(kwargs["stream_cls"], is_async=False)
        token = active_call.set(call)
        # The span is made current only when the Anthropic SDK traces too (see `enter_span`).
        span_token = enter_span(call) if call.span is not None and call.info.sdk_traces else None
        try:
            result = sdk_request(self, cast_to, options, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            if span_token is not None:
                exit_span(span_token)
            active_call.reset(token)
        self._llmguard_returned(call, result, cast_to)
        return result

    def _process_response_data(self: Any, *, data: object, cast_to: Any, response: Any) -> Any:
        parsed = sdk_data(self, data=data, cast_to=cast_to, response=response)
        extensions = response.extensions
        if extensions and CALL_KEY in extensions:  # a raw call's response (see `_llmguard_hand_over`)
            self._llmguard_parsed(response, parsed)
        return parsed

    request.__doc__ = "The SDK's single request entry point, guarded."
    return {"request": request, "_process_response_data": _process_response_data, **_retry_hooks(base, False)}


def async_shell(base: type) -> dict[str, Any]:
    """The interception methods of an asynchronous client class deriving from ``base``."""
    sdk_request = base.request  # type: ignore[attr-defined]
    sdk_data = base._process_response_data  # type: ignore[attr-defined]

    async def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        # ``args``/``kwargs``: ``stream``, ``stream_cls``, and the ``remaining_retries`` of openai < 1.76
        # and anthropic < 0.45, passed through as given.
        started = self._llmguard_begin(options)
        if started is None:
            return await sdk_request(self, cast_to, options, *args, **kwargs)
        call, options = started
        if kwargs.get("stream") and kwargs.get("stream_cls") is not None:  # a stream only when asked to
            kwargs["stream_cls"] = guarded_stream_cls(kwargs["stream_cls"], is_async=True)
        token = active_call.set(call)
        # The span is made current only when the Anthropic SDK traces too (see `enter_span`).
        span_token = enter_span(call) if call.span is not None and call.info.sdk_traces else None
        try:
            result = await sdk_request(self, cast_to, options, *args, **kwargs)
        except BaseException as exc:
            call.fail(exc)
            raise
        finally:
            if span_token is not None:
                exit_span(span_token)
            active_call.reset(token)
        self._llmguard_returned(call, result, cast_to)
        return result

    def _process_response_data(self: Any, *, data: object, cast_to: Any, response: Any) -> Any:
        parsed = sdk_data(self, data=data, cast_to=cast_to, response=response)
        extensions = response.extensions
        if extensions and CALL_KEY in extensions:  # a raw call's response (see `_llmguard_hand_over`)
            self._llmguard_parsed(response, parsed)
        return parsed

    request.__doc__ = "The SDK's single request entry point, guarded."
    return {"request": request, "_process_response_data": _process_response_data, **_retry_hooks(base, True)}


def shell_namespace(base: type, *, is_async: bool) -> dict[str, Any]:
    """Everything a guarded client class adds to ``base``: helpers, the ``guard`` property, hooks."""
    helpers = {k: v for k, v in vars(_Shell).items() if not k.startswith("__")}
    return {**helpers, **(async_shell(base) if is_async else sync_shell(base))}
