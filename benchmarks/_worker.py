"""One benchmark variant in its own process: N calls through an in-memory httpx2 transport.

Prints one JSON line: {"variant", "stream", "calls", "seconds", "us_per_call"}.
Run by ``benchmarks/overhead.py``; also run under ``valgrind --tool=callgrind`` for instruction counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx2

CHAT = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hello there, friend."},
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 5,
            "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
).encode()


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM_CHUNKS = 40
"""Chunks of a streamed reply before the usage chunk: a role chunk, 38 content chunks, a finish chunk."""

WORDS = [f" word{i}" for i in range(STREAM_CHUNKS - 2)]
STREAM = b"".join(
    [_chunk({"role": "assistant", "content": ""})]
    + [_chunk({"content": w}) for w in WORDS]
    + [_chunk({}, "stop")]
)
STREAM_OPTIONS = {"include_usage": True}
"""Every variant's streams ask for usage themselves (as apps that want token counts do), so every
variant parses the same 41 chunks and llmguard injects nothing."""
USAGE_CHUNK = _chunk({}, usage={"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17})


def handler(request: httpx2.Request) -> httpx2.Response:
    """Answer every request from memory (a usage chunk only when the request asks for it)."""
    body = json.loads(request.content)
    if body.get("stream"):
        content = STREAM
        if (body.get("stream_options") or {}).get("include_usage"):
            content += USAGE_CHUNK
        return httpx2.Response(
            200, content=content + b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"}
        )
    return httpx2.Response(200, content=CHAT, headers={"content-type": "application/json"})


def otel_providers() -> tuple[Any, Any]:
    """An SDK tracer provider (batch span processor, exporter that drops spans) and a meter provider."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class _Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
    return tracer_provider, MeterProvider()


def finished_call() -> tuple[Any, Any, Any]:
    """One chat call made through a guard (pins off) over the in-memory transport: (guard, call context, record)."""
    import llmguard

    seen: dict[str, Any] = {}

    class Keep:
        def on_start(self, call: object) -> None:
            pass

        def on_end(self, call: object, record: object) -> None:
            seen["call"], seen["record"] = call, record

    guard = llmguard.Guard(pin_policy="off", observers=[Keep()])
    client = llmguard.OpenAI(
        guard=guard,
        api_key="bench",
        base_url="https://bench.invalid/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    client.chat.completions.create(
        model="gpt-4o-mini-2024-07-18", messages=[{"role": "user", "content": "hi"}]
    )
    return guard, seen["call"], seen["record"]


def build(
    variant: str,
    answer: Callable[[httpx2.Request], httpx2.Response] = handler,
    *,
    store_judgments: bool = False,
) -> Any:
    """The client for one variant (``answer`` serves its requests; default: `handler`).

    ``store_judgments``: the all-on guard writes judgments to its database (not to memory).
    """
    http = httpx2.Client(transport=httpx2.MockTransport(answer))
    kwargs: dict[str, Any] = {"api_key": "bench", "base_url": "https://bench.invalid/v1", "http_client": http}
    if variant == "raw":
        import openai

        return openai.OpenAI(**kwargs)
    import llmguard

    if variant == "llmguard-off":
        return llmguard.OpenAI(guard=llmguard.Guard(pin_policy="off"), **kwargs)
    if variant == "llmguard-pins":
        return llmguard.OpenAI(guard=llmguard.Guard(pin_policy="enforce"), **kwargs)
    if variant == "llmguard-telemetry":
        tracer_provider, meter_provider = otel_providers()
        guard = llmguard.Guard(
            pin_policy="off", tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        return llmguard.OpenAI(guard=guard, **kwargs)
    if variant == "llmguard-drift":
        return llmguard.OpenAI(guard=drift_guard(answer), **kwargs)
    if variant == "llmguard-all":
        from benchmarks._all_on import all_on_guard

        return llmguard.OpenAI(guard=all_on_guard(store_judgments=store_judgments), **kwargs)
    raise SystemExit(f"unknown variant {variant!r}")


DRIFT_RATE = 0.05
"""The drift variant embeds this share of calls (a 1,536-dimension vector each), in the background."""


def drift_guard(answer: Callable[[httpx2.Request], httpx2.Response]) -> Any:
    """Pins off plus input drift at `DRIFT_RATE`, embedding through a guarded client over the same transport.

    Sampled inputs are embedded on the drift thread (in batches) and written to a temporary SQLite
    store; the caller's side is a hash per call and a queue put per sampled call, but the background
    thread shares the interpreter, so its cost shows in the per-call figures too.
    """
    import base64
    import struct
    import tempfile
    from pathlib import Path

    import llmguard
    from llmguard.drift import DriftConfig

    floats = [round(1 / 1536**0.5, 6)] * 1536
    as_base64 = base64.b64encode(struct.pack("<1536f", *floats)).decode()
    bodies: dict[tuple[int, bool], bytes] = {}

    def serve(request: httpx2.Request) -> httpx2.Response:
        if not request.url.path.endswith("/embeddings"):
            return answer(request)
        sent = json.loads(request.content)
        key = (len(sent["input"]), sent.get("encoding_format") == "base64")
        if key not in bodies:  # the provider's serialization is not the client's cost: build once
            vector: Any = as_base64 if key[1] else floats
            data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(key[0])]
            usage = {"prompt_tokens": 3, "total_tokens": 3}
            bodies[key] = json.dumps(
                {"object": "list", "data": data, "model": "text-embedding-3-small", "usage": usage}
            ).encode()
        return httpx2.Response(200, content=bodies[key], headers={"content-type": "application/json"})

    def client(guard: Any) -> Any:
        http = httpx2.Client(transport=httpx2.MockTransport(serve))
        return llmguard.OpenAI(
            guard=guard, api_key="bench", base_url="https://bench.invalid/v1", http_client=http
        )

    store = Path(tempfile.mkdtemp(prefix="llmguard-bench-")) / "drift.db"
    config = DriftConfig(sampling=DRIFT_RATE, client=client, store=store, check_interval_s=0)
    return llmguard.Guard(pin_policy="off", drift=config)


def call(client: Any, stream: bool, variant: str) -> Callable[[], object]:
    """One logical call (a stream is consumed to the end); all-on calls an alias linked to a prompt."""
    messages = [{"role": "user", "content": "Say hello."}]
    model = "gpt-4o-mini-2024-07-18"
    if variant == "llmguard-all":
        from benchmarks._all_on import ALIAS

        model = ALIAS  # rewritten by the lock to the snapshot the other variants send

    def once() -> object:
        if stream:
            chunks = client.chat.completions.create(
                model=model, messages=messages, stream=True, stream_options=STREAM_OPTIONS
            )
            return sum(1 for _ in chunks)
        return client.chat.completions.create(model=model, messages=messages)

    if variant != "llmguard-all":
        return once
    import llmguard
    from benchmarks._all_on import PROMPT

    def linked() -> object:
        with llmguard.use_prompt(PROMPT):
            return once()

    return linked


def main() -> None:
    """Parse arguments, warm up, time the calls, print JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", required=True)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    client = build(args.variant)
    once = call(client, args.stream, args.variant)
    for _ in range(args.warmup):
        once()
    start = time.perf_counter()
    for _ in range(args.calls):
        once()
    seconds = time.perf_counter() - start
    guard = getattr(client, "guard", None)
    if guard is not None:
        guard.close()
    json.dump(
        {
            "variant": args.variant,
            "stream": args.stream,
            "calls": args.calls,
            "seconds": seconds,
            "us_per_call": seconds / max(args.calls, 1) * 1e6,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
