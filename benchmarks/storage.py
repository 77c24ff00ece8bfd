"""Benchmark: the storage layer on each engine (SQLite embedded, PostgreSQL shared).

1. **Ledger rows per second**: ``--rows`` ledger rows written in the writer's batches of 500,
   after one warm-up batch (schema created, connections open).
2. **Feedback from 4 processes x 8 threads**: every thread records ``--votes`` feedback entries
   (each `write` returns once committed), then the rows are counted: acknowledged writes lost must
   be 0. Reports writes per second.

PostgreSQL: ``--postgres URL``, or (default) a throwaway server started from the Debian binaries
like the tests do (initdb + pg_ctl). Run:
``python benchmarks/storage.py [--rows 20000] [--votes 100] [--postgres URL] [--json]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def _ledger_row(call_id: str) -> tuple[Any, ...]:
    from llmguard.cost._ledger import COLUMNS

    values: dict[str, Any] = dict.fromkeys(COLUMNS)
    values.update(
        call_id=call_id, ts_ns=1, day="2026-12-01", kind="chat", service="svc", environment="prod",
        provider="openai", model="gpt-4o-2024-08-06", input_tokens=100, output_tokens=20, cost_nanos=1234,
        duration_s=0.5, status="ok", refused=0, user_id="u1", tags='["checkout"]',
    )  # fmt: skip
    return tuple(values[c] for c in COLUMNS)


def ledger_rows_per_second(url: str, rows: int) -> float:
    """Rows per second written by `SQLLedger.write` in batches of 500."""
    from llmguard.cost._ledger import CHUNK_ROWS, SQLLedger

    ledger = SQLLedger(url)
    ledger.write([_ledger_row("warm-up")])
    batch = [_ledger_row(f"r{i}") for i in range(rows)]
    start = time.perf_counter()
    for i in range(0, rows, CHUNK_ROWS):
        ledger.write(batch[i : i + CHUNK_ROWS])
    elapsed = time.perf_counter() - start
    assert ledger.query("SELECT COUNT(*) FROM cost_ledger")[0][0] == rows + 1
    ledger.close()
    return rows / elapsed


def _feedback_worker(url: str, proc: int, threads: int, votes: int) -> None:
    from llmguard._feedback._model import FeedbackEntry
    from llmguard._feedback._ref import CallRef
    from llmguard._feedback._sqlite import SQLFeedbackSink

    sink = SQLFeedbackSink(url)

    def work(t: int) -> None:
        for i in range(votes):
            ref = CallRef(call_id=f"p{proc}-t{t}-c{i}")
            sink.write(
                [
                    FeedbackEntry(
                        ref=ref, name="thumbs", value=True, value_type="boolean", score=1.0, label=None
                    )
                ]
            )

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    sink.close()


def feedback_from_processes(url: str, procs: int, threads: int, votes: int) -> dict[str, Any]:
    """Concurrent acknowledged feedback writes from ``procs`` processes x ``threads`` threads."""
    from llmguard._storage import open_database

    db = open_database(url)
    db.ensure_schema()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_feedback_worker, args=(url, p, threads, votes)) for p in range(procs)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    stored = int(db.query("SELECT COUNT(*) FROM llmguard_feedback")[0][0])
    acknowledged = procs * threads * votes if all(w.exitcode == 0 for w in workers) else -1
    db.dispose()
    return {"acknowledged": acknowledged, "stored": stored, "lost": acknowledged - stored,
            "writes_per_s": round(stored / elapsed, 1), "seconds": round(elapsed, 2)}  # fmt: skip


@contextmanager
def _postgres(url: str | None) -> Iterator[Any]:
    pg = importlib.import_module("_postgres")
    PostgresServer, _start = pg.PostgresServer, pg._start

    if url:
        yield PostgresServer(url)
        return
    servers = _start()
    try:
        yield next(servers)
    finally:
        servers.close()


def main() -> None:
    """Run both measurements on both engines and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--votes", type=int, default=100)
    parser.add_argument("--postgres", default=None, help="a server URL (default: start a throwaway one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, _postgres(args.postgres) as server:

        def sqlite_url(name: str) -> str:
            return f"sqlite:///{Path(tmp) / name}.db"

        def postgres_url(name: str) -> str:
            return str(server.new_database())

        engines = {"sqlite": sqlite_url, "postgresql": postgres_url}
        for engine, url_for in engines.items():
            results[engine] = {
                "ledger_rows_per_s": round(ledger_rows_per_second(url_for("ledger"), args.rows)),
                "feedback_4x8": feedback_from_processes(url_for("feedback"), 4, 8, args.votes),
            }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for engine, result in results.items():
        fb = result["feedback_4x8"]
        print(
            f"{engine:10s} ledger {result['ledger_rows_per_s']:>8,} rows/s | feedback 4x8: "
            f"{fb['acknowledged']} acknowledged, {fb['stored']} stored, {fb['lost']} lost, "
            f"{fb['writes_per_s']:,} writes/s"
        )


if __name__ == "__main__":
    main()
