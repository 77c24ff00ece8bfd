"""Memory of the response-id index at its cap, with tracemalloc.

Fills `llmguard._refs`' index with ``MAX_RESPONSE_IDS`` finished calls, each with its own call id,
trace and span ids (as telemetry sets them) and a 38-character response id (as OpenAI's), and
prints what the index holds once the calls themselves are gone: the strings and objects made for
each call after tracing started and still alive (the call contexts are made before, so only what
the index keeps counts).

    python -m benchmarks.refs_memory
"""

from __future__ import annotations

import copy
import gc
import tracemalloc


def main() -> int:
    """Fill the index to its cap and print its size."""

    from benchmarks._worker import finished_call
    from llmguard import _refs

    _, finished, _ = finished_call()
    n = _refs.MAX_RESPONSE_IDS
    calls = []
    for i in range(n):
        call = copy.copy(finished)
        call._call_id = None  # made on first use, inside the index
        call.start_ns += i * 1_000_000
        calls.append(call)
    _refs._index = None  # made again inside the trace, with the arrays it allocates for its cap
    gc.collect()
    tracemalloc.start()
    for i, call in enumerate(calls):
        call.trace_id, call.span_id = format((i + 1) << 90, "032x"), format((i + 1) << 40, "016x")
        _refs.remember_response_id(f"chatcmpl-{i:029x}", call, "gpt-4o-mini-2024-07-18")
    del calls, call
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"response-id index at its cap ({n:,} calls): {held / 2**20:.2f} MiB, {held / n:.0f} bytes per call"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
