"""Replay a month of synthetic traffic through the cost ledger and watch the alert fire.

A support bot makes ~400 calls a day at ~$0.011 each (~$4.40/day). On day 20 a prompt change
(support-bot 1.0.0 -> 1.1.0: a longer system prompt asking for more detailed answers) doubles
the input tokens and more than doubles the output tokens: the daily cost goes to ~$9.40. The seed's rule -- today > 2x a baseline -- here with a 7-day trailing mean and a
$5 minimum-spend guard, fires on day 20, once (alerts are deduplicated per rule per day).

Runs offline in a few seconds and writes only to a temporary database.
"""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import llmguard
from llmguard import CallRecord, Cost, PromptRef, Usage
from llmguard.cost import (
    Alert,
    BaselineRule,
    CostPolicy,
    Rule,
    SQLiteLedger,
    ZScoreRule,
    check_alerts,
    record_call,
)
from llmguard.testing import make_record

MONTH = datetime(2025, 3, 1, tzinfo=UTC)
CHANGE_DAY = 20
INPUT_PER_M = Decimal("2.50")  # USD per million tokens, a gpt-4o-like price
OUTPUT_PER_M = Decimal("10.00")


def make_call(when: datetime, version: str, rng: random.Random) -> CallRecord:
    """One synthetic call: the prompt version decides the input and output sizes."""
    changed = version == "1.1.0"
    input_tokens = rng.randint(3_000, 3_400) * (2 if changed else 1)
    output_tokens = int(rng.randint(250, 350) * (2.4 if changed else 1))
    cost_in = INPUT_PER_M * input_tokens / 1_000_000
    cost_out = OUTPUT_PER_M * output_tokens / 1_000_000
    return make_record(
        service_name="support",
        environment="production",
        requested_model="gpt-4o-2024-08-06",
        request_model="gpt-4o-2024-08-06",
        response_model="gpt-4o-2024-08-06",
        response_id=None,
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        start_time_ns=int(when.timestamp() * 1e9),
        duration_s=rng.uniform(0.4, 1.6),
        prompt=PromptRef(name="support-bot", version=version),
        cost=Cost(total=cost_in + cost_out, input=cost_in, output=cost_out),
    )


def replay_day(guard: llmguard.Guard, day: int, rng: random.Random) -> None:
    """Count one day of traffic in the guard's ledger, as its guarded clients would."""
    version = "1.1.0" if day >= CHANGE_DAY else "1.0.0"
    start = MONTH + timedelta(days=day - 1)
    for _ in range(rng.randint(380, 420)):
        record_call(guard, make_call(start + timedelta(seconds=rng.uniform(0, 86_399)), version, rng))


def main() -> int:
    """Replay March 2025 and print each alert the day it fires; returns the exit status."""
    fired: list[tuple[int, Alert]] = []
    rules: list[Rule] = [
        BaselineRule(series="cost", multiplier=2.0, days=7, min_value=5.0, name="daily-cost-doubled"),
        ZScoreRule(series="cost", threshold=4.0, days=14, min_value=5.0, name="daily-cost-zscore"),
    ]
    with tempfile.TemporaryDirectory() as folder:
        ledger = SQLiteLedger(Path(folder) / "llmguard.db", retention_days=None)
        guard = llmguard.Guard(ledger=ledger, budgets=CostPolicy(rules=rules, check_interval_s=0))
        rng = random.Random(20)
        for day in range(1, 32):
            replay_day(guard, day, rng)
            end_of_day = MONTH + timedelta(days=day, seconds=-1)
            for alert in check_alerts(guard, now=end_of_day):  # also runs in the background in an app
                fired.append((day, alert))
                print(f"day {day:2d}: ALERT {alert.message}")
        daily = ledger.query("SELECT day, SUM(cost_nanos) / 1e9 FROM cost_ledger GROUP BY day ORDER BY day")
        guard.close()
        ledger.close()
    print("daily cost:", " ".join(f"{cost:.2f}" for _, cost in daily))
    doubled = [day for day, alert in fired if alert.rule == "daily-cost-doubled"]
    assert doubled == [CHANGE_DAY], f"expected the doubling alert on day {CHANGE_DAY} only, got {doubled}"
    print(
        f"ok: the prompt change on day {CHANGE_DAY} doubled the daily cost and the alert fired that day, once"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
