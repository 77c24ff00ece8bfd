"""OpenTelemetry for llmguard: one GenAI span per call, GenAI metrics, cost, and a setup helper.

Guarded clients emit telemetry through the providers given to the `llmguard.Guard`
(``tracer_provider=``, ``meter_provider=``, ``logger_provider=``) or, when none is given, the
global OpenTelemetry providers. llmguard never sets the global providers by itself; for an app
that wants exporting in one call there is `setup`:

```python
import llmguard.telemetry

llmguard.telemetry.setup("otlp", endpoint="http://127.0.0.1:4318", service_name="support-bot")
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _semconv as semconv
from ._options import Redactor, TelemetryOptions

__all__ = ["Exporter", "Redactor", "Telemetry", "TelemetryOptions", "semconv", "setup"]

Exporter = Literal["console", "otlp", "memory"]
"""Where `setup` sends traces, metrics and logs."""

_OTLP_EXTRA = "llmguard[otlp]"


@dataclass(kw_only=True)
class Telemetry:
    """The providers `setup` built, and (for ``"memory"``) where to read what they recorded."""

    tracer_provider: Any = None
    meter_provider: Any = None
    logger_provider: Any = None
    span_exporter: Any = None
    """For ``"memory"``: an ``InMemorySpanExporter`` (``get_finished_spans()``)."""
    metric_reader: Any = None
    """For ``"memory"``: an ``InMemoryMetricReader`` (``get_metrics_data()``)."""
    log_exporter: Any = None
    """For ``"memory"``: an ``InMemoryLogRecordExporter`` (``get_finished_logs()``)."""
    _providers: list[Any] = field(default_factory=list, repr=False)

    def guard_kwargs(self) -> dict[str, Any]:
        """Keywords for `llmguard.Guard` / `llmguard.configure` wiring these providers."""
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "logger_provider": self.logger_provider,
        }

    def force_flush(self, timeout_millis: int = 5_000) -> None:
        """Export everything buffered now."""
        for provider in self._providers:
            provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop every provider (idempotent)."""
        providers, self._providers = self._providers, []
        for provider in providers:
            provider.shutdown()


def setup(
    exporter: Exporter = "console",
    *,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    service_name: str | None = None,
    traces: bool = True,
    metrics: bool = True,
    logs: bool = True,
    batch: bool | None = None,
    metric_interval_s: float = 60.0,
    set_global: bool = True,
) -> Telemetry:
    """Build tracer, meter and logger providers that export to the console, OTLP/HTTP or memory.

    This is an application-level helper: call it once at start-up. With ``set_global=True`` (the
    default) it installs the providers as the OpenTelemetry globals, which guards without explicit
    providers use; otherwise pass ``**telemetry.guard_kwargs()`` to `llmguard.Guard`.

    Args:
        exporter: ``"console"`` (stdout), ``"otlp"`` (OTLP over HTTP; needs ``llmguard[otlp]``)
            or ``"memory"`` (for tests and notebooks).
        endpoint: OTLP base URL, e.g. ``http://127.0.0.1:4318``; default from ``OTEL_EXPORTER_OTLP_*``.
        headers: Extra OTLP request headers (e.g. an ingestion key). Never recorded anywhere.
        service_name: ``service.name`` of the resource; default from ``OTEL_SERVICE_NAME``.
        traces: Set up tracing.
        metrics: Set up metrics.
        logs: Set up logs (judgments and feedback are emitted as OpenTelemetry log events).
        batch: Export spans and logs in batches; defaults to ``True`` for OTLP, ``False`` otherwise.
        metric_interval_s: How often metrics are exported (console and OTLP).
        set_global: Install the providers as the OpenTelemetry globals.

    Returns:
        The providers and, for ``"memory"``, the exporters and reader to inspect.

    Raises:
        ValueError: ``exporter`` is not one of the choices.
        ImportError: ``"otlp"`` was asked for without ``opentelemetry-exporter-otlp-proto-http``.
    """
    if exporter not in ("console", "otlp", "memory"):
        raise ValueError(f"setup(): exporter must be 'console', 'otlp' or 'memory', got {exporter!r}")
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create({"service.name": service_name} if service_name else {})
    use_batch = exporter == "otlp" if batch is None else batch
    otlp = _OtlpOptions(endpoint, dict(headers or {})) if exporter == "otlp" else None
    result = Telemetry()
    if traces:
        _setup_traces(result, exporter, resource, use_batch, otlp)
    if metrics:
        _setup_metrics(result, exporter, resource, metric_interval_s, otlp)
    if logs:
        _setup_logs(result, exporter, resource, use_batch, otlp)
    if set_global:
        _install_globals(result)
    return result


@dataclass(frozen=True)
class _OtlpOptions:
    endpoint: str | None
    headers: dict[str, str]

    def kwargs(self, signal: str) -> dict[str, Any]:
        options: dict[str, Any] = {"headers": self.headers} if self.headers else {}
        if self.endpoint:
            options["endpoint"] = f"{self.endpoint.rstrip('/')}/v1/{signal}"
        return options


def _otlp_module(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"opentelemetry.exporter.otlp.proto.http.{name}")
    except ImportError as exc:
        raise ImportError(
            f"llmguard.telemetry.setup('otlp') needs opentelemetry-exporter-otlp-proto-http: "
            f"pip install '{_OTLP_EXTRA}'"
        ) from exc


def _setup_traces(
    result: Telemetry, exporter: str, resource: Any, batch: bool, otlp: _OtlpOptions | None
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if otlp is not None:
        span_exporter: Any = _otlp_module("trace_exporter").OTLPSpanExporter(**otlp.kwargs("traces"))
    elif exporter == "memory":
        span_exporter = result.span_exporter = InMemorySpanExporter()
    else:
        span_exporter = ConsoleSpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(
        BatchSpanProcessor(span_exporter) if batch else SimpleSpanProcessor(span_exporter)
    )
    result.tracer_provider = provider
    result._providers.append(provider)


def _setup_metrics(
    result: Telemetry, exporter: str, resource: Any, interval_s: float, otlp: _OtlpOptions | None
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        InMemoryMetricReader,
        MetricReader,
        PeriodicExportingMetricReader,
    )

    reader: MetricReader
    if exporter == "memory":
        reader = result.metric_reader = InMemoryMetricReader()
    else:
        metric_exporter: Any = (
            _otlp_module("metric_exporter").OTLPMetricExporter(**otlp.kwargs("metrics"))
            if otlp is not None
            else ConsoleMetricExporter()
        )
        reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=interval_s * 1000)
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    result.meter_provider = provider
    result._providers.append(provider)


def _setup_logs(
    result: Telemetry, exporter: str, resource: Any, batch: bool, otlp: _OtlpOptions | None
) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import (
        BatchLogRecordProcessor,
        ConsoleLogRecordExporter,
        InMemoryLogRecordExporter,
        SimpleLogRecordProcessor,
    )

    if otlp is not None:
        log_exporter: Any = _otlp_module("_log_exporter").OTLPLogExporter(**otlp.kwargs("logs"))
    elif exporter == "memory":
        log_exporter = result.log_exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    else:
        log_exporter = ConsoleLogRecordExporter()
    provider = LoggerProvider(resource=resource)
    processor = BatchLogRecordProcessor(log_exporter) if batch else SimpleLogRecordProcessor(log_exporter)
    provider.add_log_record_processor(processor)
    result.logger_provider = provider
    result._providers.append(provider)


def _install_globals(result: Telemetry) -> None:
    from opentelemetry import metrics, trace
    from opentelemetry._logs import set_logger_provider

    if result.tracer_provider is not None:
        trace.set_tracer_provider(result.tracer_provider)
    if result.meter_provider is not None:
        metrics.set_meter_provider(result.meter_provider)
    if result.logger_provider is not None:
        set_logger_provider(result.logger_provider)
