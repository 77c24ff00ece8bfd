"""With no OpenTelemetry provider installed, telemetry costs nothing; installing one later turns it on."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import llmguard
from llmguard import CallRecorder, Guard
from llmguard.testing import FakeOpenAI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

recorder = CallRecorder()
guard = Guard(pin_policy="enforce", observers=[recorder])
client = FakeOpenAI().client(llmguard.OpenAI, guard=guard)
ask = lambda: client.chat.completions.create(model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}])
ask()
print("unconfigured trace_id:", recorder.last.trace_id)
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # the app installs OpenTelemetry after the guard was built
ask()
spans = exporter.get_finished_spans()
print("spans:", [s.name for s in spans], "trace_id matches:", recorder.last.trace_id == format(spans[0].context.trace_id, "032x"))
"""


def test_spans_start_when_the_app_installs_a_global_provider() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    assert "unconfigured trace_id: None" in done.stdout
    assert "spans: ['chat gpt-4o-2024-08-06'] trace_id matches: True" in done.stdout


METER_SCRIPT = """
import llmguard
from llmguard import Guard
from llmguard.testing import FakeOpenAI
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

guard = Guard(pin_policy="off")
client = FakeOpenAI().client(llmguard.OpenAI, guard=guard)
ask = lambda: client.chat.completions.create(model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}])
ask()  # nothing installed: the call is not watched
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))  # metrics only, installed late
ask()
ask()
counts = {
    m.name: sum(p.count for p in m.data.data_points)
    for rm in reader.get_metrics_data().resource_metrics
    for sm in rm.scope_metrics
    for m in sm.metrics
}
print("durations:", counts.get("gen_ai.client.operation.duration"))
"""


def test_metrics_start_when_the_app_installs_only_a_global_meter_provider() -> None:
    done = subprocess.run(
        [sys.executable, "-c", METER_SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    assert "durations: 2" in done.stdout, done.stdout + done.stderr
