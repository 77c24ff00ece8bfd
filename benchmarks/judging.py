"""Benchmark: judging never slows the caller.

1,000 calls through ``llmguard.OpenAI`` against the offline fake provider, with a judge that
sleeps 1 s at a 100 % sample rate, against the same calls with judging off. Reports the ratio of
wall times, the peak traced memory (bounded by ``max_queue``) and the drop counters.

Run: ``python benchmarks/judging.py [--calls 1000] [--judge-sleep 1.0] [--max-queue 100]``.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from typing import Any

import llmguard
from llmguard.judging import InMemorySink, JudgeInput, JudgingObserver, Sampling
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-mini-2024-07-18"
MESSAGES: Any = [{"role": "user", "content": "Summarize the benchmark in one line."}]


def run(calls: int, guard: llmguard.Guard) -> float:
    fake = FakeOpenAI(reply="A short and sufficiently long answer to judge. " * 4)
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(20):  # warm up
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        start = time.perf_counter()
        for _ in range(calls):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--judge-sleep", type=float, default=1.0)
    parser.add_argument("--max-queue", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    def slow_judge(item: JudgeInput) -> float:
        time.sleep(args.judge_sleep)
        return 1.0

    def judged_guard() -> llmguard.Guard:
        sampling = Sampling(rate=1.0, max_queue=args.max_queue, workers=2, judge_timeout=5.0)
        return llmguard.Guard(
            pin_policy="off", judges=[slow_judge], sampling=sampling, judgment_sink=InMemorySink()
        )

    off, on = [], []
    stats = None
    for _ in range(args.repeats):  # interleaved, best of N: the machine's noise hits both sides alike
        off.append(run(args.calls, llmguard.Guard(pin_policy="off")))
        guard = judged_guard()
        on.append(run(args.calls, guard))
        stats = next(o for o in guard.runtime.observers if isinstance(o, JudgingObserver)).stats()
        guard.close(timeout=0.5)
    # Memory: a separate run under tracemalloc (which slows Python down, so it is not timed).
    guard = judged_guard()
    tracemalloc.start()
    run(args.calls, guard)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    guard.close(timeout=0.5)
    assert stats is not None
    report = {
        "calls": args.calls,
        "judge_sleep_s": args.judge_sleep,
        "judging_off_s": round(min(off), 4),
        "judging_on_s": round(min(on), 4),
        "ratio_on_over_off": round(min(on) / min(off), 3),
        "peak_traced_memory_mib_with_judging": round(peak / 2**20, 2),
        "max_queue": args.max_queue,
        "sampled": stats.sampled,
        "dropped": stats.dropped,
        "dropped_by_reason": stats.dropped_by_reason,
        "pending_at_end": stats.pending,
        "judged_during_run": stats.judged,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
