"""Memory held after many calls: llmguard with every feature on against the raw SDK, in the same run.

Each variant runs in its own process over the in-memory httpx2 transport of ``benchmarks/_worker``:
``--calls`` chat completions (default 100,000), each with a ``--prompt-kb`` KB prompt (default 20),
the responses dropped as an app drops them. The figure is the resident set size (RSS, from
``/proc/self/statm``) after the calls and a ``gc.collect()``, and its growth since the end of the
warm-up; the all-on guard is the one of ``benchmarks/_all_on.py`` (spans, metrics, cost, pins with a
lock rewrite, a prompt link, 5% judging with the judgments written to the guard's SQLite database,
the SQLite ledger with a budget, call references). The claim: all-on RSS stays within
``--limit-mb`` MB (default 20 MB, 19.07 MiB) of raw. Exit status 1 when it does not. A last column gives RSS after
glibc's ``malloc_trim(0)``: what the process still holds, without the freed memory its allocator
keeps.

The transport answers at once (``--latency-ms 0``, the default), the hardest case for memory: the
caller thread never waits, and on CPython it then starves every other thread of the process. The
SDK's ``uuid4()`` idempotency key reads ``os.urandom`` with the GIL released and takes it straight
back, on every call, so a thread waiting for the GIL never asks for a switch and can wait over a
second. The ledger writer, the judging workers and OpenTelemetry's batch span processor would
then fall behind and their queues fill towards their configured bounds; the ledger's
``max_write_lag_s`` (a call waits up to 5 ms for a writer 0.2 s late) gives every background
thread its turns, and the output says how often the calls waited. ``--latency-ms 0.5`` answers
after 0.5 ms with the GIL released, as a socket read does (a real provider takes a hundred times
longer): no call ever waits there. The queue peaks show how far behind the background threads got.

This is a benchmark, not a test: it takes minutes and asserts nothing in the unit suite.

    python benchmarks/memory.py [--calls 100000] [--prompt-kb 20] [--limit-mb 20] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """This process's resident set size in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def worker(variant: str, calls: int, prompt_kb: int, latency_ms: float) -> dict[str, Any]:
    """Make ``calls`` calls in this process and report RSS after the warm-up and after the calls."""
    from benchmarks._worker import build

    client = build(variant, _unique_ids(latency_ms / 1000), store_judgments=True)
    # A fresh 20 KB prompt per call (same size, different content), as an app's prompts are.
    prefix = "x" * (prompt_kb * 1024)
    create = client.chat.completions.create
    model = "gpt-4o-mini" if variant == "llmguard-all" else "gpt-4o-mini-2024-07-18"
    link = _prompt_link(variant)

    def one(i: int) -> None:
        with link():
            create(model=model, messages=[{"role": "user", "content": f"{i}:{prefix}"}])

    for i in range(200):
        one(i)
    gc.collect()
    peaks = _QueuePeaks(client)
    before = rss_mb()
    start = time.perf_counter()
    for i in range(calls):
        one(i)
    seconds = time.perf_counter() - start
    guard = getattr(client, "guard", None)
    if guard is not None:
        guard.flush(30)
    peaks.stop()
    ledger = guard.stats().ledger if guard is not None else None
    waits = ledger.waits if ledger is not None else 0
    gc.collect()
    after = rss_mb()
    trimmed = _trimmed_rss_mb()
    if guard is not None:
        guard.close()
    return {
        "variant": variant,
        "calls": calls,
        "prompt_kb": prompt_kb,
        "rss_after_warmup_mb": before,
        "rss_after_calls_mb": after,
        "growth_mb": after - before,
        "rss_after_trim_mb": trimmed,
        "seconds": seconds,
        "queue_peaks": peaks.peaks,
        "ledger_waits": waits,
    }


class _QueuePeaks:
    """The longest the background queues got during the calls, sampled every 50 ms on a thread.

    Ledger rows waiting for the writer, sampled calls waiting for judges (``guard.stats()``), and
    spans waiting in OpenTelemetry's batch span processor (its private queue; 0 when not found).
    """

    def __init__(self, client: Any) -> None:
        self.peaks = {"ledger_rows": 0, "judging_calls": 0, "spans": 0}
        self._guard = getattr(client, "guard", None)
        self._spans = _span_queue(self._guard)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        if self._guard is not None:
            self._thread.start()

    def _sample(self) -> None:
        assert self._guard is not None
        while not self._done.wait(0.05):
            stats = self._guard.stats()
            now = {
                "ledger_rows": stats.ledger.pending if stats.ledger else 0,
                "judging_calls": stats.judging.queued if stats.judging else 0,
                "spans": len(self._spans) if self._spans is not None else 0,
            }
            self.peaks = {k: max(v, now[k]) for k, v in self.peaks.items()}

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()


def _span_queue(guard: Any) -> Any:
    """The batch span processor's queue of the all-on variant's tracer provider (None if not found)."""
    provider = getattr(guard, "tracer_provider", None)
    processors = getattr(getattr(provider, "_active_span_processor", None), "_span_processors", ())
    for processor in processors:
        queue = getattr(getattr(processor, "_batch_processor", None), "_queue", None)
        if queue is not None:
            return queue
    return None


def _trimmed_rss_mb() -> float | None:
    """RSS after glibc's ``malloc_trim(0)`` hands free heap pages back (None without glibc).

    A diagnostic, not the figure of record: the difference to the plain RSS is memory the
    allocator keeps after it was freed (fragmentation, per-thread arenas), not memory still held.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim(0)
    return rss_mb()


def _unique_ids(latency_s: float = 0.0) -> Any:
    """A transport handler whose every response has its own id, as a provider's do, after ``latency_s``.

    (The response-id index holds one entry per distinct id: a fixed id would hide its size.)
    """
    import itertools

    from benchmarks._worker import CHAT, handler

    counter = itertools.count()
    template = CHAT.replace(b'"chatcmpl-bench"', b'"chatcmpl-%012d"')

    def answer(request: Any) -> Any:
        if latency_s:
            time.sleep(latency_s)  # the GIL is released, as while a socket read waits
        response = handler(request)
        if response.headers.get("content-type") == "application/json":
            response = type(response)(200, content=template % next(counter), headers=response.headers)
        return response

    return answer


def _prompt_link(variant: str) -> Any:
    """``llmguard.use_prompt(PROMPT)`` for the all-on variant, else a no-op context."""
    from contextlib import nullcontext

    if variant != "llmguard-all":
        return nullcontext
    import llmguard
    from benchmarks._all_on import PROMPT

    return lambda: llmguard.use_prompt(PROMPT)


def run(variant: str, calls: int, prompt_kb: int, latency_ms: float) -> dict[str, Any]:
    """One variant in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMGUARD_", "OTEL_", "OPENAI_"))}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    cmd = [sys.executable, "-m", "benchmarks.memory", "--worker", variant, "--calls", str(calls)]
    cmd += ["--prompt-kb", str(prompt_kb), "--latency-ms", str(latency_ms)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    """Run raw and all-on, print the table, and say whether the claim holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--prompt-kb", type=int, default=20)
    parser.add_argument("--limit-mb", type=float, default=20.0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the provider's answer time (0: none)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.calls, args.prompt_kb, args.latency_ms)))
        return 0
    rows = {v: run(v, args.calls, args.prompt_kb, args.latency_ms) for v in ("raw", "llmguard-all")}
    over = rows["llmguard-all"]["rss_after_calls_mb"] - rows["raw"]["rss_after_calls_mb"]
    print(
        f"calls={args.calls} prompt={args.prompt_kb} KB latency={args.latency_ms:g} ms "
        f"python={sys.version.split()[0]}\n"
    )
    print(
        "| variant | RSS after warm-up (MiB) | RSS after the calls (MiB) | growth (MiB) "
        "| RSS after malloc_trim (MiB) | seconds |"
    )
    print("|---|---|---|---|---|---|")
    for v, r in rows.items():
        trimmed = r["rss_after_trim_mb"]
        print(
            f"| {v} | {r['rss_after_warmup_mb']:.1f} | {r['rss_after_calls_mb']:.1f} | "
            f"{r['growth_mb']:+.1f} | {'n/a' if trimmed is None else f'{trimmed:.1f}'} | {r['seconds']:.0f} |"
        )
    peaks = rows["llmguard-all"]["queue_peaks"]
    print(
        f"\nllmguard-all queue peaks: {peaks['ledger_rows']:,} ledger rows, {peaks['judging_calls']:,} "
        f"sampled calls waiting for judges, {peaks['spans']:,} spans; the calls waited for the late ledger "
        f"writer {rows['llmguard-all']['ledger_waits']:,} times (up to 5 ms each)"
    )
    limit_mib = args.limit_mb * 1e6 / 2**20  # the claim is in MB (10^6 bytes); RSS is read in MiB
    held = over <= limit_mib
    print(
        f"\nall-on minus raw after the calls: {over:+.2f} MiB (limit +{args.limit_mb:g} MB = "
        f"{limit_mib:.2f} MiB): {'holds' if held else 'FAILS'}"
    )
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
