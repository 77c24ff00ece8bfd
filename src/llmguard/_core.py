"""The sans-I/O interception core: one logical call from request options to an immutable record.

The client shells (`llmguard._intercept`) call `Runtime.begin` with the SDK's request
options before any I/O, then finish the returned `CallContext` exactly once: with the
response object, with stream items as they pass, or with the error. Sync and async differ only in
the shells.

Order of a call: pre-call policies (the pin policy; later a budget check) may rewrite the model or
raise; ``on_start`` observers run (telemetry opens its span); the SDK call happens; the record is
built (cost computed once, here) and ``on_end`` observers run. Observers never affect the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast, runtime_checkable

from . import _context, _record
from ._extract import Accumulator, Identity
from ._internal import advise_once, log_internal_error
from ._lifecycle import Gated, Lifecycle, needs_chunk_gaps
from ._pin_policy import DECLARED, PinPolicy
from ._pins import PinDecision
from ._policy import opted_in, rewrite_model, routed_model, sent_body, unavailable
from ._providers import ClientInfo
from ._record import (
    PROMPT_HEADER,
    CallRecord,
    Cost,
    PromptRef,
    Usage,
    build_record,
    build_usage,
    call_id_of,
    decode_prompt_header,
    encode_prompt_header,
)
from ._refs import remember_response_id
from ._scope import CONTEXT_HEADER, ContextValues, current_context, decode_context_header
from ._settings import Settings
from .exceptions import ContextError, LLMGuardError

__all__ = [
    "ENDPOINTS",
    "PROMPT_HEADER",
    "CallContext",
    "CallObserver",
    "PreCallPolicy",
    "Pricer",
    "Runtime",
    "encode_prompt_header",
]

ENDPOINTS: dict[str, tuple[str, str]] = {
    "/chat/completions": ("chat", "chat.completions"),
    "/responses": ("chat", "responses"),
    "/completions": ("text_completion", "completions"),
    "/embeddings": ("embeddings", "embeddings"),
    "/v1/messages": ("chat", "messages"),
}
"""Request path -> (GenAI operation name, SDK endpoint). Other endpoints pass through untouched."""

RAW_HEADER = "X-Stainless-Raw-Response"
HELPER_HEADER = "X-Stainless-Helper-Method"

USAGE_CHUNK_FIELDS = frozenset(
    {
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "system_fingerprint",
        "service_tier",
        "obfuscation",
    }
)
"""Fields of the usage-only chunk an ``include_usage`` request adds; a chunk with anything else is never hidden."""


def _usage_only(item: Any) -> bool:
    """The chunk is the usage-only chunk: no choices, a usage, and nothing else of substance."""
    if getattr(item, "choices", True) or getattr(item, "usage", None) is None:
        return False
    fields = set(getattr(item, "model_fields_set", ())) | set(getattr(item, "model_extra", None) or ())
    return fields <= USAGE_CHUNK_FIELDS


def _decode_prompt_header(value: str) -> PromptRef | None:
    try:
        return decode_prompt_header(value)
    except ValueError:
        advise_once(
            "prompt-header", value[:64], f"llmguard: ignoring malformed {PROMPT_HEADER} header {value[:64]!r}"
        )
        return None


_OWN_HEADERS = frozenset({PROMPT_HEADER, CONTEXT_HEADER})


def _apply_context_header(call: CallContext, value: object) -> None:
    """Apply a per-call context header on top of the ambient context (a malformed one is ignored, once advised)."""
    if not isinstance(value, str):
        return
    try:
        values = decode_context_header(value)
    except ContextError as exc:
        advise_once("context-header", value[:64], f"llmguard: ignoring {exc}")
        return
    call.scope = values if call.scope is None else call.scope.merged(values)


@runtime_checkable
class CallObserver(Protocol):
    """Sees every call: ``on_start`` before the SDK call, ``on_end`` exactly once after it.

    Both run inline on the caller's thread (or, for an abandoned stream, the garbage collector's):
    keep them microsecond-scale and queue anything slower. Exceptions are logged, never raised.

    An observer may also implement `llmguard._lifecycle.Lifecycle` (``needs_cost``, ``flush``,
    ``shutdown``; `llmguard._lifecycle.LifecycleBase` has no-op defaults): ``needs_cost()`` is asked
    once, when the runtime is built; when every observer watching a call says ``False`` the call is
    not priced (``record.cost`` is ``None``). An observer that does not implement it always gets the
    cost. `llmguard.Guard.flush` and `llmguard.Guard.close` call its ``flush`` and ``shutdown``.

    A `Lifecycle` observer that reads a stream's ``record.chunk_gaps_s`` says so with
    ``needs_chunk_gaps() -> True`` (`llmguard._lifecycle.ChunkTimed`); the gaps are kept only when
    a watching observer reads them (any observer that is not a `Lifecycle` gets them).

    And ``active() -> bool`` (`llmguard._lifecycle.Gated`), asked once per call before ``on_start``:
    ``False`` leaves the observer out of that call entirely (neither hook runs). A call no observer
    watches builds no record.
    """

    def on_start(self, call: CallContext) -> None:
        """A call is about to be sent."""

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """A call finished (successfully or not); ``record`` is final."""


PreCallPolicy = Callable[["CallContext"], None]
"""Runs before any I/O; may rewrite ``call.request_model`` or raise an `llmguard.LLMGuardError`."""

Pricer = Callable[[str, str | None, Usage], Cost | None]
"""(provider, served model, usage) -> cost, or ``None`` when the model has no known price."""


class CallContext:
    """The mutable state of one in-flight call. Observers may read it and use ``extras``."""

    __slots__ = (
        "_call_id",
        "_number",
        "acc",
        "api",
        "chunk_gaps",
        "extras",
        "finished",
        "first_chunk",
        "hide_usage_chunk",
        "info",
        "kind",
        "last_chunk",
        "locked_model",
        "observers",
        "operation",
        "pin",
        "prompt",
        "raw",
        "record",
        "request",
        "request_model",
        "requested_model",
        "retries",
        "runtime",
        "scope",
        "sdk_helper",
        "span",
        "span_id",
        "start_ns",
        "start_perf",
        "stream",
        "trace_id",
        "want_output",
    )

    def __init__(
        self, runtime: Runtime, info: ClientInfo, operation: str, api: str, body: Mapping[str, Any]
    ) -> None:
        self.runtime = runtime
        self.info = info
        self.operation = operation
        self.api = api
        self.request: Mapping[str, Any] = body
        model = body.get("model")
        self.requested_model: str | None = model if isinstance(model, str) else None
        self.request_model = self.requested_model
        self.locked_model: str | None = None
        self.pin: PinDecision | None = None
        self._call_id: str | None = None
        self.observers: tuple[CallObserver, ...] = ()
        """The observers watching this call (chosen once, before ``on_start``)."""
        self.kind: str = _context.call_kind.get()
        self.prompt: PromptRef | None = _context.current_prompt.get()
        self.scope: ContextValues | None = current_context.get()
        """The call context (user, session, tags, metadata), or ``None`` when none applies."""
        self.stream = bool(body.get("stream"))
        self.raw = False
        self.sdk_helper: str | None = None
        self.hide_usage_chunk = False
        self.want_output = False
        self.trace_id: str | None = None
        self.span_id: str | None = None
        self.span: Any = None
        self.extras: dict[str, Any] = {}
        self.retries = 0
        self.first_chunk: float | None = None
        self.last_chunk = 0.0
        self.chunk_gaps: list[float] | None = None
        """Seconds between consecutive streamed items, after the first; ``None`` when no observer reads them."""
        self.finished = False
        self.record: CallRecord | None = None
        self.acc: Accumulator = None  # type: ignore[assignment]  # set in Runtime.begin after observers ran
        """What the response carried. For an unstreamed call no observer watches, only its id and served
        model (an `Identity`): observers never see such a call."""
        self.start_ns = time.time_ns()
        self.start_perf = time.perf_counter()
        self._number = next(_record.call_numbers)  # the id is made from it and start_ns when first asked for

    @property
    def call_id(self) -> str:
        """The call's id, made on first use (calls no one asks about never need one)."""
        call_id = self._call_id
        if call_id is None:
            call_id = self._call_id = call_id_of(self.start_ns, self._number)
        return call_id

    # -- outcomes ---------------------------------------------------------------------------------
    def on_item(self, item: Any) -> bool:
        """Record one streamed item; returns False when the item must be hidden from the user."""
        now = time.perf_counter()
        if self.first_chunk is None:
            self.first_chunk = now
        elif self.chunk_gaps is not None:
            self.chunk_gaps.append(now - self.last_chunk)
        self.last_chunk = now
        self.acc.item(item)
        return not (self.hide_usage_chunk and _usage_only(item))

    def succeed(self, response: Any = None) -> None:
        """Finish with a complete response object (or, for streams, what the items carried)."""
        if self.finished:
            return
        if response is not None:
            if self.observers:
                self.acc.final(response)
            else:  # nothing reads the record: only the identity the call-ref index and pins use
                self.acc.identity(response)
        self._finish(None, stream_completed=True if self.stream else None)

    def fail(self, error: BaseException) -> None:
        """Finish with an error (provider errors are recorded, then re-raised untouched by the caller)."""
        if not self.finished:
            self._finish(error, stream_completed=False if self.stream else None)

    def settle(self) -> None:
        """Finish a raw call whose body the user read (or closed) without parsing: usage unknown."""
        if not self.finished:
            self._finish(None, stream_completed=None)

    def abandon(self) -> None:
        """Finish a call whose stream or raw response was closed early or garbage-collected: not an error."""
        if not self.finished:
            self._finish(None, stream_completed=False if self.stream else None)

    def _finish(self, error: BaseException | None, *, stream_completed: bool | None) -> None:
        self.finished = True
        try:
            self.runtime.end(self, error, stream_completed)
        except Exception:
            log_internal_error("call record")


class Runtime:
    """A guard's compiled pipeline: settings, pre-call policies, pricer and observers."""

    def __init__(
        self,
        settings: Settings,
        *,
        observers: Sequence[CallObserver] = (),
        policies: Sequence[PreCallPolicy] = (),
        pricer: Pricer | None = None,
    ) -> None:
        self.settings = settings
        self.observers = tuple(observers)
        self.policies = tuple(policies)
        self.pricer = pricer
        # Observers may sit a call out (`Gated`: `active() -> False`, e.g. telemetry with no provider set).
        self._gates = tuple((o, o.active if isinstance(o, Gated) else None) for o in self.observers)
        self._gated = any(gate is not None for _, gate in self._gates)
        # Cost is priced only when an observer watching the call can read it: a `Lifecycle` observer
        # may say it never does (`needs_cost() -> False`, e.g. judging), asked once, here.
        self._priced = frozenset(id(o) for o in self.observers if _needs_cost(o))
        self._all_priced = bool(self._priced)
        self._gapped = frozenset(id(o) for o in self.observers if needs_chunk_gaps(o))
        self.guard: Any = None
        """The `llmguard.Guard` compiled into this runtime (set by ``Guard.runtime``; feedback routes by it)."""
        self.pins = PinPolicy.from_settings(settings)
        """The pin policy (decide, lock, drift), or ``None`` when it is ``off``: then no pin work at all."""

    # -- before I/O -------------------------------------------------------------------------------
    def begin(self, info: ClientInfo, options: Any) -> tuple[CallContext, Any] | None:
        """Run pre-call policies and ``on_start`` observers; return the context and options to send.

        Returns ``None`` for endpoints llmguard does not record (they pass through untouched).
        Raises `llmguard.UnpinnedModelError` (or another opted-in policy error) before any I/O, and
        `llmguard.PolicyUnavailableError` when an opted-in policy cannot be evaluated (fail closed).
        """
        url = options.url
        route = ENDPOINTS.get(url) or ENDPOINTS.get(url.split("?", 1)[0])
        if route is None or options.method.lower() != "post":
            return None
        body = sent_body(options)  # json_data merged with extra_body: what policies judge
        if body is None:
            return None
        call = CallContext(self, info, route[0], route[1], body)
        # Chosen before the pre-call policies, which may skip work no watching observer reads.
        call.observers = observers = self._watching() if self._gated else self.observers
        try:
            options = self._pre_call(call, options, body)
        except LLMGuardError:
            raise
        except Exception as exc:
            policy = opted_in(self.settings, self.policies)
            if policy is None:
                raise  # nothing opted in: the shell logs it and the call passes through unguarded
            raise unavailable(policy, exc) from exc
        for observer in observers:
            try:
                observer.on_start(call)
            except Exception:
                log_internal_error("on_start")
        if observers or call.stream:
            call.acc = Accumulator(call.api, call.want_output)
        else:  # no observer reads the record: the id and served model are all that is read
            call.acc = cast(Accumulator, Identity())
        if call.stream and self._gapped and not self._gapped.isdisjoint(map(id, observers)):
            call.chunk_gaps = []
        return call, options

    def _pre_call(self, call: CallContext, options: Any, body: Mapping[str, Any]) -> Any:
        """Headers, the pin policy and pre-call policies; returns the options to send."""
        headers = options.headers
        changes: dict[str, Any] = {}
        if headers:
            self._read_headers(call, headers, changes)
        if call.prompt is not None and call.prompt.tags:
            call.scope = (call.scope or ContextValues()).with_tags(call.prompt.tags)
        pins = self.pins
        if pins is not None:
            model = call.requested_model
            if model is not None:  # decided once per model (may raise the policy's refusal)
                decision = pins.allowed.get((model, call.info.pin_provider))  # the common case, inline
                if decision is None:
                    decision = pins.decide(model, call.info.pin_provider)
                call.pin = decision
                if decision.action == "rewrite":
                    call.request_model = decision.effective
                    call.locked_model = decision.locked
            if pins.mode == "enforce" and call.info.pin_provider == "azure":  # only Azure routes by URL
                routed = routed_model(options, call.info.pin_provider)
                if routed is not None:
                    pins.refuse_routed(routed)
        if call.prompt is not None and call.prompt.model and call.prompt.model != call.requested_model:
            self._prompt_model_changed(call.prompt, call.requested_model)
        for policy in self.policies:
            policy(call)
        if call.request_model != call.requested_model and call.request_model is not None:
            rewrite_model(options, changes, call.request_model)
        if call.stream and self._should_inject_usage(call, body):
            changes["json_data"] = {
                **changes.get("json_data", options.json_data or {}),
                "stream_options": {"include_usage": True},
            }
            # The SDK's stream helpers consume the usage chunk themselves (and expose it on the final
            # completion); plain iteration gets it hidden, so `chunk.choices[0]` keeps working.
            call.hide_usage_chunk = call.sdk_helper is None
        if changes:
            options = options.model_copy(update=changes)
            call.request = sent_body(options) or call.request
        return options

    def _watching(self) -> tuple[CallObserver, ...]:
        """The observers active for one call, in order."""
        watching = []
        for observer, gate in self._gates:
            try:
                if gate is None or gate():
                    watching.append(observer)
            except Exception:
                log_internal_error("observer active")
        return tuple(watching)

    def _read_headers(self, call: CallContext, headers: Mapping[str, Any], changes: dict[str, Any]) -> None:
        raw = headers.get(RAW_HEADER)
        if raw is not None and not isinstance(raw, bool):
            call.raw = True
        helper = headers.get(HELPER_HEADER)
        if isinstance(helper, str):
            call.sdk_helper = helper
        strip = False
        for key in headers:
            lower = key.lower()
            if lower == PROMPT_HEADER:
                value = headers[key]
                if isinstance(value, str):
                    call.prompt = _decode_prompt_header(value) or call.prompt
                strip = True
            elif lower == CONTEXT_HEADER:
                _apply_context_header(call, headers[key])
                strip = True
        if strip:
            changes["headers"] = {k: v for k, v in headers.items() if k.lower() not in _OWN_HEADERS}

    def _prompt_model_changed(self, prompt: PromptRef, model: str | None) -> None:
        advise_once(
            "prompt-model",
            f"{prompt.name}@{prompt.version}:{model}",
            f"llmguard: prompt {prompt.name}@{prompt.version} was designed for {prompt.model!r} but is called with "
            f"{model!r}; a model change is a deployment event: evaluate it before shipping",
            python_warning=self.settings.python_warnings,
        )

    def _should_inject_usage(self, call: CallContext, body: Mapping[str, Any]) -> bool:
        return (
            call.stream
            and bool(call.observers)  # usage no observer reads is not asked for
            and not call.raw
            and call.info.openai_family
            and call.api in ("chat.completions", "completions")
            and "stream_options" not in body
            and self.settings.inject_stream_usage
        )

    # -- after the call ---------------------------------------------------------------------------
    def end(
        self, call: CallContext, error: BaseException | None, stream_completed: bool | None
    ) -> CallRecord | None:
        """Build the immutable record and run ``on_end`` observers (no record when none watches)."""
        acc = call.acc
        end = time.perf_counter()
        served = acc.response_model
        drift = False
        pin = call.pin  # None when the pin policy is off
        if (
            pin is not None
            and served is not None
            and self.pins is not None
            # the common case, without a call: served what was sent, nothing declared otherwise
            and (
                served != pin.effective
                or pin.locked not in (None, served)
                or call.info.pin_provider in DECLARED
            )
        ):
            drift = self.pins.drift(pin, call.info.pin_provider, served)
        if acc.response_id:
            remember_response_id(acc.response_id, call, served or call.request_model)
        if not call.observers:
            return None
        usage = build_usage(
            acc.input_tokens, acc.output_tokens, acc.cache_read, acc.cache_write, acc.reasoning
        )
        cost = None
        if (
            self.pricer is not None
            and error is None
            and acc.input_tokens is not None
            and self._wants_cost(call)
        ):
            try:
                cost = self.pricer(call.info.provider, served or call.request_model, usage)
            except Exception:
                log_internal_error("cost")
        call.record = record = self._record(call, error, stream_completed, usage, cost, drift, end)
        for observer in call.observers:
            try:
                observer.on_end(call, record)
            except Exception:
                log_internal_error("on_end")
        return record

    def _record(
        self,
        call: CallContext,
        error: BaseException | None,
        stream_completed: bool | None,
        usage: Usage,
        cost: Cost | None,
        drift: bool,
        end: float,
    ) -> CallRecord:
        acc = call.acc
        info = call.info
        # Positionally, in `CallRecord`'s field order (keywords cost about 9k instructions more a call);
        # tests/test_hot_path.py checks that every field gets its own value.
        return build_record(
            call.call_id,  # call_id
            call.kind,  # kind
            self.settings.service_name,  # service_name
            self.settings.environment,  # environment
            info.provider,  # provider
            call.operation,  # operation
            call.api,  # api
            call.requested_model,  # requested_model
            call.request_model,  # request_model
            call.locked_model,  # locked_model
            acc.response_model,  # response_model
            call.pin.action if call.pin else "off",  # pin_action
            drift,  # drift
            call.stream,  # stream
            stream_completed,  # stream_completed
            acc.response_id,  # response_id
            tuple(acc.finish_reasons),  # finish_reasons
            usage,  # usage
            call.start_ns,  # start_time_ns
            end - call.start_perf,  # duration_s
            None if call.first_chunk is None else call.first_chunk - call.start_perf,  # time_to_first_chunk_s
            call.retries,  # retries
            _error_type(error),  # error_type
            tuple(call.chunk_gaps) if call.chunk_gaps else (),  # chunk_gaps_s
            error,  # error
            call.prompt,  # prompt
            call.scope,  # context
            cost,  # cost
            call.trace_id,  # trace_id
            call.span_id,  # span_id
            info.server_address,  # server_address
            info.server_port,  # server_port
            acc.service_tier,  # service_tier
            acc.system_fingerprint,  # system_fingerprint
            acc.dimensions,  # embedding_dimensions
            call.request,  # request
            acc.output_text(),  # output_text
        )

    def _wants_cost(self, call: CallContext) -> bool:
        """Whether an observer watching ``call`` reads its cost (declared once, at compile time)."""
        observers = call.observers
        if observers is self.observers:
            return self._all_priced
        return not self._priced.isdisjoint(map(id, observers))  # C loops: no Python frame per observer


def _needs_cost(observer: CallObserver) -> bool:
    """Whether ``observer`` reads the cost: always, unless it is a `Lifecycle` that says it never does."""
    return not isinstance(observer, Lifecycle) or observer.needs_cost()


def _error_type(error: BaseException | None) -> str | None:
    if error is None:
        return None
    cls = type(error)
    module = cls.__module__.split(".", 1)[0]
    return f"{module}.{cls.__qualname__}" if module not in ("builtins", "__main__") else cls.__qualname__
