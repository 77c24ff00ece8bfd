"""One GenAI span per call, on real SDK spans: sync/async x stream/non-stream x openai/anthropic."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as ga
from opentelemetry.semconv._incubating.attributes import (
    openai_attributes,
    server_attributes,
    session_attributes,
    user_attributes,
)
from opentelemetry.semconv.attributes import error_attributes
from opentelemetry.trace import SpanKind, StatusCode

import llmguard
from _sdk import needs
from llmguard.telemetry import semconv as sc
from llmguard.testing import FakeAnthropic, FakeOpenAI, FakeProvider, FakeUsage

OPENAI_MODEL = "gpt-4o-2024-08-06"
ANTHROPIC_MODEL = "claude-sonnet-4-6"
USAGE = FakeUsage(
    input_tokens=20, output_tokens=12, cached_tokens=8, cache_write_tokens=4, reasoning_tokens=3
)


def make_guard(provider: TracerProvider, **kwargs: Any) -> llmguard.Guard:
    return llmguard.Guard(tracer_provider=provider, pin_policy="off", **kwargs)


def make_client(
    vendor: str, is_async: bool, guard: llmguard.Guard, **kwargs: Any
) -> tuple[Any, FakeProvider]:
    fake: FakeProvider = FakeOpenAI(usage=USAGE) if vendor == "openai" else FakeAnthropic(usage=USAGE)
    classes = {
        ("openai", False): llmguard.OpenAI,
        ("openai", True): llmguard.AsyncOpenAI,
        ("anthropic", False): llmguard.Anthropic,
        ("anthropic", True): llmguard.AsyncAnthropic,
    }
    return fake.client(classes[vendor, is_async], guard=guard, max_retries=0, **kwargs), fake


def request(vendor: str, *, stream: bool, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "Say hello"}], **extra}
    if vendor == "openai":
        body["model"] = OPENAI_MODEL
    else:
        body.update(model=ANTHROPIC_MODEL, max_tokens=64)
        for key in ("temperature", "top_p"):  # anthropic 2.x create() has no sampling keywords
            body.pop(key, None)
    if stream:
        body["stream"] = True
    return body


def endpoint(client: Any, vendor: str) -> Any:
    return client.chat.completions if vendor == "openai" else client.messages


def run(vendor: str, is_async: bool, client: Any, body: dict[str, Any], mode: str = "full") -> list[Any]:
    """Make one call and consume it as ``mode`` says; returns the items the user saw."""
    if is_async:
        return asyncio.run(_arun(vendor, client, body, mode))
    result = endpoint(client, vendor).create(**body)
    if not body.get("stream"):
        return [result]
    seen: list[Any] = []
    if mode == "full":
        seen.extend(result)
    elif mode == "break":
        for item in result:
            seen.append(item)
            break
        result.close()
    elif mode == "context":
        with result as stream:
            for item in stream:
                seen.append(item)
                break
    elif mode == "gc":
        seen.append(next(iter(result)))
        del result
        gc.collect()
    return seen


async def _arun(vendor: str, client: Any, body: dict[str, Any], mode: str) -> list[Any]:
    result = await endpoint(client, vendor).create(**body)
    if not body.get("stream"):
        return [result]
    seen: list[Any] = []
    if mode == "full":
        seen.extend([item async for item in result])
    elif mode == "break":
        async for item in result:
            seen.append(item)
            break
        await result.close()
    elif mode == "context":
        async with result as stream:
            async for item in stream:
                seen.append(item)
                break
    elif mode == "gc":
        seen.append(await result.__aiter__().__anext__())
        del result
        gc.collect()
    return seen


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


MATRIX = [
    pytest.param(
        vendor,
        is_async,
        stream,
        id=f"{vendor}-{'async' if is_async else 'sync'}-{'stream' if stream else 'plain'}",
    )
    for vendor in ("openai", "anthropic")
    for is_async in (False, True)
    for stream in (False, True)
]


@pytest.mark.parametrize(("vendor", "is_async", "stream"), MATRIX)
def test_one_span_with_genai_attributes(
    vendor: str, is_async: bool, stream: bool, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    guard = make_guard(provider)
    client, _ = make_client(vendor, is_async, guard)
    run(vendor, is_async, client, request(vendor, stream=stream, temperature=0.5, top_p=0.9))
    span = only_span(exporter)
    a = attrs(span)
    model = OPENAI_MODEL if vendor == "openai" else ANTHROPIC_MODEL
    assert span.name == f"chat {model}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert a[ga.GEN_AI_OPERATION_NAME] == "chat"
    assert a[ga.GEN_AI_PROVIDER_NAME] == vendor
    assert ga.GEN_AI_SYSTEM not in a
    assert a[ga.GEN_AI_REQUEST_MODEL] == model
    assert a[ga.GEN_AI_RESPONSE_MODEL] == model
    if vendor == "openai":
        assert a[ga.GEN_AI_REQUEST_TEMPERATURE] == 0.5
        assert a[ga.GEN_AI_REQUEST_TOP_P] == 0.9
    else:
        assert a[ga.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[ga.GEN_AI_RESPONSE_ID]
    # Anthropic's end_turn is mapped to the conventions' stop
    assert a[ga.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[server_attributes.SERVER_ADDRESS].startswith("fake-")
    assert a[server_attributes.SERVER_PORT] == 443
    # input includes cached tokens (reads and writes) for both providers
    assert a[ga.GEN_AI_USAGE_INPUT_TOKENS] == 20 + 8 + 4
    assert a[ga.GEN_AI_USAGE_OUTPUT_TOKENS] == 12 + 3
    assert a[ga.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 8
    assert a[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 4
    assert ga.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS not in a
    assert a[sc.GEN_AI_USAGE_COST_AMOUNT] > 0
    assert a[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert a[sc.GEN_AI_USAGE_COST_SOURCE] == "local"
    assert sc.GEN_AI_USAGE_COST not in a  # the pre-proposal name only on request
    assert sc.LLMGUARD_COST_PRICED not in a  # the amount says it was priced
    assert a[sc.LLMGUARD_COST_SOURCE] == "genai-prices"
    if stream:
        assert a[ga.GEN_AI_REQUEST_STREAM] is True
        assert a[ga.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0
        assert a[sc.LLMGUARD_STREAM_COMPLETED] is True
    else:
        assert ga.GEN_AI_REQUEST_STREAM not in a
        assert ga.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in a
    assert span.end_time is not None
    assert span.start_time is not None
    assert span.end_time >= span.start_time


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
@pytest.mark.parametrize("mode", ["break", "context", "gc"])
def test_abandoned_stream_ends_span_once_without_error(
    mode: str, vendor: str, is_async: bool, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client, _ = make_client(vendor, is_async, make_guard(provider))
    seen = run(vendor, is_async, client, request(vendor, stream=True), mode)
    assert len(seen) == 1
    gc.collect()
    span = only_span(exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.UNSET
    assert error_attributes.ERROR_TYPE not in a
    assert a[sc.LLMGUARD_STREAM_COMPLETED] is False
    assert a[ga.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_mid_stream_failure_is_an_error(
    vendor: str, is_async: bool, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client, fake = make_client(vendor, is_async, make_guard(provider))
    fake.fail_next("stream_cut", after_chunks=2)
    with pytest.raises((openai.APIError, anthropic.APIError, Exception)):
        run(vendor, is_async, client, request(vendor, stream=True))
    gc.collect()
    span = only_span(exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a[error_attributes.ERROR_TYPE]
    assert a[sc.LLMGUARD_STREAM_COMPLETED] is False
    assert sc.GEN_AI_USAGE_COST not in a
    assert sc.LLMGUARD_COST_PRICED not in a


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_provider_error_is_recorded_and_passes_through(
    vendor: str, is_async: bool, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client, fake = make_client(vendor, is_async, make_guard(provider))
    fake.fail_next(429)
    error = openai.RateLimitError if vendor == "openai" else anthropic.RateLimitError
    with pytest.raises(error):
        run(vendor, is_async, client, request(vendor, stream=False))
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[error_attributes.ERROR_TYPE] == f"{vendor}.RateLimitError"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_usage_chunk_is_hidden_and_choices_index_works(
    is_async: bool, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client, fake = make_client("openai", is_async, make_guard(provider))
    chunks = run("openai", is_async, client, request("openai", stream=True))
    assert chunks
    assert all(chunk.choices and chunk.choices[0].index == 0 for chunk in chunks)
    assert fake.calls[-1].body["stream_options"] == {"include_usage": True}
    assert attrs(only_span(exporter))[ga.GEN_AI_USAGE_OUTPUT_TOKENS] == 15


def test_user_stream_options_are_left_alone(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    client, fake = make_client("openai", False, make_guard(provider))
    body = request("openai", stream=True, stream_options={"include_usage": False})
    run("openai", False, client, body)
    assert fake.calls[-1].body["stream_options"] == {"include_usage": False}
    assert only_span(exporter).name == f"chat {OPENAI_MODEL}"


def test_span_is_child_of_the_callers_span_across_threads_and_tasks(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("app")
    sync_client, _ = make_client("openai", False, make_guard(provider))
    async_client, _ = make_client("openai", True, make_guard(provider))

    def in_thread() -> None:
        with tracer.start_as_current_span("thread-parent"):
            run("openai", False, sync_client, request("openai", stream=True))

    async def in_task() -> None:
        with tracer.start_as_current_span("task-parent"):
            await asyncio.create_task(_arun("openai", async_client, request("openai", stream=True), "full"))

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    asyncio.run(in_task())
    spans = {s.name: s for s in exporter.get_finished_spans() if not s.name.startswith("chat")}
    children = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert len(children) == 2
    parents = {s.parent.span_id for s in children if s.parent is not None}
    assert parents == {spans["thread-parent"].context.span_id, spans["task-parent"].context.span_id}


def test_call_ids_match_the_span(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    recorder = llmguard.CallRecorder()
    client, _ = make_client("openai", False, make_guard(provider, observers=[recorder]))
    run("openai", False, client, request("openai", stream=False))
    span = only_span(exporter)
    record = recorder.last
    assert record is not None
    assert record.trace_id == format(span.context.trace_id, "032x")
    assert record.span_id == format(span.context.span_id, "016x")
    assert attrs(span)[sc.LLMGUARD_CALL_ID] == record.call_id


class _FixedIds(IdGenerator):
    def __init__(self, trace_id: int, span_id: int) -> None:
        self.trace_id, self.span_id = trace_id, span_id

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self.span_id


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [(1, 2), (2**128 - 1, 2**64 - 1), (2**130 + 5, 2**70 + 3)],
    ids=["leading-zeros", "widest", "beyond-the-spec"],
)
def test_call_ids_are_the_span_ids_in_hex(trace_id: int, span_id: int) -> None:
    provider = TracerProvider(id_generator=_FixedIds(trace_id, span_id))
    recorder = llmguard.CallRecorder()
    client, _ = make_client("openai", False, make_guard(provider, observers=[recorder]))
    run("openai", False, client, request("openai", stream=False))
    record = recorder.last
    assert record is not None
    assert record.trace_id == format(trace_id, "032x")
    assert record.span_id == format(span_id, "016x")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_anthropic_sdk_spans_are_off_by_default(
    is_async: bool, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client, _ = make_client("anthropic", is_async, make_guard(provider))
    run("anthropic", is_async, client, request("anthropic", stream=False))
    assert only_span(exporter).name == f"chat {ANTHROPIC_MODEL}"


@needs("anthropic open_telemetry=")
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_user_enabled_anthropic_sdk_spans_nest_inside_ours_and_both_keep_usage(
    stream: bool, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    guard = make_guard(provider)
    client, _ = make_client("anthropic", False, guard, open_telemetry={"tracer_provider": provider})
    run("anthropic", False, client, request("anthropic", stream=stream))
    spans = exporter.get_finished_spans()
    ours = [s for s in spans if s.name == f"chat {ANTHROPIC_MODEL}"]
    sdk = [s for s in spans if s.name != f"chat {ANTHROPIC_MODEL}"]
    assert len(ours) == 1
    assert len(sdk) == 1
    mine = attrs(ours[0])
    assert sdk[0].parent is not None
    assert sdk[0].parent.span_id == ours[0].context.span_id
    assert sdk[0].context.trace_id == ours[0].context.trace_id
    assert sc.LLMGUARD_USAGE_OMITTED not in mine
    assert mine[ga.GEN_AI_USAGE_INPUT_TOKENS] == attrs(sdk[0])[ga.GEN_AI_USAGE_INPUT_TOKENS]
    assert mine[sc.GEN_AI_USAGE_COST_AMOUNT] > 0


def test_legacy_cache_creation_name_on_request(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    guard = make_guard(provider, telemetry={"legacy_cache_creation": True})
    client, _ = make_client("anthropic", False, guard)
    run("anthropic", False, client, request("anthropic", stream=False))
    a = attrs(only_span(exporter))
    assert a[ga.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == a[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 4


@needs("openai max_completion_tokens")
def test_request_parameters(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    client, _ = make_client("openai", False, make_guard(provider))
    body = request(
        "openai", stream=False, max_completion_tokens=50, stop="END", seed=7, n=1, presence_penalty=0.1
    )
    run("openai", False, client, body)
    a = attrs(only_span(exporter))
    assert a[ga.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert a[ga.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a[ga.GEN_AI_REQUEST_SEED] == 7
    assert a[ga.GEN_AI_REQUEST_PRESENCE_PENALTY] == 0.1
    assert ga.GEN_AI_REQUEST_CHOICE_COUNT not in a


def test_anthropic_stop_sequences(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    client, _ = make_client("anthropic", False, make_guard(provider))
    run("anthropic", False, client, request("anthropic", stream=False, stop_sequences=["a", "b"]))
    a = attrs(only_span(exporter))
    assert a[ga.GEN_AI_REQUEST_STOP_SEQUENCES] == ("a", "b")
    assert a[ga.GEN_AI_REQUEST_MAX_TOKENS] == 64


def test_prompt_and_pin_attributes(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    guard = llmguard.Guard(tracer_provider=provider, pin_policy="enforce", pins={"gpt-4o": OPENAI_MODEL})
    client, _ = make_client("openai", False, guard)
    prompt = llmguard.PromptRef(
        name="support-bot", version="1.2.0", label="production", content_hash="abc123"
    )
    with llmguard.use_prompt(prompt):
        run("openai", False, client, {**request("openai", stream=False), "model": "gpt-4o"})
    span = only_span(exporter)
    a = attrs(span)
    assert span.name == f"chat {OPENAI_MODEL}"
    assert a[ga.GEN_AI_PROMPT_NAME] == "support-bot"
    assert a[sc.LLMGUARD_PROMPT_VERSION] == "1.2.0"
    assert a[sc.LLMGUARD_PROMPT_LABEL] == "production"
    assert a[sc.LLMGUARD_PROMPT_HASH] == "abc123"
    assert a[sc.LLMGUARD_PIN_ACTION] == "rewrite"
    assert a[sc.LLMGUARD_MODEL_REQUESTED] == "gpt-4o"
    assert a[sc.LLMGUARD_MODEL_LOCKED] == OPENAI_MODEL


def test_unknown_model_has_no_cost(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    client, _ = make_client("openai", False, make_guard(provider))
    run("openai", False, client, {**request("openai", stream=False), "model": "my-private-model"})
    a = attrs(only_span(exporter))
    assert a[sc.LLMGUARD_COST_PRICED] is False
    assert sc.GEN_AI_USAGE_COST_AMOUNT not in a
    assert sc.LLMGUARD_COST_INPUT not in a


def test_price_override_reaches_the_span(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    guard = make_guard(provider, prices={"my-private-model": {"input": 1, "output": 2}})
    client, _ = make_client("openai", False, guard)
    run("openai", False, client, {**request("openai", stream=False), "model": "my-private-model"})
    a = attrs(only_span(exporter))
    # 32 input tokens at $1/M (no cache price: cache billed as input) + 15 output at $2/M
    assert a[sc.GEN_AI_USAGE_COST_AMOUNT] == pytest.approx((32 * 1 + 15 * 2) / 1e6)
    assert a[sc.LLMGUARD_COST_SOURCE] == "override"


def test_no_tracer_provider_is_a_cheap_noop() -> None:
    recorder = llmguard.CallRecorder()
    client, _ = make_client("openai", False, llmguard.Guard(pin_policy="off", observers=[recorder]))
    run("openai", False, client, request("openai", stream=True))
    record = recorder.last
    assert record is not None
    assert record.trace_id is None
    assert record.cost is not None


def test_telemetry_can_be_disabled(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    client, _ = make_client("openai", False, make_guard(provider, telemetry={"enabled": False}))
    run("openai", False, client, request("openai", stream=False))
    assert exporter.get_finished_spans() == ()


def test_semconv_module_matches_the_package() -> None:
    from opentelemetry.semconv._incubating.metrics import gen_ai_metrics

    for name in sc.__all__:
        value = getattr(sc, name)
        if name.startswith("GEN_AI_") and hasattr(ga, name):
            assert value == getattr(ga, name), name
        elif name.startswith("GEN_AI_CLIENT_") and name != "GEN_AI_CLIENT_OPERATION_COST":
            assert value == getattr(gen_ai_metrics, name), name
    assert sc.SERVER_ADDRESS == server_attributes.SERVER_ADDRESS
    assert sc.SERVER_PORT == server_attributes.SERVER_PORT
    assert sc.ERROR_TYPE == error_attributes.ERROR_TYPE
    for name in ("OPENAI_API_TYPE", "OPENAI_REQUEST_SERVICE_TIER", "OPENAI_RESPONSE_SERVICE_TIER"):
        assert getattr(sc, name) == getattr(openai_attributes, name), name
    assert sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT == openai_attributes.OPENAI_RESPONSE_SYSTEM_FINGERPRINT
    assert sc.USER_ID == user_attributes.USER_ID
    assert sc.SESSION_ID == session_attributes.SESSION_ID
    # the documented departures: the newer cache_write name and the cost proposal (PR 443)
    extra = {n for n in sc.__all__ if n.startswith("GEN_AI_") and not hasattr(ga, n) and "CLIENT" not in n}
    assert extra == {
        "GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS",
        "GEN_AI_USAGE_COST",
        "GEN_AI_USAGE_COST_AMOUNT",
        "GEN_AI_USAGE_COST_CURRENCY",
        "GEN_AI_USAGE_COST_SOURCE",
    }


def test_every_emitted_name_is_declared(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    declared = {getattr(sc, n) for n in sc.__all__ if isinstance(getattr(sc, n), str)}
    client, _ = make_client("anthropic", False, make_guard(provider, capture_content=True))
    run("anthropic", False, client, request("anthropic", stream=True, system="Be brief"))
    assert set(attrs(only_span(exporter))) <= declared
