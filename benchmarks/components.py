"""CPU instructions of the hot path's parts, each measured apart with callgrind.

Where `benchmarks/overhead.py` counts a whole call, this counts one part at a time, in one valgrind
run: building the `CallRecord` and its `Usage`, pricing a call, indexing a finished call by its
response id (the index full, so each call also drops the oldest), the OpenTelemetry SDK's own work
(an empty span, a span with attributes, one metric measurement), a ledger batch of one and of ten
rows on a SQLite file, and one budget refresh over the rows those batches left. Each part runs
N1 and then N2 times inside ``math.fsum`` (the only code callgrind collects, one dump per
``fsum``); the figure is (I(N2) - I(N1)) / (N2 - N1).

    python benchmarks/components.py [--n1 200] [--n2 1000] [--only pricing,response-id]
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parts() -> dict[str, Callable[[], float]]:
    """The measured parts, each a function returning 0.0 (``fsum`` adds them)."""
    from opentelemetry.trace import SpanKind

    from benchmarks._worker import finished_call, otel_providers
    from llmguard import _refs
    from llmguard._pricing import PriceTable
    from llmguard._record import build_usage
    from llmguard.cost._budget import Budget, BudgetTracker, UTCClock
    from llmguard.cost._ledger import SQLLedger
    from llmguard.cost._rows import ledger_row
    from llmguard.testing import make_record

    tracer_provider, meter_provider = otel_providers()
    guard, call, record = finished_call()
    runtime = guard.runtime
    usage = record.usage
    pricer = PriceTable()

    traced = copy.copy(call)  # as telemetry leaves it: the span's trace and span ids
    traced.trace_id, traced.span_id = f"{1 << 100:032x}", f"{1 << 60:016x}"
    response_ids = iter([f"chatcmpl-{i:024x}" for i in range(_refs.MAX_RESPONSE_IDS + 10_000)])
    for _ in range(_refs.MAX_RESPONSE_IDS):
        _refs.remember_response_id(next(response_ids), traced, "gpt-4o-mini-2024-07-18")

    tracer = tracer_provider.get_tracer("bench")
    histogram = meter_provider.get_meter("bench").create_histogram("bench.duration", unit="s")
    start_attrs = {f"bench.start{i}": f"value{i}" for i in range(12)}
    end_attrs = {f"bench.end{i}": i for i in range(10)}
    metric_attrs = {f"bench.m{i}": f"v{i}" for i in range(6)}

    ledger = SQLLedger(Path(tempfile.mkdtemp(prefix="llmguard-components-")) / "ledger.db")
    row = ledger_row(make_record(), UTCClock(), 1000)
    made = [0]

    def rows(n: int) -> list[tuple[object, ...]]:
        out = []
        for _ in range(n):
            made[0] += 1
            out.append((f"{made[0]:032x}", *row[1:]))
        return out

    tracker = BudgetTracker([Budget(period="day", hard_usd=1e9)])

    def measured(fn: Callable[[], object]) -> Callable[[], float]:
        def run() -> float:
            fn()
            return 0.0

        return run

    def empty_span() -> None:
        tracer.start_span("chat m", kind=SpanKind.CLIENT).end()

    def attributed_span() -> None:
        span = tracer.start_span("chat m", kind=SpanKind.CLIENT, attributes=start_attrs)
        span.set_attributes(end_attrs)
        span.end()

    return {
        "record (37 fields)": measured(lambda: runtime._record(call, None, None, usage, None, False, 1.0)),
        "usage (5 fields)": measured(lambda: build_usage(12, 5, 0, None, 0)),
        "pricing one call": measured(lambda: pricer("openai", "gpt-4o-mini-2024-07-18", usage)),
        "response-id index: one call": measured(
            lambda: _refs.remember_response_id(next(response_ids), traced, "gpt-4o-mini-2024-07-18")
        ),
        "OTel: empty span": measured(empty_span),
        "OTel: span, 12 + 10 attributes": measured(attributed_span),
        "OTel: one histogram measurement": measured(lambda: histogram.record(1.5, metric_attrs)),
        "ledger: batch of 1 row": measured(lambda: ledger.write(rows(1))),
        "ledger: batch of 10 rows": measured(lambda: ledger.write(rows(10))),
        "budget refresh (rows so far)": measured(lambda: tracker.refresh(ledger, alert=False)),
    }


def worker(n1: int, n2: int, only: str) -> None:
    """Run every part N1 then N2 times, each inside its own ``math.fsum`` (callgrind dumps after each)."""
    wanted = [w for w in only.split(",") if w]
    for name, run in parts().items():
        if wanted and not any(w in name for w in wanted):
            continue
        for _ in range(20):
            run()
        math.fsum(run() for _ in range(n1))
        math.fsum(run() for _ in range(n2))
        print(name, flush=True)


def main() -> int:
    """Run the worker under callgrind and print instructions per run of each part."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n1", type=int, default=200)
    parser.add_argument("--n2", type=int, default=1000)
    parser.add_argument("--only", default="", help="comma-separated parts of names of the parts to measure")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.n1, args.n2, args.only)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        env = {
            **os.environ,
            "PYTHONHASHSEED": "0",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        }
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                "--toggle-collect=math_fsum",
                "--dump-after=math_fsum",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--worker",
                f"--n1={args.n1}",
                f"--n2={args.n2}",
                f"--only={args.only}",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        names = done.stdout.split("\n")[:-1]
        dumps = sorted(Path(tmp).glob("cg.out.*"), key=lambda p: int(p.suffix[1:]))
        totals = [int(re.search(r"^(?:totals|summary): (\d+)", p.read_text(), re.M).group(1)) for p in dumps]  # type: ignore[union-attr]
        if done.returncode != 0 or len(totals) != 2 * len(names):
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
    print(f"| part | instructions per run (N1={args.n1}, N2={args.n2}) |\n|---|---|")
    for i, name in enumerate(names):
        print(f"| {name} | {(totals[2 * i + 1] - totals[2 * i]) / (args.n2 - args.n1):,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
