"""Content capture: off by default; when on, spec-shaped messages with redaction and a size cap."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmguard
from llmguard.telemetry import TelemetryOptions
from llmguard.telemetry import semconv as sc
from llmguard.testing import FakeAnthropic, FakeOpenAI

SECRET_KEY = "sk-test-secret-key-123"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def span_attrs(exporter: InMemorySpanExporter, provider: TracerProvider) -> dict[str, Any]:
    (span,) = exporter.get_finished_spans()
    provider.shutdown()
    return dict(span.attributes or {})


def call_openai(exporter: InMemorySpanExporter, stream: bool = False, **guard_kwargs: Any) -> dict[str, Any]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    guard = llmguard.Guard(tracer_provider=provider, pin_policy="off", **guard_kwargs)
    client = FakeOpenAI(reply="Hello alice@example.com").client(
        llmguard.OpenAI, guard=guard, api_key=SECRET_KEY, default_headers={"x-tenant": "t-42"}
    )
    messages: Any = [
        {"role": "system", "content": "Be terse"},
        {"role": "user", "content": "Mail alice@example.com"},
    ]
    result: Any = client.chat.completions.create(model="gpt-4o-2024-08-06", messages=messages, stream=stream)
    if stream:
        list(result)
    return span_attrs(exporter, provider)


@pytest.mark.parametrize("stream", [False, True])
def test_content_is_off_by_default(exporter: InMemorySpanExporter, stream: bool) -> None:
    attrs = call_openai(exporter, stream=stream)
    assert sc.GEN_AI_INPUT_MESSAGES not in attrs
    assert sc.GEN_AI_OUTPUT_MESSAGES not in attrs
    text = json.dumps(attrs)
    assert "alice" not in text
    assert SECRET_KEY not in text
    assert "t-42" not in text


@pytest.mark.parametrize("stream", [False, True])
def test_content_capture_opt_in(exporter: InMemorySpanExporter, stream: bool) -> None:
    attrs = call_openai(exporter, stream=stream, capture_content=True)
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse"}]},
        {"role": "user", "parts": [{"type": "text", "content": "Mail alice@example.com"}]},
    ]
    output = json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])
    assert output == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello alice@example.com"}],
            "finish_reason": "stop",
        }
    ]
    text = json.dumps(attrs)
    assert SECRET_KEY not in text
    assert "t-42" not in text


def test_content_capture_from_environment(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    assert sc.GEN_AI_INPUT_MESSAGES in call_openai(exporter)


def test_redaction_and_size_cap(exporter: InMemorySpanExporter) -> None:
    options = TelemetryOptions(
        redact=lambda text: text.replace("alice@example.com", "<email>"), content_max_bytes=12
    )
    attrs = call_openai(exporter, capture_content=True, telemetry=options)
    messages = json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES])
    assert messages[0]["parts"][0]["content"] == "Be terse"
    assert messages[1]["parts"][0]["content"] == "Mail…[truncated]"
    output = json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])
    assert output[0]["parts"][0]["content"] == "Hello <email>"[:12] + "…[truncated]"
    assert attrs[sc.LLMGUARD_CONTENT_TRUNCATED] is True
    assert "alice" not in json.dumps(attrs)


def test_anthropic_system_instructions_and_blocks(exporter: InMemorySpanExporter) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    guard = llmguard.Guard(tracer_provider=provider, pin_policy="off", capture_content=True)
    client = FakeAnthropic(reply="ok").client(llmguard.Anthropic, guard=guard)
    client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=10,
        system="You are helpful",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                ],
            },
        ],
    )
    attrs = span_attrs(exporter, provider)
    assert json.loads(attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": "You are helpful"}
    ]
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "look"}, {"type": "image"}]}
    ]
    assert "x/y.png" not in json.dumps(attrs)


@pytest.mark.parametrize(
    "value",
    [{"enabled": "yes"}, {"content_max_bytes": -1}, {"redact": 3}, {"nope": 1}, 5],
)
def test_invalid_options(value: Any) -> None:
    with pytest.raises(llmguard.ConfigurationError):
        TelemetryOptions.resolve(value)


def test_options_from_config_file(tmp_path: Any) -> None:
    (tmp_path / "llmguard.toml").write_text(
        "[telemetry]\nlegacy_cache_creation = true\ncontent_max_bytes = 100\n"
    )
    guard = llmguard.Guard()
    options = TelemetryOptions.resolve(guard.telemetry, guard.settings.file_settings.get("telemetry"))
    assert options.legacy_cache_creation is True
    assert options.content_max_bytes == 100
    with pytest.raises(llmguard.ConfigurationError):
        TelemetryOptions.resolve(None, {"redact": "x"})
