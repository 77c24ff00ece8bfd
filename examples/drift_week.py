"""Replay a week of support traffic through input drift and watch the topic-shift alert fire.

A support bot gets ~150 questions a day about billing, login and shipping. On day 5 a product
launch brings a new topic -- questions about cancelling the new subscription -- to about a third
of the traffic. Every input is embedded in the background through a guarded client (here the
fake provider, whose `word_embedding` makes texts sharing words land close together, as a real
embedding model would), stored, and compared each evening with the trailing baseline: MMD with
a permutation p-value, and a chi-square test on the k-means topic mix. The alert fires on day 5
and not before; the report names the cluster that grew, with representative inputs (content
retention is on here; it is off by default).

Runs offline in well under a minute and writes only to a temporary folder.
"""

from __future__ import annotations

import random
import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import llmguard
from llmguard import PromptRef
from llmguard.cost import Alert
from llmguard.drift import (
    DriftConfig,
    DriftRule,
    DriftStore,
    check_drift,
    drift_report,
    drift_stats,
    record_input,
)
from llmguard.testing import FakeOpenAI, make_record, word_embedding

CHANGE_DAY = 5
TOPICS: dict[str, list[str]] = {
    "billing": ["invoice", "charged twice", "refund", "credit card", "receipt", "payment failed"],
    "login": ["password reset", "two factor code", "locked out", "sign in", "login email", "account access"],
    "shipping": ["package", "tracking number", "delivery date", "courier", "parcel", "shipping address"],
    "cancel": [
        "cancel subscription",
        "stop the plan",
        "cancel renewal",
        "end my membership",
        "unsubscribe plan",
    ],
}
BEFORE = {"billing": 0.4, "login": 0.3, "shipping": 0.3, "cancel": 0.0}
AFTER = {"billing": 0.27, "login": 0.2, "shipping": 0.2, "cancel": 0.33}
OPENERS = ["hi", "hello", "please help", "quick question", "urgent", ""]


def question(rng: random.Random, mix: dict[str, float]) -> str:
    """One synthetic support question drawn from the topic mix."""
    topic = rng.choices(list(mix), weights=list(mix.values()))[0]
    first, second = rng.sample(TOPICS[topic], 2)
    return f"{rng.choice(OPENERS)} {first} {second} issue".strip()


def replay_day(guard: llmguard.Guard, day: datetime, mix: dict[str, float], rng: random.Random) -> None:
    """One day of app calls, dated that day, handed to drift as the guarded clients would."""
    for _ in range(rng.randint(140, 160)):
        when = day + timedelta(seconds=rng.uniform(0, 86_399))
        record = make_record(
            start_time_ns=int(when.timestamp() * 1e9),
            prompt=PromptRef(name="support-bot", version="1.0.0"),
            request={
                "model": "gpt-4o-mini-2024-07-18",
                "messages": [{"role": "user", "content": question(rng, mix)}],
            },
        )
        record_input(guard, record)


def main() -> int:
    """Replay the last seven days and print each alert the day it fires; returns the exit status."""
    fake = FakeOpenAI(reply="ok")
    fake.embedder = word_embedding
    fired: list[tuple[int, Alert]] = []
    first_day = datetime.combine(datetime.now(UTC).date() - timedelta(days=7), time(), tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "llmguard.db"
        config = DriftConfig(
            model="text-embedding-3-small",
            dimensions=64,
            sampling=1.0,  # a demo: every call (production: a few percent)
            client=lambda g: fake.client(llmguard.OpenAI, guard=g),
            store=db,
            baseline_days=7,
            rules=[DriftRule(metric="mmd", min_samples=50), DriftRule(metric="topic", min_samples=50)],
            retain_content=True,
            check_interval_s=0,  # this demo checks explicitly with check_drift
        )
        guard = llmguard.Guard(pin_policy="enforce", drift=config, db_path=db)
        rng = random.Random(5)
        for index in range(7):
            day = first_day + timedelta(days=index)
            replay_day(guard, day, AFTER if index + 1 >= CHANGE_DAY else BEFORE, rng)
            for alert in check_drift(guard, now=day + timedelta(hours=23)):  # also runs in the background
                fired.append((index + 1, alert))
                print(f"day {index + 1}: ALERT {alert.message}")
        print_report(DriftStore(db), (first_day + timedelta(days=CHANGE_DAY - 1)).date())
        stats = drift_stats(guard)
        guard.close()
    print(
        f"embedded {stats.embedded if stats else 0} inputs; {len(fake.calls)} embedding requests (kind 'drift')"
    )
    days = sorted({day for day, _ in fired})
    assert days[:1] == [CHANGE_DAY], f"expected the first alert on day {CHANGE_DAY}, got {days}"
    print(f"ok: the topic mix changed on day {CHANGE_DAY} and input drift alerted that day, not before")
    return 0


def print_report(store: DriftStore, day: Any) -> None:
    """The change day's comparison: which cluster grew, with representative inputs."""
    report = drift_report(store, day, by=("all",))
    (comparison,) = report.comparisons
    topics = comparison.topics
    if topics is None:
        return
    for cluster in topics.grew(1):
        name = "a new topic" if cluster.cluster == topics.k else f"cluster {cluster.cluster}"
        print(
            f"grew most: {name}, {cluster.baseline_share:.0%} -> {cluster.current_share:.0%} of inputs, e.g. "
            + "; ".join(repr(text) for text in cluster.examples)
        )
    store.close()


if __name__ == "__main__":
    raise SystemExit(main())
