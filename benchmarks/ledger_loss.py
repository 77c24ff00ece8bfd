"""Benchmark: the ledger's loss window under ``kill -9``.

A worker process runs ``--threads`` threads, each making guarded calls as fast as it can against
the offline fake provider, with the SQLite cost ledger on. After each call returns (the row is
acknowledged: the app moved on), the thread bumps its counter in a file-backed shared map, which
survives the kill. After ``--seconds`` the parent sends ``SIGKILL``, opens the ledger (SQLite
recovers the committed WAL frames) and compares: acknowledged calls, rows on disk, rows lost, and
the time window lost (the kill time minus the start of the newest row on disk, when rows were
lost). Compare with another version of llmguard by putting its ``src`` first on ``PYTHONPATH``. Runs ``--runs``
times and reports each run and the worst.

Run: ``python benchmarks/ledger_loss.py [--threads 16] [--seconds 2] [--runs 5] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

WORKER = textwrap.dedent(
    """
    import mmap, struct, sys, threading
    import llmguard
    from llmguard.testing import FakeOpenAI

    db, counters, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    guard = llmguard.Guard(ledger=db, pin_policy="off")
    fake = FakeOpenAI(reply="ok")
    messages = [{"role": "user", "content": "hi"}]
    with open(counters, "r+b") as file:
        shared = mmap.mmap(file.fileno(), 8 * (threads + 1))

    def work(index):
        client = fake.client(llmguard.OpenAI, guard=guard)
        done = 0
        while True:
            client.chat.completions.create(model="gpt-4o-mini-2024-07-18", messages=messages)
            done += 1
            struct.pack_into("<Q", shared, 8 * index, done)  # acknowledged: the call returned

    client = fake.client(llmguard.OpenAI, guard=guard)
    client.chat.completions.create(model="gpt-4o-mini-2024-07-18", messages=messages)  # build the guard
    assert guard.flush(10)
    for index in range(threads):
        threading.Thread(target=work, args=(index,), daemon=True).start()
    struct.pack_into("<Q", shared, 8 * threads, 1)  # started
    threading.Event().wait()
    """
)


def run_once(threads: int, seconds: float, root: Path) -> dict[str, Any]:
    """One worker, killed after ``seconds``: acknowledged calls against rows on disk."""
    db = root / "ledger.db"
    counters = root / "counters"
    counters.write_bytes(b"\0" * 8 * (threads + 1))
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(db), str(counters), str(threads)])
    with counters.open("r+b") as file:
        shared = mmap.mmap(file.fileno(), 8 * (threads + 1))
    try:
        while not struct.unpack_from("<Q", shared, 8 * threads)[0]:
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited with {worker.returncode}")
            time.sleep(0.01)
        time.sleep(seconds)
        killed_ns = time.time_ns()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        acknowledged = sum(struct.unpack_from("<Q", shared, 8 * i)[0] for i in range(threads))
    finally:
        shared.close()
    with sqlite3.connect(db) as conn:
        try:
            rows, newest = conn.execute("SELECT COUNT(*), MAX(ts_ns) FROM cost_ledger").fetchone()
        except sqlite3.OperationalError:  # the writer never wrote its first batch
            rows, newest = 0, None
    rows -= 1  # the warm-up call
    lost = max(0, acknowledged - rows)
    return {
        "acknowledged": acknowledged,
        "on_disk": rows,
        "lost": lost,
        "lost_pct": round(100 * lost / acknowledged, 2) if acknowledged else 0.0,
        "window_s": round((killed_ns - newest) / 1e9, 3) if newest and lost else 0.0,
        "calls_per_s": round(acknowledged / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="llmguard-kill9-") as root:
            results.append(run_once(args.threads, args.seconds, Path(root)))
    worst = {
        "max_lost": max(r["lost"] for r in results),
        "max_lost_pct": max(r["lost_pct"] for r in results),
        "max_window_s": max(r["window_s"] or 0.0 for r in results),
    }
    if args.json:
        print(json.dumps({"threads": args.threads, "seconds": args.seconds, "runs": results, "worst": worst}))
        return
    print(f"kill -9 after {args.seconds}s, {args.threads} threads calling")
    for result in results:
        print("  " + ", ".join(f"{key}={value}" for key, value in result.items()))
    print("worst: " + ", ".join(f"{key}={value}" for key, value in worst.items()))


if __name__ == "__main__":
    main()
