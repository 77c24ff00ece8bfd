"""Benchmark: caller-side overhead of input-drift sampling, in CPU time rather than wall time.

The drift observer's work on the caller's thread is a salted hash per call and a queue put per
sampled call; the embedding, parsing and storing run on the drift thread. On a busy machine the
wall clock is noise, so this measures **CPU seconds**: ``time.thread_time()`` of the calling
thread (what the caller pays) and ``time.process_time()`` (every thread, the drift thread's
embedding work included, after ``guard.flush()``), per call, for the raw SDK, llmguard with
nothing on, and llmguard with drift sampling 5% of calls (`benchmarks._worker.drift_guard`),
interleaved over rounds, reported as medians and as ratios to raw measured in the same run.

Run: ``python benchmarks/drift_overhead.py [--calls 2000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

from benchmarks._worker import build, call

VARIANTS = ("raw", "llmguard-off", "llmguard-drift")


def measure(once: Any, client: Any, calls: int) -> tuple[float, float]:
    """(caller-thread CPU µs per call, process CPU µs per call with background work drained)."""
    thread0, process0 = time.thread_time(), time.process_time()
    for _ in range(calls):
        once()
    caller = time.thread_time() - thread0
    guard = getattr(client, "guard", None)
    if guard is not None:
        guard.flush(30)
    total = time.process_time() - process0
    return caller / calls * 1e6, total / calls * 1e6


def main() -> int:
    """Run interleaved rounds and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    clients = {v: build(v) for v in VARIANTS}
    calls = {v: call(clients[v], False, v) for v in VARIANTS}
    for v in VARIANTS:  # warm up
        measure(calls[v], clients[v], 200)
    samples: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    order = list(VARIANTS)
    for _ in range(args.rounds):
        random.shuffle(order)
        for v in order:
            samples[v].append(measure(calls[v], clients[v], args.calls))
    out: dict[str, Any] = {"calls": args.calls, "rounds": args.rounds}
    for v in VARIANTS:
        caller = [s[0] for s in samples[v]]
        total = [s[1] for s in samples[v]]
        ratio_caller = [s[0] / r[0] for s, r in zip(samples[v], samples["raw"], strict=True)]
        ratio_total = [s[1] / r[1] for s, r in zip(samples[v], samples["raw"], strict=True)]
        out[v] = {
            "caller_cpu_us": round(statistics.median(caller), 1),
            "process_cpu_us": round(statistics.median(total), 1),
            "caller_ratio": round(statistics.median(ratio_caller), 3),
            "process_ratio": round(statistics.median(ratio_total), 3),
        }
    stats = getattr(clients["llmguard-drift"], "guard", None)
    if stats is not None:
        from llmguard.drift import drift_stats

        drift = drift_stats(stats)
        out["drift_sampled"] = None if drift is None else drift.sampled
        out["drift_embedded"] = None if drift is None else drift.embedded
    for client in clients.values():
        guard = getattr(client, "guard", None)
        if guard is not None:
            guard.close()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
