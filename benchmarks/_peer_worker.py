"""One peer-comparison variant in its own process, over the in-memory httpx2 transport of ``_worker``.

Variants: ``raw`` (the openai SDK alone), ``llmguard`` (spans + cost + metrics, pin policy enforce),
``otel-openai-v2`` (``opentelemetry-instrumentation-openai-v2``), ``otel-genai-openai`` (its
successor ``opentelemetry-instrumentation-genai-openai``), ``openllmetry``
(``opentelemetry-instrumentation-openai``) and ``langfuse`` (the ``langfuse.openai`` drop-in). Every
instrumented variant gets its own SDK ``TracerProvider`` with a ``BatchSpanProcessor`` (Langfuse's own
processor is one) over an exporter that drops the spans, and, where the library takes one, a
``MeterProvider``. Each peer keeps its defaults otherwise.

The process refuses every socket connection and name lookup (the transport answers from memory), and
reports any attempt, including those made at interpreter exit, in its JSON line.

Prints one JSON line: {"variant", "stream", "calls", "us_per_call", "cpu_us_per_call" (CPU time of the
process, all threads), "network_attempts", "versions", ...}.
With ``--probe`` it instead makes three calls, exports the spans to memory and reports what they carry.
Run by ``benchmarks/peers.py`` inside the benchmark venv.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import socket
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

NETWORK_ATTEMPTS: list[str] = []
RESULT: dict[str, Any] = {}


def _refuse(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        NETWORK_ATTEMPTS.append(f"{name}{args[1:3] if name.startswith('socket.') else args[:2]!r}")
        raise OSError(f"peer benchmark: network access refused ({name})")

    return refuse


def forbid_network() -> None:
    """Make every connection and name lookup of this process fail, and record it."""
    socket.socket.connect = _refuse("socket.connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse("socket.connect_ex")  # type: ignore[method-assign]
    socket.socket.sendto = _refuse("socket.sendto")  # type: ignore[method-assign]
    socket.getaddrinfo = _refuse("getaddrinfo")
    socket.create_connection = _refuse("create_connection")


def _emit() -> None:
    """Print the result last of all at exit, after the libraries' own atexit shutdowns."""
    if RESULT:
        RESULT["network_attempts"] = NETWORK_ATTEMPTS
        sys.stdout.write(json.dumps(RESULT) + "\n")
        sys.stdout.flush()


PEER_DISTS = {
    "raw": [],
    "llmguard": ["llmguard"],
    "otel-openai-v2": ["opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"],
    "otel-genai-openai": ["opentelemetry-instrumentation-genai-openai", "opentelemetry-util-genai"],
    "openllmetry": ["opentelemetry-instrumentation-openai"],
    "langfuse": ["langfuse"],
}
COMMON_DISTS = ["openai", "httpx2", "opentelemetry-api", "opentelemetry-sdk"]


def versions(variant: str) -> dict[str, str]:
    """Installed versions of the distributions this variant runs on."""
    out: dict[str, str] = {}
    for dist in COMMON_DISTS + PEER_DISTS.get(variant, []):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out


def tracer_provider(exporter: Any) -> Any:
    """An SDK tracer provider exporting through a batch span processor."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def drop_exporter() -> Any:
    """A span exporter that accepts and discards everything."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class _Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return _Drop()


def build(variant: str, exporter: Any) -> tuple[Any, Any, Callable[[], None]]:
    """The client, the tracer provider (or None) and a close function for one variant."""
    import httpx2

    from benchmarks._worker import handler

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    kwargs: dict[str, Any] = {"api_key": "bench", "base_url": "https://bench.invalid/v1", "http_client": http}
    if variant == "raw":
        import openai

        return openai.OpenAI(**kwargs), None, lambda: None

    from opentelemetry.sdk.metrics import MeterProvider

    if variant == "llmguard":
        import llmguard

        provider = tracer_provider(exporter)
        guard = llmguard.Guard(pin_policy="enforce", tracer_provider=provider, meter_provider=MeterProvider())
        return llmguard.OpenAI(guard=guard, **kwargs), provider, guard.close

    if variant in ("otel-openai-v2", "otel-genai-openai", "openllmetry"):
        module = {
            "otel-openai-v2": "opentelemetry.instrumentation.openai_v2",
            "otel-genai-openai": "opentelemetry.instrumentation.genai.openai",
            "openllmetry": "opentelemetry.instrumentation.openai",
        }[variant]
        import openai

        provider = tracer_provider(exporter)
        instrumentor = importlib.import_module(module).OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=provider, meter_provider=MeterProvider())
        return openai.OpenAI(**kwargs), provider, lambda: None

    if variant == "langfuse":
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider()
        # Offline: dummy keys, a loopback discard-port host that is never contacted, and Langfuse's
        # own batch span processor over the dropping exporter instead of its OTLP exporter.
        client = importlib.import_module("langfuse").Langfuse(
            public_key="pk-lf-bench",
            secret_key="sk-lf-bench",
            base_url="http://127.0.0.1:9",
            tracer_provider=provider,
            span_exporter=exporter,
        )
        drop_in = importlib.import_module("langfuse.openai")
        return drop_in.OpenAI(**kwargs), provider, client.shutdown

    raise SystemExit(f"unknown variant {variant!r}")


def call(client: Any, stream: bool) -> Callable[[], object]:
    """One logical call; a stream (40 chunks and the usage chunk it asks for) is consumed to the end."""
    from benchmarks._worker import STREAM_OPTIONS

    messages = [{"role": "user", "content": "Say hello."}]
    model = "gpt-4o-mini-2024-07-18"

    def once() -> object:
        if stream:
            chunks = client.chat.completions.create(
                model=model, messages=messages, stream=True, stream_options=STREAM_OPTIONS
            )
            return sum(1 for _ in chunks)
        return client.chat.completions.create(model=model, messages=messages)

    return once


def describe(spans: Sequence[Any], calls: int) -> dict[str, Any]:
    """What the exported spans of ``calls`` calls carry."""

    def has(predicate: Callable[[str, Any], bool]) -> bool:
        return bool(spans) and all(any(predicate(k, v) for k, v in s.attributes.items()) for s in spans)

    return {
        "spans_per_call": len(spans) / calls,
        "span_names": sorted({s.name for s in spans}),
        "scopes": sorted({s.instrumentation_scope.name for s in spans if s.instrumentation_scope}),
        "usage": has(
            lambda k, v: (
                k == "gen_ai.usage.input_tokens"
                or (k == "langfuse.observation.usage_details" and "prompt_tokens" in str(v))
            )
        ),
        "cost": has(
            lambda k, v: (
                k in ("gen_ai.usage.cost.amount", "gen_ai.usage.cost")
                or (k == "langfuse.observation.cost_details" and bool(v))
            )
        ),
        "content": has(lambda k, v: "Say hello." in str(v)),
    }


def main() -> None:
    """Parse arguments, warm up, time the calls (or probe), print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", required=True)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--probe", action="store_true", help="report what the spans carry instead")
    args = parser.parse_args()
    forbid_network()
    atexit.register(_emit)  # registered first, so it runs last
    RESULT.update({"variant": args.variant, "stream": args.stream, "versions": versions(args.variant)})

    if args.probe:
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        memory = InMemorySpanExporter()
        client, provider, close = build(args.variant, memory)
        once = call(client, args.stream)
        for _ in range(3):
            once()
        if provider is not None:
            provider.force_flush()
        RESULT.update(describe(memory.get_finished_spans(), 3) if provider is not None else {})
        close()
        return

    client, provider, close = build(args.variant, drop_exporter())
    once = call(client, args.stream)
    for _ in range(args.warmup):
        once()
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.calls):
        once()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start  # all threads: the batch processor's export thread included
    close()
    if provider is not None:
        provider.shutdown()
    calls = max(args.calls, 1)
    RESULT.update(
        {
            "calls": args.calls,
            "seconds": seconds,
            "us_per_call": seconds / calls * 1e6,
            "cpu_us_per_call": cpu / calls * 1e6,
        }
    )


if __name__ == "__main__":
    main()
