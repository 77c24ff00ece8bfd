"""GenAI conformance: a fixed request set, its spans' attributes against the spec's requirement levels.

Offline: fake providers behind the SDKs' own transports, real spans in an ``InMemorySpanExporter``.
The levels come from `semconv_genai_levels` (a small table whose source is named there); the names
from the installed ``opentelemetry-semantic-conventions``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import (
    gen_ai_attributes,
    openai_attributes,
    server_attributes,
    session_attributes,
    user_attributes,
)
from opentelemetry.semconv.attributes import error_attributes

import llmguard
from llmguard._extract import anthropic_finish_reason, responses_finish_reason
from llmguard.telemetry import semconv as sc
from llmguard.testing import FakeAnthropic, FakeOpenAI
from semconv_genai_levels import ANTHROPIC_INFERENCE, EMBEDDINGS, OPENAI_INFERENCE, Entry

OPENAI_MODEL = "gpt-4o-2024-08-06"
ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"
MESSAGES: Any = [{"role": "user", "content": "Say hello"}]


@dataclass(frozen=True)
class Case:
    """One request of the fixed set."""

    id: str
    vendor: str
    api: str
    body: dict[str, Any]
    extra_body: dict[str, Any] | None = None
    fail: bool = False
    session: bool = True
    table: Mapping[str, Entry] = field(default_factory=dict)

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def sent(self) -> dict[str, Any]:
        return {**self.body, **(self.extra_body or {})}


def _chat(**body: Any) -> dict[str, Any]:
    return {"model": OPENAI_MODEL, "messages": MESSAGES, **body}


def _messages(**body: Any) -> dict[str, Any]:
    return {"model": ANTHROPIC_MODEL, "max_tokens": 64, "messages": MESSAGES, **body}


_SCHEMA = {"type": "json_schema", "name": "greeting", "schema": {"type": "object", "properties": {}}}

CASES: tuple[Case, ...] = (
    Case(
        "chat-all-params",
        "openai",
        "chat",
        _chat(
            temperature=0.3,
            top_p=0.9,
            max_tokens=50,
            seed=7,
            stop=["END"],
            frequency_penalty=0.1,
            presence_penalty=0.2,
            n=2,
            response_format={"type": "json_object"},
            service_tier="flex",
        ),
        table=OPENAI_INFERENCE,
    ),
    Case("chat-stream", "openai", "chat", _chat(stream=True, service_tier="auto"), table=OPENAI_INFERENCE),
    Case(
        "chat-extra-body",
        "openai",
        "chat",
        _chat(),
        extra_body={"temperature": 0.1, "top_k": 40},
        table=OPENAI_INFERENCE,
    ),
    Case("chat-error", "openai", "chat", _chat(temperature=1.0), fail=True, table=OPENAI_INFERENCE),
    Case(
        "responses-json",
        "openai",
        "responses",
        {"model": OPENAI_MODEL, "input": "Say hello", "text": {"format": _SCHEMA}, "temperature": 0.5},
        table=OPENAI_INFERENCE,
    ),
    Case(
        "responses-stream",
        "openai",
        "responses",
        {"model": OPENAI_MODEL, "input": "Say hello", "stream": True},
        session=False,
        table=OPENAI_INFERENCE,
    ),
    Case(
        "embeddings-float",
        "openai",
        "embeddings",
        {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 8, "encoding_format": "float"},
        table=EMBEDDINGS,
    ),
    Case(
        "embeddings-default",
        "openai",
        "embeddings",
        {"model": "text-embedding-3-small", "input": "a"},
        table=EMBEDDINGS,
    ),
    Case(
        "messages-extra-body",
        "anthropic",
        "messages",
        _messages(stop_sequences=["END"]),
        extra_body={"temperature": 0.2, "top_k": 5, "top_p": 0.8},
        table=ANTHROPIC_INFERENCE,
    ),
    Case("messages-stream", "anthropic", "messages", _messages(stream=True), table=ANTHROPIC_INFERENCE),
    Case(
        "messages-json",
        "anthropic",
        "messages",
        _messages(),
        extra_body={"output_format": {"type": "json_schema", "schema": {"type": "object"}}},
        session=False,
        table=ANTHROPIC_INFERENCE,
    ),
    Case("messages-error", "anthropic", "messages", _messages(), fail=True, table=ANTHROPIC_INFERENCE),
)


def _call(client: Any, case: Case) -> list[Any]:
    """Send ``case`` and consume it; returns the objects the user saw (response, or stream items)."""
    kwargs = {**case.body}
    if case.extra_body:
        kwargs["extra_body"] = case.extra_body
    if case.api == "chat":
        result = client.chat.completions.create(**kwargs)
    elif case.api == "responses":
        result = client.responses.create(**kwargs)
    elif case.api == "embeddings":
        result = client.embeddings.create(**kwargs)
    else:
        result = client.messages.create(**kwargs)
    return list(result) if case.stream else [result]


def run_case(
    case: Case, guard: llmguard.Guard, exporter: InMemorySpanExporter
) -> tuple[dict[str, Any], list[Any]]:
    """Run one case through a guarded client; return its span's attributes and what the user saw."""
    fake: Any = FakeOpenAI() if case.vendor == "openai" else FakeAnthropic()
    cls: Any = llmguard.OpenAI if case.vendor == "openai" else llmguard.Anthropic
    if case.fail:
        fake.fail_next(400)
    seen: list[Any] = []
    with fake.client(cls, guard=guard, max_retries=0) as client:
        scope = llmguard.context(session_id="conv-1") if case.session else llmguard.context()
        with scope:
            if case.fail:
                with pytest.raises((openai.BadRequestError, anthropic.BadRequestError)):
                    _call(client, case)
            else:
                seen = _call(client, case)
    (span,) = exporter.get_finished_spans()
    exporter.clear()
    return dict(span.attributes or {}), seen


def _response_has(seen: list[Any], name: str) -> bool:
    return any(getattr(item, name, None) is not None for item in seen) or any(
        getattr(getattr(item, "response", None), name, None) is not None for item in seen
    )


def _output_format(case: Case) -> bool:
    sent = case.sent
    text = sent.get("text")
    return any(
        (
            "response_format" in sent,
            isinstance(text, Mapping) and "format" in text,
            "output_format" in sent,
        )
    )


def holds(condition: str, case: Case, attrs: Mapping[str, Any], seen: list[Any]) -> bool:
    """Whether a requirement condition of `semconv_genai_levels` holds for this case."""
    kind, _, key = condition.partition(":")
    sent = case.sent
    checks: dict[str, Callable[[], bool]] = {
        "always": lambda: True,
        "error": lambda: case.fail,
        "ok": lambda: not case.fail,
        "stream": lambda: case.stream and not case.fail,
        "server_address": lambda: server_attributes.SERVER_ADDRESS in attrs,
        "session": lambda: case.session,
        "request": lambda: key in sent,
        "request_not_auto": lambda: key in sent and sent[key] != "auto",
        "request_not_one": lambda: key in sent and sent[key] != 1,
        "output_format": lambda: _output_format(case),
        "response": lambda: not case.fail and _response_has(seen, key),
    }
    return bool(checks[kind]())


def missing(case: Case, attrs: Mapping[str, Any], seen: list[Any]) -> set[str]:
    """Attributes the spec requires or recommends for this case that the span lacks."""
    expected = {name for name, (_, condition) in case.table.items() if holds(condition, case, attrs, seen)}
    return expected - set(attrs)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_required_and_recommended_attribute_is_set(
    case: Case, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    guard = llmguard.Guard(pin_policy="off", tracer_provider=provider)
    try:
        attrs, seen = run_case(case, guard, exporter)
    finally:
        guard.close()
    assert missing(case, attrs, seen) == set()
    assert attrs[gen_ai_attributes.GEN_AI_PROVIDER_NAME] == case.vendor


_KNOWN_MODULES = (
    gen_ai_attributes,
    openai_attributes,
    server_attributes,
    session_attributes,
    user_attributes,
)
_KNOWN = {v for m in _KNOWN_MODULES for k, v in vars(m).items() if k.isupper() and isinstance(v, str)}
_KNOWN |= {error_attributes.ERROR_TYPE}
_DEPARTURES = {
    sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,  # the registry's newer name, not yet in the package
    sc.GEN_AI_USAGE_COST_AMOUNT,  # the cost proposal, semantic-conventions-genai PR 443
    sc.GEN_AI_USAGE_COST_CURRENCY,
    sc.GEN_AI_USAGE_COST_SOURCE,
}


def test_every_emitted_name_is_a_convention_or_documented(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    guard = llmguard.Guard(pin_policy="off", tracer_provider=provider)
    names: set[str] = set()
    try:
        for case in CASES:
            names |= set(run_case(case, guard, exporter)[0])
    finally:
        guard.close()
    foreign = {n for n in names if not n.startswith("llmguard.")} - _KNOWN - _DEPARTURES
    assert foreign == set()
    assert {sc.GEN_AI_OUTPUT_TYPE, sc.OPENAI_API_TYPE, sc.GEN_AI_CONVERSATION_ID} <= names


# -- values, one behaviour each ---------------------------------------------------------------------


def _attrs_of(case: Case, **guard_kwargs: Any) -> dict[str, Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    guard = llmguard.Guard(pin_policy="off", tracer_provider=provider, **guard_kwargs)
    try:
        return run_case(case, guard, exporter)[0]
    finally:
        guard.close()
        provider.shutdown()


def _case(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def test_extra_body_parameters_win_over_the_body() -> None:
    case = Case("override", "openai", "chat", _chat(temperature=0.9), extra_body={"temperature": 0.1})
    assert _attrs_of(case)[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.1  # the SDK merges extra_body last
    anthropic = _attrs_of(_case("messages-extra-body"))
    assert (anthropic[sc.GEN_AI_REQUEST_TEMPERATURE], anthropic[sc.GEN_AI_REQUEST_TOP_K]) == (0.2, 5)


@pytest.mark.parametrize(
    ("case_id", "output_type"),
    [("chat-all-params", "json"), ("responses-json", "json"), ("messages-json", "json")],
)
def test_output_type(case_id: str, output_type: str) -> None:
    assert _attrs_of(_case(case_id))[sc.GEN_AI_OUTPUT_TYPE] == output_type


def test_openai_service_tier_and_fingerprint() -> None:
    flex = _attrs_of(_case("chat-all-params"))
    assert flex[sc.OPENAI_REQUEST_SERVICE_TIER] == "flex"
    assert flex[sc.OPENAI_RESPONSE_SERVICE_TIER] == "flex"
    assert flex[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT].startswith("fp_")
    assert flex[sc.OPENAI_API_TYPE] == "chat_completions"
    auto = _attrs_of(_case("chat-stream"))
    assert sc.OPENAI_REQUEST_SERVICE_TIER not in auto  # 'auto' is not recorded
    assert auto[sc.OPENAI_RESPONSE_SERVICE_TIER] == "default"  # what it resolved to
    assert _attrs_of(_case("responses-stream"))[sc.OPENAI_API_TYPE] == "responses"
    assert sc.OPENAI_API_TYPE not in _attrs_of(_case("embeddings-float"))
    assert not any(k.startswith("openai.") for k in _attrs_of(_case("messages-stream")))


def test_embeddings_dimensions_and_formats() -> None:
    floats = _attrs_of(_case("embeddings-float"))
    assert floats[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 8
    assert floats[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == ("float",)
    default = _attrs_of(_case("embeddings-default"))
    assert default[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] > 0  # from the returned vector
    assert default[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == ("base64",)  # what the SDK sent on the wire


def test_finish_reasons_are_the_conventions_values() -> None:
    assert _attrs_of(_case("responses-json"))[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert _attrs_of(_case("responses-stream"))[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert _attrs_of(_case("messages-stream"))[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


class _Obj:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (_Obj(status="completed", output=[_Obj(type="message")]), "stop"),
        (_Obj(status="completed", output=[_Obj(type="message"), _Obj(type="function_call")]), "tool_call"),
        (_Obj(status="incomplete", incomplete_details=_Obj(reason="max_output_tokens")), "length"),
        (_Obj(status="incomplete", incomplete_details=_Obj(reason="content_filter")), "content_filter"),
        (_Obj(status="failed"), "error"),
        (_Obj(status="cancelled"), "cancelled"),
        (_Obj(status="in_progress"), None),
        (_Obj(status="queued"), None),
    ],
)
def test_responses_finish_reason_from_status(response: Any, reason: str | None) -> None:
    assert responses_finish_reason(response) == reason


@pytest.mark.parametrize(
    ("stop_reason", "reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_call"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),  # no convention value: passed through
    ],
)
def test_anthropic_stop_reasons_are_mapped(stop_reason: str, reason: str) -> None:
    assert anthropic_finish_reason(stop_reason) == reason


def test_anthropic_refusals_still_count_as_refused_in_the_ledger() -> None:
    from llmguard.cost._observer import REFUSAL_REASONS

    assert anthropic_finish_reason("refusal") in REFUSAL_REASONS


# -- cost naming and metrics ------------------------------------------------------------------------------


def test_cost_follows_the_proposal_and_the_legacy_name_is_opt_in() -> None:
    attrs = _attrs_of(_case("chat-stream"))
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] > 0
    assert (attrs[sc.GEN_AI_USAGE_COST_CURRENCY], attrs[sc.GEN_AI_USAGE_COST_SOURCE]) == ("USD", "local")
    assert sc.GEN_AI_USAGE_COST not in attrs
    legacy = _attrs_of(_case("chat-stream"), telemetry={"legacy_cost": True})
    assert legacy[sc.GEN_AI_USAGE_COST] == legacy[sc.GEN_AI_USAGE_COST_AMOUNT]


def _metrics(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_time_per_output_chunk_and_cost_histograms(is_async: bool, provider: TracerProvider) -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    guard = llmguard.Guard(
        pin_policy="off", tracer_provider=provider, meter_provider=meters, telemetry={"chunk_metric": True}
    )
    fake = FakeOpenAI(reply="one two three four five")
    try:
        if is_async:

            async def go() -> int:
                async with fake.client(llmguard.AsyncOpenAI, guard=guard) as client:
                    stream = await client.chat.completions.create(**_chat(stream=True))
                    return len([chunk async for chunk in stream])

            seen = asyncio.run(go())
        else:
            with fake.client(llmguard.OpenAI, guard=guard) as client:
                seen = len(list(client.chat.completions.create(**_chat(stream=True))))
                client.chat.completions.create(**_chat())  # not streamed: no chunk metric
        points = _metrics(reader)
    finally:
        guard.close()
        meters.shutdown()
    (chunks,) = points[sc.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK]
    # every chunk after the first, the hidden usage-only chunk included (it arrived too)
    assert chunks.count == seen
    assert chunks.attributes[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert list(chunks.explicit_bounds) == list(sc.BUCKETS_DURATION)
    costs = points[sc.GEN_AI_CLIENT_OPERATION_COST]
    assert sum(p.count for p in costs) == (1 if is_async else 2)
    assert all(p.attributes[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD" for p in costs)
    durations = points[sc.GEN_AI_CLIENT_OPERATION_DURATION]
    assert sc.LLMGUARD_CLIENT_COST not in points
    assert all(p.attributes[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT].startswith("fp_") for p in durations)


@pytest.mark.parametrize(
    ("api", "body", "expected"),
    [
        ("chat.completions", {"response_format": {"type": "json_schema", "json_schema": {}}}, "json"),
        ("chat.completions", {"response_format": {"type": "text"}}, "text"),
        ("chat.completions", {"modalities": ["text", "audio"]}, "speech"),
        ("chat.completions", {}, None),
        ("chat.completions", {"response_format": "json"}, None),  # not the API's shape: nothing claimed
        ("responses", {"text": {"format": {"type": "json_object"}}}, "json"),
        ("responses", {"text": {"verbosity": "low"}}, None),
        ("messages", {"output_config": {"format": {"type": "json_schema"}}}, "json"),
        ("messages", {"output_format": {"type": "json_schema"}}, "json"),
        ("messages", {}, None),
    ],
)
def test_output_type_of_a_body(api: str, body: dict[str, Any], expected: str | None) -> None:
    from llmguard.telemetry._genai import output_type

    assert output_type(api, body) == expected


def test_openai_attributes_only_for_the_openai_provider() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    guard = llmguard.Guard(pin_policy="off", tracer_provider=provider)
    fake = FakeOpenAI()
    try:
        with fake.client(llmguard.OpenAI, guard=guard, base_url="https://api.groq.com/v1") as client:
            client.chat.completions.create(
                **_chat(service_tier="flex", response_format={"type": "json_object"})
            )
    finally:
        guard.close()
        provider.shutdown()
    (span,) = exporter.get_finished_spans()
    attrs = dict(span.attributes or {})
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "groq"
    assert attrs[sc.GEN_AI_OUTPUT_TYPE] == "json"  # a GenAI attribute: every provider
    assert not any(name.startswith("openai.") for name in attrs)


def test_chunk_metric_is_opt_in() -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    guard = llmguard.Guard(pin_policy="off", meter_provider=meters)
    try:
        with FakeOpenAI(reply="one two three").client(llmguard.OpenAI, guard=guard) as client:
            assert len(list(client.chat.completions.create(**_chat(stream=True)))) > 2
        points = _metrics(reader)
    finally:
        guard.close()
        meters.shutdown()
    assert sc.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK not in points
    assert points[sc.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK][0].count == 1


def test_every_request_key_the_optional_attributes_read_is_listed() -> None:
    """`request_attributes` skips `_optional_attributes` for requests naming no key of `_OPTIONAL_KEYS`."""
    import inspect
    import re

    from llmguard.telemetry import _genai, _observer

    sources = [
        inspect.getsource(fn)
        for fn in (
            _observer._optional_attributes,
            _genai.output_type,
            _genai.openai_request_attributes,
            _genai.embeddings_request_attributes,
        )
    ]
    read = {key for source in sources for key in re.findall(r'body\.get\("([a-z_]+)"\)', source)}
    assert read >= {"stop", "n", "response_format", "service_tier", "dimensions"}  # the scan finds them
    assert read <= _observer._OPTIONAL_KEYS
