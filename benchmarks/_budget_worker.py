"""One replica for the shared-budget measurement: N threads calling until the hard budget refuses.

Run by ``benchmarks/budget_overshoot.py`` and ``tests/test_budget_shared.py``:
``python benchmarks/_budget_worker.py DB_URL LIMIT_USD THREADS LATENCY_S REFRESH_S START_AT``.
Every call costs exactly $0.01 (one priced input token). Prints one JSON line: calls that
succeeded, calls refused, the largest number of this replica's calls in flight at once, and the
staleness of its budget view as measured (the longest gap between refreshes of the shared spend,
plus the longest time from a call's start to its row's commit).
"""

from __future__ import annotations

import json
import sys
import threading
import time

import llmguard
from llmguard.cost import Budget, CostPolicy
from llmguard.testing import FakeOpenAI, FakeUsage

MODEL = "budget-test-model"
PRICE = {MODEL: {"input": 10_000.0, "output": 0.0}}  # USD per million tokens: $0.01 per input token


def main() -> None:
    """Run the threads; print the counts."""
    url, limit, threads, latency, refresh, start_at = sys.argv[1:7]
    policy = CostPolicy(
        budgets=[Budget(hard_usd=float(limit), period="day")],
        refresh_interval_s=float(refresh),
        flush_interval_s=0.05,
        check_interval_s=3600,
    )
    guard = llmguard.Guard(db=url, pin_policy="off", prices=PRICE, budgets=policy, service_name="budget-test")
    fake = FakeOpenAI(reply="ok", usage=FakeUsage(input_tokens=1, output_tokens=0), latency=float(latency))
    counts: dict[str, float] = {"ok": 0, "refused": 0, "in_flight_max": 0}
    lock = threading.Lock()
    in_flight = 0

    def work(client: llmguard.OpenAI) -> None:
        nonlocal in_flight
        while True:
            with lock:
                in_flight += 1
                counts["in_flight_max"] = max(counts["in_flight_max"], in_flight)
            try:
                client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
            except llmguard.BudgetExceededError:
                with lock:
                    counts["refused"] += 1
                return
            finally:
                with lock:
                    in_flight -= 1
            with lock:
                counts["ok"] += 1

    with fake.client(llmguard.OpenAI, guard=guard) as client:
        time.sleep(max(0.0, float(start_at) - time.time()))
        pool = [threading.Thread(target=work, args=(client,)) for _ in range(int(threads))]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    from llmguard.cost._state import state_for

    state = state_for(guard)
    guard.close()
    tracker = state.tracker if state is not None else None
    counts["staleness_s"] = (tracker.max_refresh_gap_s + tracker.max_commit_lag_s) if tracker else 0.0
    counts["refreshes"] = tracker.refreshes if tracker else 0
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
