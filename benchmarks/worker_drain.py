"""Benchmark: worker processes draining sampled calls from the PostgreSQL job queue, exactly.

An app process makes ``--calls`` guarded calls (offline fake provider, every call sampled, two
rule judges), so it only enqueues jobs; then ``--workers`` ``llmguard worker --burst`` processes
judge them. Checks and prints: jobs enqueued, judgments stored (must be calls x judges, each
(call, judge) exactly once), jobs left (must be 0), the app's enqueue time and the drain time.

Run: ``python benchmarks/worker_drain.py [--calls 10000] [--workers 2] [--json]`` (a throwaway
PostgreSQL is started like the tests do, or pass ``--db URL`` of a migrated database).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
JUDGES = ["no_refusal", {"name": "min_length", "min_chars": 2}]


def measure(url: str, calls: int, workers: int) -> dict[str, Any]:
    """Enqueue ``calls`` sampled calls in this process, then drain them with ``workers`` processes."""
    import llmguard
    from llmguard._storage import Database
    from llmguard.testing import FakeOpenAI

    guard = llmguard.Guard(
        db=url, pin_policy="off", judges=JUDGES, sampling={"rate": 1.0, "max_queue": calls}
    )
    start = time.perf_counter()
    with FakeOpenAI(reply="a fine answer").client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(calls):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    guard.flush(timeout=600)
    enqueue_s = time.perf_counter() - start
    stats = guard.stats().judging
    guard.close()
    with tempfile.TemporaryDirectory() as project:
        config = Path(project) / "llmguard.toml"
        config.write_text(
            f'db = "{url}"\njudges = ["no_refusal", {{ name = "min_length", min_chars = 2 }}]\n'
        )
        env = {**os.environ, "LLMGUARD_CONFIG": str(config)}
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "llmguard", "worker", "--burst", "--concurrency", "4"],
                env=env,
                cwd=project,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        outs = [p.communicate(timeout=3600) for p in procs]
        drain_s = time.perf_counter() - start
    db = Database(url)
    per_pair = db.query(
        "SELECT MAX(n), COUNT(*) FROM (SELECT COUNT(*) AS n FROM llmguard_judgments GROUP BY call_id, judge) AS x"
    )
    jobs_left = db.query("SELECT COUNT(*) FROM procrastinate_jobs")[0][0]
    db.dispose()
    return {
        "calls": calls, "workers": workers, "sampled": stats.sampled if stats else 0,
        "dropped": stats.dropped if stats else 0, "judgments": per_pair[0][1], "max_per_pair": per_pair[0][0],
        "jobs_left": jobs_left, "enqueue_s": round(enqueue_s, 1), "drain_s": round(drain_s, 1),
        "judged_per_s": round(per_pair[0][1] / drain_s, 1),
        "workers_ok": all(p.returncode == 0 for p in procs), "worker_stdout": [o[0].strip() for o in outs],
    }  # fmt: skip


def main() -> None:
    """Start PostgreSQL (unless ``--db``), measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "tests"))
    servers: Any = None if args.db else importlib.import_module("_postgres")._start()
    try:
        url = args.db or next(servers).new_database()
        result = measure(url, args.calls, args.workers)
    finally:
        if servers is not None:
            servers.close()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['calls']} calls x {len(JUDGES)} judges: {result['sampled']} sampled, {result['dropped']} dropped, "
        f"enqueued in {result['enqueue_s']} s; {result['workers']} workers judged {result['judgments']} "
        f"(max {result['max_per_pair']} per call and judge) in {result['drain_s']} s "
        f"({result['judged_per_s']}/s); jobs left {result['jobs_left']}"
    )


if __name__ == "__main__":
    main()
