"""Benchmark: routing calls to human review costs the caller only the enqueue.

Calls through ``llmguard.OpenAI`` against the offline fake provider, with content capture on, three
ways: ``off`` (no review router); ``rate0`` (a router that routes nothing: the decision only);
``rate1`` (every call routed: enqueued, then redacted and written by the background thread).

- Wall clock: the ratio of each to ``off``, best of N interleaved runs (moves with machine load).
- ``--callgrind``: CPU instructions per call with valgrind, (I(N2) - I(N1)) / (N2 - N1) at
  PYTHONHASHSEED=0, the figure of record. It counts every thread, so ``rate1`` includes the
  background writer's redaction and SQL (flushed before the process ends).

- ``--micro``: the hot-path pieces alone, best of N ``timeit`` rounds: the routing decision at rate 0
  (no hash), at rate 0.5 (one salted SHA-256) and for an explicit id, and the enqueue (a lock, an
  append and a notify).

Run: ``python benchmarks/review_router.py [--calls 2000] [--repeats 3] [--callgrind [--n1 20 --n2 80]] [--micro]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import llmguard
from llmguard.review import ReviewRouter
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-mini-2024-07-18"
MESSAGES: Any = [{"role": "user", "content": "Where is my order? Mail me at ann@example.com"}]
MODES = ("off", "rate0", "rate1")
ROOT = Path(__file__).resolve().parents[1]


def run(mode: str, calls: int, warmup: int, db: Path) -> float:
    """Seconds for ``calls`` calls (after ``warmup``), the router flushed before the clock stops."""
    routers = [] if mode == "off" else [ReviewRouter(db, 0.0 if mode == "rate0" else 1.0)]
    guard = llmguard.Guard(db_path=db, pin_policy="off", capture_content=True, observers=routers)
    fake = FakeOpenAI(reply="Your order ships tomorrow. " * 4)
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(warmup):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        for router in routers:
            router.flush(60)
        start = time.perf_counter()
        for _ in range(calls):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        for router in routers:
            router.flush(60)
        took = time.perf_counter() - start
    guard.close()
    return took


def instructions(mode: str, calls: int) -> int:
    """Total instructions (callgrind) of one worker run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
               "--worker", mode, "--calls", str(calls), "--db", str(Path(tmp) / "w.db")]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMGUARD_", "OTEL_", "OPENAI_"))}
        env.update(PYTHONHASHSEED="0", PYTHONPATH=str(ROOT))
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
        match = re.search(r"Collected : (\d+)", done.stderr)
        if match is None:
            raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
        return int(match.group(1))


def micro(repeats: int) -> dict[str, float]:
    """Nanoseconds per operation of the hot-path pieces (best of ``repeats`` rounds)."""
    import timeit

    from llmguard.review import Routing

    call_id = "0123456789abcdef0123456789abcdef"
    rate0, rate_half, explicit = Routing(), Routing(rate=0.5), Routing(call_ids={call_id})
    router = ReviewRouter(Path(tempfile.mkdtemp()) / "m.db", 1.0, max_pending=10**9)
    record: Any = SimpleNamespace(  # what the writer reads of a CallRecord (no guard: nothing is stored)
        call_id=call_id,
        prompt=None,
        context=None,
        start_time_ns=0,
        response_model=None,
        request_model="m",
        request={},
        output_text="x",
    )
    cases = {
        "decide_rate0": lambda: rate0.on_call(call_id, "faq", ("vip",)),
        "decide_rate_half": lambda: rate_half.on_call(call_id, "faq", ("vip",)),
        "decide_explicit": lambda: explicit.on_call(call_id),
        "enqueue": lambda: router._offer(None, record, "random"),
    }
    number = 20_000
    return {
        name: round(min(timeit.repeat(fn, number=number, repeat=repeats)) / number * 1e9)
        for name, fn in cases.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--n1", type=int, default=20)
    parser.add_argument("--n2", type=int, default=80)
    parser.add_argument("--micro", action="store_true")
    parser.add_argument("--worker", choices=MODES)
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"seconds": run(args.worker, args.calls, 20, args.db)}))
        return
    if args.micro:
        print(json.dumps({"ns_per_op": micro(args.repeats)}, indent=2))
        return
    if args.callgrind:
        per_call = {
            m: (instructions(m, args.n2) - instructions(m, args.n1)) / (args.n2 - args.n1) for m in MODES
        }
        print(json.dumps({
            "instructions_per_call": {m: round(v) for m, v in per_call.items()},
            "ratio_rate0_to_off": round(per_call["rate0"] / per_call["off"], 4),
            "ratio_rate1_to_off": round(per_call["rate1"] / per_call["off"], 4),
        }, indent=2))  # fmt: skip
        return
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):  # interleaved, best of N: the machine's noise hits every side alike
            for mode in MODES:
                times[mode].append(run(mode, args.calls, 20, Path(tmp) / f"{mode}-{i}.db"))
    best = {m: min(v) for m, v in times.items()}
    print(json.dumps({
        "calls": args.calls,
        "us_per_call": {m: round(t / args.calls * 1e6, 1) for m, t in best.items()},
        "ratio_rate0_to_off": round(best["rate0"] / best["off"], 3),
        "ratio_rate1_to_off": round(best["rate1"] / best["off"], 3),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
