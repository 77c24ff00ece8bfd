"""Benchmark: how far a hard budget shared by many processes overshoots, against the stated bound.

``--procs`` replica processes x ``--threads`` threads call a fake provider (``--latency`` seconds
per call, $0.01 each) through one database until the hard budget refuses them. Every replica
refreshes its view of the shared spend every ``--refresh`` seconds on its ledger writer thread.

The bound (in calls): each replica can overshoot by the calls it had in flight when the shared
total reached the limit, plus the calls its threads started while its view was stale. The
staleness is at most the time between two refreshes plus the time from a call's start to its
row's commit; on an idle machine that is about ``refresh + flush + latency``, and each replica
measures its own (a loaded machine delays the writer thread). So the bound is
``sum over replicas of threads x (1 + ceil(staleness / latency))``, and the nominal one uses
``refresh + flush + latency`` for the staleness.

Also checked: no call counted twice (ledger rows == successful calls, and the ledger's spend is
exactly $0.01 per row). PostgreSQL by default (a throwaway server, like the tests), or ``--db``.
Run: ``python benchmarks/budget_overshoot.py [--procs 4] [--threads 8] [--limit 5] [--json]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FLUSH_S = 0.05
CALL_USD = 0.01


def measure(
    url: str, *, procs: int, threads: int, limit: float, latency: float, refresh: float
) -> dict[str, Any]:
    """Run the replicas against ``url`` (migrated) and return the figures."""
    from llmguard._storage import Database

    start_at = time.time() + 3.0  # every replica starts calling at once, after importing
    args = [url, str(limit), str(threads), str(latency), str(refresh), str(start_at)]
    workers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_budget_worker.py"), *args], stdout=subprocess.PIPE, text=True
        )
        for _ in range(procs)
    ]
    outs = [json.loads(w.communicate(timeout=600)[0]) for w in workers]
    db = Database(url)
    rows, nanos = db.query("SELECT COUNT(*), COALESCE(SUM(cost_nanos), 0) FROM cost_ledger")[0]
    db.dispose()
    ok = sum(o["ok"] for o in outs)
    spent = int(nanos) / 1e9
    bound_calls = sum(threads * (1 + math.ceil(o["staleness_s"] / latency)) for o in outs)
    nominal = procs * threads * (1 + math.ceil((refresh + FLUSH_S + latency) / latency))
    return {
        "procs": procs, "threads": threads, "latency_s": latency, "refresh_s": refresh, "limit_usd": limit,
        "calls_ok": ok, "ledger_rows": int(rows), "refused": sum(o["refused"] for o in outs),
        "spent_usd": round(spent, 6), "overshoot_usd": round(spent - limit, 6),
        "overshoot_calls": round((spent - limit) / CALL_USD), "bound_calls": bound_calls,
        "nominal_bound_calls": nominal, "staleness_max_s": round(max(o["staleness_s"] for o in outs), 3),
        "in_flight_max": max(o["in_flight_max"] for o in outs),
        "exact": int(rows) == ok and int(nanos) == ok * round(CALL_USD * 1e9),
    }  # fmt: skip


def main() -> None:
    """Measure on PostgreSQL (or ``--db``) and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--limit", type=float, default=5.0)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--refresh", type=float, nargs="+", default=[1.0, 0.25])
    parser.add_argument(
        "--db", default=None, help="a migrated database URL (default: a throwaway PostgreSQL)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "tests"))
    _start = importlib.import_module("_postgres")._start

    servers = None if args.db else _start()
    server = None if servers is None else next(servers)
    results = []
    try:
        for refresh in args.refresh:
            url = args.db or server.new_database()  # type: ignore[union-attr]
            results.append(
                measure(
                    url,
                    procs=args.procs,
                    threads=args.threads,
                    limit=args.limit,
                    latency=args.latency,
                    refresh=refresh,
                )
            )
    finally:
        if servers is not None:
            servers.close()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(
            f"{r['procs']}x{r['threads']} refresh {r['refresh_s']}s latency {r['latency_s']}s: limit ${r['limit_usd']}, "
            f"spent ${r['spent_usd']} (overshoot {r['overshoot_calls']} calls; bound {r['bound_calls']} at the measured "
            f"staleness {r['staleness_max_s']}s, nominal {r['nominal_bound_calls']}), "
            f"{r['calls_ok']} calls = {r['ledger_rows']} rows, exact={r['exact']}"
        )


if __name__ == "__main__":
    main()
