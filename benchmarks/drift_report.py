"""Benchmark: the time to compute a drift report over 10,000 stored vectors of dimension 1,536.

Writes 10,000 synthetic embeddings (8 topics, unit-norm, float32) into a temporary SQLite drift
store -- a 7-day baseline of ``n - n/8`` rows and one current day of ``n/8`` rows in which a new
topic appears -- then times ``drift_report`` for all calls: loading both windows, the centroid
distance, MMD (each window subsampled to ``max_samples`` = 500 rows, RBF kernel by the median
heuristic, ``permutations`` = 200 in one matrix product) and the topic shift (silhouette choice
of k over 2..8 on at most 1,000 rows, k-means on half the baseline, a Monte Carlo chi-square
with 200 resamples). Reported: the load time and the statistics time, with BLAS/OpenMP limited
to one thread (the background default) and with the libraries' default threads; wall seconds
and process CPU seconds (all threads), the latter less sensitive to a busy machine.

Run: ``python benchmarks/drift_report.py [--n 10000] [--dim 1536] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from llmguard.drift import CompareOptions, DriftRow, DriftStore, compare_windows, windows_for

TODAY = datetime(2025, 3, 20, tzinfo=UTC)


def fill(store: DriftStore, n: int, dim: int) -> None:
    """``n`` vectors: a 7-day baseline of 7 topics, then one day where an 8th topic takes a quarter."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(8, dim)).astype(np.float32)
    common = rng.normal(size=dim).astype(np.float32) * 2
    current = n // 8
    rows: list[DriftRow] = []
    per_day = (n - current) // 7
    for back in range(7, -1, -1):
        count = current if back == 0 else per_day
        topics = (
            rng.integers(0, 7, size=count)
            if back
            else np.where(rng.random(count) < 0.25, 7, rng.integers(0, 7, size=count))
        )
        vectors = common + centers[topics] + rng.normal(scale=0.8, size=(count, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        start = int((TODAY - timedelta(days=back)).timestamp() * 1e9)
        rows.extend(
            DriftRow(f"{back}-{i}", start + i * 10**6, v.tolist(), "bot", "1", ("t",))
            for i, v in enumerate(vectors)
        )
    for chunk in range(0, len(rows), 1000):
        store.write(rows[chunk : chunk + 1000])


def main() -> int:
    """Fill the store, time the report, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--permutations", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = DriftStore(Path(folder) / "drift.db")
        started = time.perf_counter()
        fill(store, args.n, args.dim)
        fill_s = time.perf_counter() - started
        windows = windows_for(TODAY.date())
        results: dict[str, object] = {"n": store.count(), "dim": args.dim, "fill_s": round(fill_s, 2)}
        for label, threads in (("one_thread", 1), ("default_threads", None)):
            options = CompareOptions(permutations=args.permutations, max_samples=500, threads=threads)
            timings, cpu = [], []
            for _ in range(args.repeat):
                started, cpu_started = time.perf_counter(), time.process_time()
                comparison = compare_windows(store, windows, options)
                timings.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
            assert comparison.mmd is not None
            assert comparison.topics is not None
            results[label] = {
                "report_s_median": round(statistics.median(timings), 3),
                "report_s_all": [round(t, 3) for t in timings],
                "cpu_s_median": round(statistics.median(cpu), 3),
                "n_baseline": comparison.n_baseline,
                "n_current": comparison.n_current,
                "mmd_p": comparison.mmd.p_value,
                "topic_p": comparison.topics.p_value,
                "k": comparison.topics.k,
            }
        started = time.perf_counter()
        store.load(0, 2**62)
        results["load_all_s"] = round(time.perf_counter() - started, 3)
        store.close()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
