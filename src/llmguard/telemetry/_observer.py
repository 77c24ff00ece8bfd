"""One OpenTelemetry CLIENT span per logical call, plus the GenAI metrics.

``on_start`` opens the span with an explicit ``tracer.start_span`` (parented on the caller's
current context, never made current, so no context is held across stream yields) and gives the
call its trace and span ids; ``on_end`` sets the outcome from the immutable record and ends the
span exactly once, at the call's own end time. Attribute work happens only when the span is
recording; with no tracer provider configured a call costs a no-op span.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.environment_variables import OTEL_PYTHON_METER_PROVIDER, OTEL_PYTHON_TRACER_PROVIDER
from opentelemetry.metrics import _internal as _metrics_internal
from opentelemetry.trace import ProxyTracerProvider, SpanKind, Status, StatusCode

from llmguard._contract import Links, Parts
from llmguard._core import CallContext
from llmguard._lifecycle import LifecycleBase
from llmguard._options import TelemetryFeatureOptions
from llmguard._record import CallRecord
from llmguard._version import __version__

from . import _semconv as sc
from ._content import Budget, dumps, input_messages, output_messages, system_instructions
from ._genai import (
    OPENAI_API_TYPES,
    context_attributes,
    embedding_attributes,
    embeddings_request_attributes,
    openai_request_attributes,
    output_type,
    response_service_attributes,
)
from ._metrics import Metrics
from ._options import TelemetryOptions

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = [
    "FEATURE",
    "TelemetryFeature",
    "TelemetryObserver",
    "build_observer",
    "end_attributes",
    "request_attributes",
]

_NUMBERS: dict[str, str] = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
}
"""Request body key -> attribute, for numeric request parameters."""


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def static_attributes(call: CallContext) -> dict[str, Any]:
    """The attributes every call of one (client, operation, request model) shares (computed once per triple)."""
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: call.operation,
        sc.GEN_AI_PROVIDER_NAME: call.info.provider,
    }
    if call.request_model:
        attrs[sc.GEN_AI_REQUEST_MODEL] = call.request_model
    if call.info.server_address:
        attrs[sc.SERVER_ADDRESS] = call.info.server_address
    if call.info.server_port:
        attrs[sc.SERVER_PORT] = call.info.server_port
    return attrs


_OPTIONAL_KEYS = frozenset(
    {
        "stop",
        "stop_sequences",
        "n",
        "modalities",
        "response_format",
        "text",
        "output_format",
        "output_config",
        "service_tier",
        "encoding_format",
        "dimensions",
    }
)
"""Request keys behind the attributes that `_optional_attributes` reads (a plain request names none)."""


def request_attributes(call: CallContext) -> dict[str, Any]:
    """The per-call request-side attributes (beyond `static_attributes`)."""
    body: Mapping[str, Any] = call.request
    attrs: dict[str, Any] = {sc.LLMGUARD_CALL_ID: call.call_id}
    for key in body:  # a request names a few of the many parameters: walk the request, not the table
        name = _NUMBERS.get(key)
        if name is not None:
            value = body[key]
            if _number(value):
                attrs[name] = value
    if not _OPTIONAL_KEYS.isdisjoint(body):  # one C loop over the request's keys
        _optional_attributes(call, body, attrs)
    if call.stream:
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
    if call.info.provider == "openai":
        api_type = OPENAI_API_TYPES.get(call.api)
        if api_type is not None:
            attrs[sc.OPENAI_API_TYPE] = api_type
    _guard_attributes(call, attrs)
    return attrs


def _optional_attributes(call: CallContext, body: Mapping[str, Any], attrs: dict[str, Any]) -> None:
    """Stop sequences, choice count, output type, service tier and embedding options, when requested.

    Runs only for requests that name a key of `_OPTIONAL_KEYS`: a request key read here (or in the
    `llmguard.telemetry._genai` helpers it calls) must be listed there too.
    """
    stop = body.get("stop_sequences") if call.api == "messages" else body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,)
        elif isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop):
            attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    count = body.get("n")
    if count is not None and _number(count) and count != 1:
        attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = count
    kind = output_type(call.api, body)
    if kind is not None:
        attrs[sc.GEN_AI_OUTPUT_TYPE] = kind
    if call.operation == "embeddings":
        embeddings_request_attributes(body, attrs)
    if call.info.provider == "openai":
        openai_request_attributes(body, attrs)


def _guard_attributes(call: CallContext, attrs: dict[str, Any]) -> None:
    if call.kind != "app":
        attrs[sc.LLMGUARD_CALL_KIND] = call.kind
    if call.pin is not None:
        attrs[sc.LLMGUARD_PIN_ACTION] = call.pin.action
    if call.requested_model and call.requested_model != call.request_model:
        attrs[sc.LLMGUARD_MODEL_REQUESTED] = call.requested_model
    if call.locked_model:
        attrs[sc.LLMGUARD_MODEL_LOCKED] = call.locked_model
    prompt = call.prompt
    if prompt is not None:
        attrs[sc.GEN_AI_PROMPT_NAME] = prompt.name
        attrs[sc.LLMGUARD_PROMPT_VERSION] = prompt.version
        if prompt.label:
            attrs[sc.LLMGUARD_PROMPT_LABEL] = prompt.label
        if prompt.content_hash:
            attrs[sc.LLMGUARD_PROMPT_HASH] = prompt.content_hash


def end_attributes(
    record: CallRecord, *, omit_usage: bool = False, legacy_cache: bool = False, legacy_cost: bool = False
) -> dict[str, Any]:
    """The outcome attributes of a finished call: response, usage, cost, llmguard facts."""
    attrs: dict[str, Any] = {}
    if record.response_id:
        attrs[sc.GEN_AI_RESPONSE_ID] = record.response_id
    if record.response_model:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = record.response_model
    if record.finish_reasons:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = record.finish_reasons
    if record.service_tier is not None or record.system_fingerprint is not None:
        response_service_attributes(record, attrs)
    if record.embedding_dimensions is not None:
        embedding_attributes(record, attrs)
    if record.time_to_first_chunk_s is not None:
        attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = record.time_to_first_chunk_s
    if record.stream_completed is not None:
        attrs[sc.LLMGUARD_STREAM_COMPLETED] = record.stream_completed
    if record.retries:
        attrs[sc.LLMGUARD_RETRIES] = record.retries
    if record.drift:
        attrs[sc.LLMGUARD_MODEL_DRIFT] = True
    if record.error_type is not None:
        attrs[sc.ERROR_TYPE] = record.error_type
    if omit_usage:
        attrs[sc.LLMGUARD_USAGE_OMITTED] = True
    else:
        _usage_attributes(record, attrs, legacy_cache)
        _cost_attributes(record, attrs, legacy_cost)
    return attrs


def _usage_attributes(record: CallRecord, attrs: dict[str, Any], legacy_cache: bool) -> None:
    usage = record.usage
    if usage.input_tokens is not None:
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
    if usage.output_tokens is not None:
        attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
    if usage.cache_read_tokens is not None:
        attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_tokens
    if usage.cache_write_tokens is not None:
        attrs[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cache_write_tokens
        if legacy_cache:
            attrs[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_write_tokens
    if usage.reasoning_tokens is not None:
        attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens


def _cost_attributes(record: CallRecord, attrs: dict[str, Any], legacy_cost: bool = False) -> None:
    cost = record.cost
    if cost is None:
        if record.error_type is None and record.usage.output_tokens is not None:
            attrs[sc.LLMGUARD_COST_PRICED] = False
        return
    total = float(cost.total)
    attrs[sc.GEN_AI_USAGE_COST_AMOUNT] = total
    attrs[sc.GEN_AI_USAGE_COST_CURRENCY] = "USD"
    attrs[sc.GEN_AI_USAGE_COST_SOURCE] = "local"
    if legacy_cost:
        attrs[sc.GEN_AI_USAGE_COST] = total
    # no `llmguard.cost.priced=true`: the amount says it (each attribute costs the SDK a validation pass)
    attrs[sc.LLMGUARD_COST_INPUT] = float(cost.input)
    attrs[sc.LLMGUARD_COST_OUTPUT] = float(cost.output)
    if cost.cache_read:  # each attribute costs the SDK a validation pass: zero shares are left out
        attrs[sc.LLMGUARD_COST_CACHE_READ] = float(cost.cache_read)
    if cost.cache_write:
        attrs[sc.LLMGUARD_COST_CACHE_WRITE] = float(cost.cache_write)
    attrs[sc.LLMGUARD_COST_SOURCE] = cost.source
    if cost.data_version:
        attrs[sc.LLMGUARD_COST_DATA_VERSION] = cost.data_version


class _Shape:
    """What every call of one (client, operation, request model) shares, computed once."""

    __slots__ = ("attributes", "info", "name")

    def __init__(self, call: CallContext) -> None:
        self.info = call.info
        model = call.request_model
        self.name = f"{call.operation} {model}" if model else call.operation
        self.attributes = static_attributes(call)


_CLIENT = SpanKind.CLIENT
"""Read once: an enum member read from its class costs a look-up each time."""

_MAX_SHAPES = 1024
"""Cached shapes per observer; the cache starts over when full (model names are not unbounded in practice)."""


class TelemetryObserver(LifecycleBase):
    """The `llmguard.CallObserver` that emits spans and metrics.

    Args:
        tracer: Where spans go.
        metrics: The instruments, or ``None`` to record no metrics.
        options: Telemetry options.
        capture_content: Record message content on spans.
    """

    __slots__ = (
        "_idle_while_unset",
        "_shapes",
        "capture_content",
        "global_meter",
        "global_tracer",
        "metrics",
        "options",
        "tracer",
    )

    def __init__(
        self,
        tracer: trace.Tracer,
        metrics: Metrics | None,
        options: TelemetryOptions,
        *,
        capture_content: bool,
        global_tracer: bool = False,
        global_meter: bool = False,
    ) -> None:
        self.tracer = tracer
        self.metrics = metrics
        self.options = options
        self.capture_content = capture_content
        self.global_tracer = global_tracer
        """The tracer comes from the global provider: skip spans while no provider is installed."""
        self.global_meter = global_meter
        """The meter comes from the global provider: skip metrics while no provider is installed."""
        self._shapes: dict[tuple[int, str, str | None], _Shape] = {}
        self._idle_while_unset = global_tracer and (metrics is None or global_meter)
        """Both signals wait for global providers: `active` first asks the one cheap question."""

    def _tracing(self) -> bool:
        if not self.global_tracer:
            return True
        if _unset(trace, "_TRACER_PROVIDER", OTEL_PYTHON_TRACER_PROVIDER):
            return False
        if isinstance(trace.get_tracer_provider(), ProxyTracerProvider):
            return False
        self.global_tracer = False  # the global provider is set once and for all: stop checking
        return True

    def _metering(self) -> bool:
        if self.metrics is None:
            return False
        if not self.global_meter:
            return True
        if _meter_unset():
            return False
        self.global_meter = False  # set once and for all, as for tracing
        return True

    def active(self) -> bool:
        """Watch a call only when its span or its metrics go somewhere (OpenTelemetry is configured)."""
        if self._idle_while_unset:
            if _NO_GLOBAL_PROVIDERS():
                return False  # the common case of an app without OpenTelemetry: two reads, no calls
            self._idle_while_unset = False
        return self._tracing() or self._metering()

    def needs_cost(self) -> bool:
        """Spans and metrics carry the cost (asked only for calls this observer watches: `active`)."""
        return True

    def needs_chunk_gaps(self) -> bool:
        """Only the opt-in per-chunk metric (``TelemetryOptions(chunk_metric=True)``) reads the gaps."""
        return self.metrics is not None and self.metrics.chunk is not None

    def _shape(self, call: CallContext) -> _Shape:
        info = call.info
        key = (id(info), call.operation, call.request_model)
        shape = self._shapes.get(key)
        if shape is None or shape.info is not info:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            shape = self._shapes[key] = _Shape(call)
        return shape

    def on_start(self, call: CallContext) -> None:
        """Open the call's span and give the call its trace and span ids."""
        if not self._tracing():
            return  # metrics only: a span would be a no-op anyway
        shape = self._shape(call)
        attrs = request_attributes(call)
        attrs.update(shape.attributes)  # all at creation: one attribute pass, visible to samplers
        if call.scope is not None:
            context_attributes(call.scope, attrs, user_id=self.options.user_id)
        span = self.tracer.start_span(shape.name, kind=_CLIENT, attributes=attrs, start_time=call.start_ns)
        call.span = span
        context = span.get_span_context()
        trace_id = context.trace_id
        span_id = context.span_id
        if trace_id and span_id:  # `context.is_valid`, without its property calls
            try:  # 32 and 16 lowercase hex digits, as `format(id, "032x")` at half the instructions
                call.trace_id = trace_id.to_bytes(16, "big").hex()
                call.span_id = span_id.to_bytes(8, "big").hex()
            except OverflowError:  # an id generator outside the spec's 128 and 64 bits
                call.trace_id = format(trace_id, "032x")
                call.span_id = format(span_id, "016x")
        if self.capture_content and span.is_recording():
            call.want_output = True
            self._input_content(call, span)

    def _input_content(self, call: CallContext, span: trace.Span) -> None:
        budget = Budget(self.options.content_max_bytes, self.options.redact)
        attrs: dict[str, Any] = {
            sc.GEN_AI_INPUT_MESSAGES: dumps(input_messages(call.api, call.request, budget))
        }
        system = system_instructions(call.api, call.request, budget)
        if system:
            attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = dumps(system)
        if budget.truncated:
            attrs[sc.LLMGUARD_CONTENT_TRUNCATED] = True
        span.set_attributes(attrs)

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """Set the outcome on the span, end it once, and record the metrics."""
        span = call.span
        if span is not None:
            if span.is_recording():
                self._finish_span(call, span, record)
            span.end(end_time=record.start_time_ns + int(record.duration_s * 1e9))
        if self.metrics is not None and self._metering():
            self.metrics.record(record)

    def _finish_span(self, call: CallContext, span: trace.Span, record: CallRecord) -> None:
        # With the Anthropic SDK's own tracing on, its span nests inside this one (see `llmguard._intercept`),
        # so this span keeps usage and cost.
        attrs = end_attributes(
            record, legacy_cache=self.options.legacy_cache_creation, legacy_cost=self.options.legacy_cost
        )
        if self.capture_content and record.output_text is not None:
            budget = Budget(self.options.content_max_bytes, self.options.redact)
            attrs[sc.GEN_AI_OUTPUT_MESSAGES] = dumps(output_messages(record, budget))
            if budget.truncated:
                attrs[sc.LLMGUARD_CONTENT_TRUNCATED] = True
        span.set_attributes(attrs)
        if record.error_type is not None:
            span.set_status(Status(StatusCode.ERROR, record.error_type))


class TelemetryFeature:
    """The telemetry `llmguard._features.Feature`: one span and the GenAI metrics per call."""

    name = "telemetry"

    def options(self, guard: Guard) -> TelemetryFeatureOptions:
        """``telemetry=`` over ``[tool.llmguard.telemetry]``, content capture and providers."""
        return TelemetryFeatureOptions.resolve(guard)

    def build(self, options: TelemetryFeatureOptions, links: Links) -> Parts:
        """The telemetry observer (none with ``TelemetryOptions(enabled=False)``)."""
        observer = build_observer(options)
        return Parts(observer=observer)


def build_observer(options: TelemetryFeatureOptions) -> TelemetryObserver | None:
    """The telemetry observer of ``options`` (``None`` when ``TelemetryOptions(enabled=False)``)."""
    telemetry = options.telemetry
    if not telemetry.enabled:
        return None
    providers = options.providers
    tracer = trace.get_tracer(
        "llmguard", __version__, tracer_provider=providers.tracer_provider, schema_url=sc.SCHEMA_URL
    )
    instruments = None
    if telemetry.metrics:
        meter = metrics.get_meter(
            "llmguard", __version__, meter_provider=providers.meter_provider, schema_url=sc.SCHEMA_URL
        )
        instruments = Metrics(meter, legacy_cost=telemetry.legacy_cost, chunk_metric=telemetry.chunk_metric)
    return TelemetryObserver(
        tracer,
        instruments,
        telemetry,
        capture_content=options.capture_content,
        global_tracer=providers.tracer_provider is None,
        global_meter=providers.meter_provider is None,
    )


FEATURE = TelemetryFeature()
"""The telemetry feature, as `llmguard._features.FEATURES` names it."""


def _meter_unset() -> bool:
    """No global meter provider is installed yet (the API's proxy answers)."""
    if _unset(_metrics_internal, "_METER_PROVIDER", OTEL_PYTHON_METER_PROVIDER):
        return True
    return _PROXY_METER_PROVIDER is not None and isinstance(
        metrics.get_meter_provider(), _PROXY_METER_PROVIDER
    )


_ENVIRONMENT_PROVIDERS = frozenset(
    name for name in (OTEL_PYTHON_TRACER_PROVIDER, OTEL_PYTHON_METER_PROVIDER) if name in os.environ
)
"""Global providers named by environment variable at import (the API loads those on first use)."""


def _unset(module: object, attribute: str, variable: str) -> bool:
    """Certainly no global provider yet: the API's module global is still ``None`` and no variable names one.

    A cheap answer to a question asked on every call: the API's own getter looks the variable up in
    ``os.environ`` (a ``KeyError`` raised and caught each time). Whenever this cannot be sure (another
    API version, the variable set), it says ``False`` and the caller asks the API.
    """
    return getattr(module, attribute, False) is None and variable not in _ENVIRONMENT_PROVIDERS


def _no_global_providers() -> bool:
    """Certainly neither global provider is installed (`_unset` for both, in one frame)."""
    return trace._TRACER_PROVIDER is None and _metrics_internal._METER_PROVIDER is None


def _never() -> bool:
    return False


_NO_GLOBAL_PROVIDERS = (
    _no_global_providers
    if hasattr(trace, "_TRACER_PROVIDER")
    and hasattr(_metrics_internal, "_METER_PROVIDER")
    and not _ENVIRONMENT_PROVIDERS
    else _never
)
"""`_no_global_providers` where this API version keeps its providers in those globals (else: ask the API)."""


def _proxy_meter_provider() -> type | None:
    """The API's proxy meter provider class (not public API; ``None`` means: always record)."""
    try:
        from opentelemetry.metrics._internal import _ProxyMeterProvider
    except ImportError:  # pragma: no cover - depends on the opentelemetry-api version
        return None
    return _ProxyMeterProvider


_PROXY_METER_PROVIDER = _proxy_meter_provider()
