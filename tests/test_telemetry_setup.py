"""llmguard.telemetry.setup(): console and in-memory exporting; OTLP needs its extra."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

import llmguard
from llmguard import telemetry
from llmguard.telemetry import semconv as sc
from llmguard.testing import FakeOpenAI


def test_memory_setup_wires_a_guard() -> None:
    tel = telemetry.setup("memory", service_name="svc", set_global=False)
    guard = llmguard.Guard(pin_policy="off", **tel.guard_kwargs())
    FakeOpenAI().client(llmguard.OpenAI, guard=guard).chat.completions.create(
        model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}]
    )
    (span,) = tel.span_exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "svc"
    data = tel.metric_reader.get_metrics_data()
    names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert sc.GEN_AI_CLIENT_OPERATION_DURATION in names
    assert tel.logger_provider is not None
    tel.force_flush()
    tel.shutdown()
    tel.shutdown()


def test_console_setup() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tel = telemetry.setup("console", metrics=False, logs=False, set_global=False)
    assert isinstance(tel.tracer_provider, TracerProvider)
    assert tel.meter_provider is None
    tel.shutdown()


def test_bad_exporter() -> None:
    with pytest.raises(ValueError, match="exporter"):
        telemetry.setup("zipkin", set_global=False)  # type: ignore[arg-type]


def test_otlp_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_otlp(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry.exporter.otlp"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otlp)
    with pytest.raises(ImportError, match=r"llmguard\[otlp\]"):
        telemetry.setup("otlp", set_global=False)
