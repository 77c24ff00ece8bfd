"""Judging telemetry: ``gen_ai.evaluation.result`` log events and judging metrics.

Each judgment becomes a log record with event name ``gen_ai.evaluation.result``, emitted through
the OpenTelemetry Logs API with the judged call's trace and span ids as its context (never an
event added to an ended span). The explanation is content: it is sent only with content capture.
Unconfigured OpenTelemetry makes all of this an exact no-op (the global proxies).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry._logs import LoggerProvider, SeverityNumber, get_logger_provider
from opentelemetry.context import Context

from ._types import Judgment

__all__ = ["EVENT_NAME", "JudgingTelemetry", "event_attributes", "link_context"]

EVENT_NAME = "gen_ai.evaluation.result"
_SCOPE = "llmguard.judging"


def link_context(trace_id: str | None, span_id: str | None) -> Context | None:
    """A context whose current span is the judged call's (hex ids), or ``None`` when unknown."""
    if not trace_id or not span_id:
        return None
    try:
        ctx = trace.SpanContext(
            int(trace_id, 16),
            int(span_id, 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    except ValueError:
        return None
    if not ctx.is_valid:
        return None
    return trace.set_span_in_context(trace.NonRecordingSpan(ctx))


def event_attributes(
    judgment: Judgment, *, capture_content: bool, redact: Callable[[str], str] | None = None
) -> dict[str, Any]:
    """The semantic-convention attributes of one judgment's event."""
    attrs: dict[str, Any] = {"gen_ai.evaluation.name": judgment.judge}
    result = judgment.result
    if result is not None:
        attrs["gen_ai.evaluation.score.value"] = result.score
        if result.label is not None:
            attrs["gen_ai.evaluation.score.label"] = result.label
        if capture_content and result.reason:
            attrs["gen_ai.evaluation.explanation"] = (
                result.reason if redact is None else str(redact(result.reason))
            )
    else:
        attrs["error.type"] = judgment.error_type or judgment.status
    if judgment.response_id:
        attrs["gen_ai.response.id"] = judgment.response_id
    return attrs


class JudgingTelemetry:
    """Emits judgment events and records judging metrics (queue depth, drops, latency, scores).

    Args:
        logger_provider: OTel logger provider (default: the global proxy).
        meter_provider: OTel meter provider (default: the global proxy).
        capture_content: Send explanations.
        redact: Applied to explanations before they are sent (the guard's telemetry ``redact`` hook).
        depth: Returns the current queue depth (observed by a gauge).
    """

    def __init__(
        self,
        *,
        logger_provider: LoggerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        capture_content: bool = False,
        redact: Callable[[str], str] | None = None,
        depth: Callable[[], int] = lambda: 0,
    ) -> None:
        self._logger = (logger_provider or get_logger_provider()).get_logger(_SCOPE)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(_SCOPE)
        self.capture_content = capture_content
        self.redact = redact
        self._depth = depth
        self._dropped = meter.create_counter(
            "llmguard.judging.dropped",
            unit="{call}",
            description="Sampled calls dropped before judging, by reason.",
        )
        self._latency = meter.create_histogram(
            "llmguard.judging.duration", unit="s", description="Judge latency."
        )
        self._scores = meter.create_histogram(
            "llmguard.judging.score", unit="1", description="Normalized judge scores (0..1)."
        )
        meter.create_observable_gauge(
            "llmguard.judging.queue.depth",
            [self._observe],
            unit="{call}",
            description="Calls waiting for judges.",
        )

    def _observe(self, _options: metrics.CallbackOptions) -> list[metrics.Observation]:
        return [metrics.Observation(self._depth())]

    def set_depth(self, depth: Callable[[], int]) -> None:
        """Set the function the queue-depth gauge observes."""
        self._depth = depth

    def dropped(self, reason: str, count: int = 1) -> None:
        """Count a dropped sampled call."""
        self._dropped.add(count, {"reason": reason})

    def judged(self, judgment: Judgment) -> None:
        """Emit the event and record latency and score."""
        attrs = {"gen_ai.evaluation.name": judgment.judge, "status": judgment.status}
        self._latency.record(judgment.latency_s, attrs)
        if judgment.result is not None:
            self._scores.record(judgment.result.normalized, {"gen_ai.evaluation.name": judgment.judge})
        self._logger.emit(
            event_name=EVENT_NAME,
            timestamp=judgment.created_ns or None,
            context=link_context(judgment.trace_id, judgment.span_id),
            severity_number=SeverityNumber.INFO if judgment.status == "ok" else SeverityNumber.WARN,
            attributes=event_attributes(judgment, capture_content=self.capture_content, redact=self.redact),
        )
