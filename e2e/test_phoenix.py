"""llmguard's spans, exported over OTLP/HTTP to a real Arize Phoenix and read back through its REST API.

Run by ``e2e/run.py`` (``make test-e2e``), which starts Phoenix on loopback and passes its URL in
``LLMGUARD_E2E_PHOENIX_URL``. Without it these tests fail: they never skip.

Each test sends its spans to a project of its own (the ``openinference.project.name`` resource
attribute, which Phoenix routes on), so "exactly one span per call" is checked against everything
Phoenix stored for the test, not only against the spans the test looked for.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import llmguard
import llmguard.telemetry
from llmguard.telemetry import semconv as sc
from llmguard.testing import FakeAnthropic, FakeOpenAI, FakeProvider, FakeUsage

URL_ENV = "LLMGUARD_E2E_PHOENIX_URL"
PROJECT_ATTRIBUTE = "openinference.project.name"
INGEST_TIMEOUT_S = 30.0
SETTLE_S = 0.5
"""After every expected span arrived, how long to wait before checking that no extra one follows."""

MODELS = {"openai": "gpt-4o-2024-08-06", "anthropic": "claude-sonnet-4-6"}
USAGE = FakeUsage(
    input_tokens=20, output_tokens=12, cached_tokens=8, cache_write_tokens=4, reasoning_tokens=3
)
PROMPT = "e2e-prompt-text-that-must-not-be-exported"
REPLY = "e2e reply text that must not be exported"
CALLS_PER_TEST = 2

CONTENT_ATTRIBUTES = (
    sc.GEN_AI_INPUT_MESSAGES,
    sc.GEN_AI_OUTPUT_MESSAGES,
    sc.GEN_AI_SYSTEM_INSTRUCTIONS,
    # What Phoenix would derive from content (OpenInference names).
    "input.value",
    "llm.input_messages",
    "llm.output_messages",
)
USAGE_ATTRIBUTES = {
    sc.GEN_AI_USAGE_INPUT_TOKENS: "input_tokens",
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: "output_tokens",
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: "cache_read_tokens",
    sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: "cache_write_tokens",
    sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: "reasoning_tokens",
}
COST_ATTRIBUTES = {
    sc.LLMGUARD_COST_INPUT: "input",
    sc.LLMGUARD_COST_OUTPUT: "output",
    sc.LLMGUARD_COST_CACHE_READ: "cache_read",
    sc.LLMGUARD_COST_CACHE_WRITE: "cache_write",
}


# --- Phoenix's REST API -------------------------------------------------------------------------


@dataclass(frozen=True)
class Phoenix:
    """The running Phoenix server."""

    url: str

    def get(self, path: str, **query: str) -> Any:
        """GET ``path`` and decode its JSON; ``None`` for a 404 (a project Phoenix has not created yet)."""
        target = f"{self.url}{path}"
        if query:
            target += "?" + urllib.parse.urlencode(query)
        try:
            with urllib.request.urlopen(target, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span Phoenix stored in ``project`` (all pages)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        path = f"/v1/projects/{urllib.parse.quote(project, safe='')}/spans"
        while True:
            page = self.get(path, limit="1000", **({"cursor": cursor} if cursor else {}))
            if page is None:
                return found
            found.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def wait_for_spans(self, project: str, expected: int) -> list[dict[str, Any]]:
        """Poll until ``expected`` spans are in ``project``, then once more after a pause (extras show)."""
        deadline = time.monotonic() + INGEST_TIMEOUT_S
        spans = self.spans(project)
        while len(spans) < expected:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Phoenix holds {len(spans)} span(s) in project {project!r} after "
                    f"{INGEST_TIMEOUT_S:.0f} s; expected {expected}"
                )
            time.sleep(0.2)
            spans = self.spans(project)
        time.sleep(SETTLE_S)
        return self.spans(project)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def phoenix() -> Phoenix:
    """The server `e2e/run.py` started; fails (never skips) without one."""
    url = os.environ.get(URL_ENV)
    if not url:
        pytest.fail(f"{URL_ENV} is not set: run these tests through `make test-e2e` (e2e/run.py)")
    phoenix = Phoenix(url.rstrip("/"))
    assert phoenix.get("/v1/projects") is not None, f"Phoenix at {url} does not answer its REST API"
    return phoenix


@dataclass
class Traced:
    """One test's telemetry, guard and the records of its calls."""

    project: str
    telemetry: llmguard.telemetry.Telemetry
    sent: InMemorySpanExporter
    """The same spans the OTLP exporter sent, as the SDK handed them over (Phoenix drops the span kind)."""
    recorder: llmguard.CallRecorder
    guard: llmguard.Guard


@pytest.fixture
def traced(phoenix: Phoenix, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Traced]:
    """OTLP telemetry into a fresh Phoenix project, and an enforcing guard that records its calls."""
    for key in list(os.environ):
        if key.startswith(("OPENAI_", "ANTHROPIC_", "LLMGUARD_", "OTEL_")) and key != URL_ENV:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    project = f"llmguard-e2e-{uuid.uuid4().hex[:12]}"
    # setup() builds its resource with Resource.create, which reads OTEL_RESOURCE_ATTRIBUTES.
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"{PROJECT_ATTRIBUTE}={project}")
    telemetry = llmguard.telemetry.setup(
        "otlp",
        endpoint=phoenix.url,
        service_name="llmguard-e2e",
        metrics=False,  # Phoenix ingests traces only
        logs=False,
        set_global=False,
    )
    sent = InMemorySpanExporter()
    tracer_provider: TracerProvider = telemetry.tracer_provider
    tracer_provider.add_span_processor(SimpleSpanProcessor(sent))
    recorder = llmguard.CallRecorder()
    guard = llmguard.Guard(pin_policy="enforce", observers=[recorder], **telemetry.guard_kwargs())
    try:
        yield Traced(project, telemetry, sent, recorder, guard)
    finally:
        telemetry.shutdown()


# --- calls --------------------------------------------------------------------------------------

CLIENTS = {
    ("openai", False): llmguard.OpenAI,
    ("openai", True): llmguard.AsyncOpenAI,
    ("anthropic", False): llmguard.Anthropic,
    ("anthropic", True): llmguard.AsyncAnthropic,
}


def make_client(vendor: str, is_async: bool, guard: llmguard.Guard) -> Any:
    """A guarded client of ``vendor`` on the in-process fake provider."""
    fake: FakeProvider = (
        FakeOpenAI(reply=REPLY, usage=USAGE)
        if vendor == "openai"
        else FakeAnthropic(reply=REPLY, usage=USAGE)
    )
    return fake.client(CLIENTS[vendor, is_async], guard=guard, max_retries=0)


def request(vendor: str, stream: bool) -> dict[str, Any]:
    """A chat request body for ``vendor``."""
    body: dict[str, Any] = {"model": MODELS[vendor], "messages": [{"role": "user", "content": PROMPT}]}
    if vendor == "anthropic":
        body["max_tokens"] = 64
    if stream:
        body["stream"] = True
    return body


def call(vendor: str, is_async: bool, client: Any, body: dict[str, Any]) -> None:
    """One guarded call, a stream consumed to its end."""
    endpoint = client.chat.completions if vendor == "openai" else client.messages
    if is_async:

        async def run() -> None:
            result = await endpoint.create(**body)
            if body.get("stream"):
                async for _ in result:
                    pass

        asyncio.run(run())
        return
    result = endpoint.create(**body)
    if body.get("stream"):
        for _ in result:
            pass


# --- checks -------------------------------------------------------------------------------------


def check_span(span: dict[str, Any], record: llmguard.CallRecord, sent: ReadableSpan) -> None:
    """What Phoenix returned for one call against its record and the span the SDK exported."""
    attrs: dict[str, Any] = span["attributes"]
    model = MODELS[record.provider]
    assert span["name"] == f"chat {model}" == f"{record.operation} {record.request_model}"
    assert span["context"] == {"trace_id": record.trace_id, "span_id": record.span_id}
    assert span["parent_id"] is None
    assert span["status_code"] == "UNSET"
    assert sent.kind is SpanKind.CLIENT
    assert span["span_kind"] == "LLM"  # Phoenix's own (OpenInference) kind for a GenAI client span

    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == record.provider
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == model == record.request_model
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == record.response_model
    assert record.response_model is not None
    assert record.response_model.startswith(model)
    assert attrs[sc.LLMGUARD_CALL_ID] == record.call_id
    assert attrs[sc.LLMGUARD_PIN_ACTION] == record.pin_action == "allow"

    for key, field in USAGE_ATTRIBUTES.items():
        value = getattr(record.usage, field)
        if value is None:
            assert key not in attrs
        else:
            assert attrs[key] == value, key
    assert record.usage.input_tokens
    assert record.usage.output_tokens
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] >= attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] > 0

    cost = record.cost
    assert cost is not None
    assert cost.total > 0
    assert attrs[sc.GEN_AI_USAGE_COST_AMOUNT] == float(cost.total)
    assert attrs[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert attrs[sc.GEN_AI_USAGE_COST_SOURCE] == "local"
    assert sc.LLMGUARD_COST_PRICED not in attrs  # set only to false, for an unpriced call
    assert attrs[sc.LLMGUARD_COST_SOURCE] == cost.source == "genai-prices"
    for key, field in COST_ATTRIBUTES.items():
        share = float(getattr(cost, field))
        if share:
            assert attrs[key] == share, key
        else:
            assert attrs.get(key, 0.0) == 0.0, key  # zero cache shares are left off the span

    if record.provider == "openai":
        assert attrs[sc.OPENAI_API_TYPE] == "chat_completions"
        assert attrs[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] == record.system_fingerprint
    context = record.context
    if context is None:
        assert sc.GEN_AI_CONVERSATION_ID not in attrs
        assert sc.USER_ID not in attrs
    else:
        assert attrs[sc.GEN_AI_CONVERSATION_ID] == attrs[sc.SESSION_ID] == context.session_id
        assert attrs[sc.USER_ID] == context.user_id
        assert attrs[sc.LLMGUARD_TAGS] == list(context.tags)
        for key, value in context.metadata.items():
            assert attrs[sc.LLMGUARD_METADATA_PREFIX + key] == value

    if record.stream:
        assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
        assert attrs[sc.LLMGUARD_STREAM_COMPLETED] is True
        assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0
    else:
        assert sc.GEN_AI_REQUEST_STREAM not in attrs

    for key in CONTENT_ATTRIBUTES:
        assert key not in attrs, f"message content exported: {key}"
    dumped = json.dumps(span)
    assert PROMPT not in dumped
    assert REPLY not in dumped


def check_project(traced: Traced, phoenix: Phoenix, calls: int) -> list[dict[str, Any]]:
    """Flush, read the project back from Phoenix and check one span per call, each against its record."""
    traced.telemetry.force_flush()
    records = traced.recorder.records
    assert len(records) == calls
    assert all(record.error_type is None for record in records)
    sent = {format(span.context.span_id, "016x"): span for span in traced.sent.get_finished_spans()}
    assert len(sent) == calls

    spans = phoenix.wait_for_spans(traced.project, calls)
    assert len(spans) == calls, [span["name"] for span in spans]
    by_call_id = {span["attributes"].get(sc.LLMGUARD_CALL_ID): span for span in spans}
    assert set(by_call_id) == {record.call_id for record in records}
    assert len({span["context"]["trace_id"] for span in spans}) == calls
    for record in records:
        assert record.span_id is not None
        check_span(by_call_id[record.call_id], record, sent[record.span_id])
    return spans


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_one_span_per_call(
    traced: Traced, phoenix: Phoenix, vendor: str, is_async: bool, stream: bool
) -> None:
    """Two calls of one kind: two spans in Phoenix, each matching its call record."""
    client = make_client(vendor, is_async, traced.guard)
    for _ in range(CALLS_PER_TEST):
        call(vendor, is_async, client, request(vendor, stream))
    check_project(traced, phoenix, CALLS_PER_TEST)


def test_mixed_calls_in_one_project(traced: Traced, phoenix: Phoenix) -> None:
    """All eight kinds of call into one project: eight spans, none lost, none doubled."""
    for vendor, is_async in CLIENTS:
        client = make_client(vendor, is_async, traced.guard)
        for stream in (False, True):
            call(vendor, is_async, client, request(vendor, stream))
    spans = check_project(traced, phoenix, 8)
    assert {span["attributes"][sc.GEN_AI_PROVIDER_NAME] for span in spans} == {"openai", "anthropic"}


def test_call_context_reaches_phoenix(traced: Traced, phoenix: Phoenix) -> None:
    """A context's user, session, tags and metadata come back from Phoenix on each call's span."""
    for vendor, is_async in CLIENTS:
        client = make_client(vendor, is_async, traced.guard)
        with (
            llmguard.context(user_id=f"user-{vendor}", session_id="e2e-session", tags=["e2e"]),
            llmguard.context(metadata={"tenant": "acme"}),  # nested: merged into the outer one
        ):
            call(vendor, is_async, client, request(vendor, stream=is_async))
    spans = check_project(traced, phoenix, len(CLIENTS))
    assert {span["attributes"][sc.USER_ID] for span in spans} == {"user-openai", "user-anthropic"}
    assert {span["attributes"][sc.SESSION_ID] for span in spans} == {"e2e-session"}
