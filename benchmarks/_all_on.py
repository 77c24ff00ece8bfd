"""The all-on guard of the overhead benchmark: every feature that exists, enabled."""

from __future__ import annotations

from typing import Any

import llmguard


def all_on_guard() -> Any:
    """Enforce with a lock, spans+metrics+cost (batch processor, no-op exporter), call refs."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class _Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop()))
    return llmguard.Guard(
        pin_policy="enforce",
        pins={"gpt-4o-mini": "gpt-4o-mini-2024-07-18"},
        tracer_provider=provider,
    )
