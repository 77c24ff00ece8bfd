"""Rollout state in SQL (SQLite through SQLAlchemy Core), and guard metrics read from the real stores."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from llmguard._feedback._model import FeedbackEntry
from llmguard._feedback._ref import CallRef
from llmguard._feedback._sqlite import SQLiteFeedbackSink
from llmguard.cost._ledger import COLUMNS, SQLiteLedger
from llmguard.exceptions import LLMGuardError, PromptFormatError, RolloutConflictError, RolloutPlanError
from llmguard.judging import JudgeResult, Judgment, SQLiteSink
from llmguard.prompts import MemoryStore, PromptRegistry, PromptVersion
from llmguard.rollouts import Rollouts, RolloutState, SQLMetrics, SQLRolloutStore, plan_from_mapping

PLAN = plan_from_mapping(
    {
        "candidate": "2.0.0",
        "min_samples": 20,
        "steps": [{"weight": 10, "duration": 60}, {"weight": 50, "duration": 60}],
    },
    "test",
)


def _state(**changes: Any) -> RolloutState:
    base = RolloutState("bot", "production", "r1", "1.0.0", "2.0.0", PLAN)
    return RolloutState(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, **changes})


def test_sql_store_compare_and_set(db_url: str) -> None:
    store = SQLRolloutStore(db_url)
    first = store.write(_state(), None)
    assert first.revision == 1
    assert store.read("bot", "production") == first
    with pytest.raises(RolloutConflictError, match="active rollout"):
        store.write(_state(rollout_id="r2"), None)
    second = store.write(_state(step=1, revision=1), 1)
    assert second.revision == 2
    with pytest.raises(RolloutConflictError, match="re-read"):
        store.write(_state(step=0), 1)
    done = store.write(_state(step=1, status="completed"), 2)
    assert not done.active
    restarted = store.write(_state(rollout_id="r3"), None)
    assert restarted.revision == 4
    assert store.read("bot", "staging") is None


def test_sql_store_one_winner_among_threads(db_url: str) -> None:
    store = SQLRolloutStore(db_url)
    start = store.write(_state(), None)
    wins: list[int] = []
    lost: list[int] = []

    def advance(i: int) -> None:
        try:
            store.write(_state(step=1, last_check={"by": i}), start.revision)
            wins.append(i)
        except RolloutConflictError:
            lost.append(i)

    threads = [threading.Thread(target=advance, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert len(lost) == 7
    state = store.read("bot", "production")
    assert state is not None
    assert state.last_check == {"by": wins[0]}


def _registry() -> PromptRegistry:
    versions = [
        PromptVersion(name="bot", version=v, model="gpt-4o-2024-08-06", system_prompt=f"v{v}")
        for v in ("1.0.0", "2.0.0")
    ]
    registry = PromptRegistry(MemoryStore(versions), ttl=0)
    registry.promote("bot", "1.0.0", label="production")
    return registry


def test_rollouts_over_a_sql_store_and_a_memory_registry(tmp_path: Path) -> None:
    rollouts = Rollouts(_registry(), SQLRolloutStore(f"sqlite:///{tmp_path / 'r.db'}"))
    rollouts.start("bot", PLAN)
    rollouts.advance("bot")
    state = rollouts.abort("bot")
    assert state.status == "aborted"
    assert [e.action for e in rollouts.events("bot", "production")] == ["start", "advance", "abort"]
    assert rollouts.registry.labels("bot")["production"] == "1.0.0"


def test_a_model_rollout_saves_a_version_in_a_writable_store(tmp_path: Path) -> None:
    rollouts = Rollouts(_registry(), SQLRolloutStore(f"sqlite:///{tmp_path / 'r.db'}"))
    state = rollouts.start(
        "bot", plan_from_mapping({"steps": [{"weight": 5}]}, "p"), model="gpt-4.1-2025-04-14"
    )
    assert state.candidate == "2.0.1"
    assert rollouts.registry.get("bot", "2.0.1").system_prompt == "v1.0.0"


def _fill(db: Path, now: datetime) -> None:
    """Real rows through the real writers: 30 calls per arm; the candidate errs and scores worse."""
    ns = int(now.timestamp() * 1e9)
    ledger = SQLiteLedger(db)
    rows = []
    for i in range(60):
        version = "1.0.0" if i % 2 else "2.0.0"
        row = dict.fromkeys(COLUMNS)
        row.update(call_id=f"c{i}", ts_ns=ns + i, day=now.date().isoformat(), kind="chat", service="s",
                   environment="test", provider="openai", prompt_name="bot", prompt_version=version,
                   cost_nanos=1000 + i, duration_s=0.5, status="error" if version == "2.0.0" and i % 3 == 0 else "ok",
                   refused=0)  # fmt: skip
        rows.append(tuple(row[c] for c in COLUMNS))
    rows.append(tuple({**dict.fromkeys(COLUMNS), "call_id": "other", "ts_ns": ns, "day": "x", "kind": "chat",
                       "service": "s", "environment": "e", "provider": "p", "prompt_name": "other",
                       "prompt_version": "2.0.0", "duration_s": 1.0, "status": "error", "refused": 0}[c]
                      for c in COLUMNS))  # fmt: skip
    ledger.write(rows)
    ledger.close()
    sink = SQLiteSink(db)
    sink.write(
        Judgment(call_id=f"c{i}", judge="quality", status="ok",
                 result=JudgeResult(name="quality", score=0.9 if i % 2 else 0.5), prompt_name="bot",
                 prompt_version="1.0.0" if i % 2 else "2.0.0", created_ns=ns + i)
        for i in range(60)
    )  # fmt: skip
    sink.close()
    feedback = SQLiteFeedbackSink(db)
    for i in range(10):
        ref = CallRef(call_id=f"c{i}", prompt_name="bot", prompt_version="1.0.0" if i % 2 else "2.0.0")
        entry = FeedbackEntry(ref=ref, name="thumbs", value=False, value_type="boolean", score=0.0, label="false",
                              negative=True, created_at=now)  # fmt: skip
        feedback.write([entry])
    feedback.close()


def test_sql_metrics_read_each_arm_from_the_shared_database(tmp_path: Path) -> None:
    db = tmp_path / "llmguard.db"
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    _fill(db, now)
    metrics = SQLMetrics(f"sqlite:///{db}")
    samples = metrics.samples("bot", "1.0.0", "2.0.0", now.timestamp() - 1, now.timestamp() + 1)
    stable, candidate = samples["error_rate"]
    assert (len(stable), len(candidate)) == (30, 30)
    assert sum(stable) == 0
    assert sum(candidate) == 10
    assert sorted(set(samples["judge_score:quality"][0])) == [0.9]
    assert sorted(set(samples["judge_score:quality"][1])) == [0.5]
    assert [len(arm) for arm in samples["thumbs_down_rate"]] == [5, 5]
    assert len(samples["cost_per_call"][1]) == 20  # errored calls carry no cost or latency sample
    outside = metrics.samples("bot", "1.0.0", "2.0.0", now.timestamp() + 10, now.timestamp() + 20)
    assert outside == {}


def test_sql_metrics_read_at_most_max_rows_per_arm_newest_first(tmp_path: Path) -> None:
    db = tmp_path / "llmguard.db"
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    _fill(db, now)
    samples = SQLMetrics(f"sqlite:///{db}", max_rows=4).samples(
        "bot", "1.0.0", "2.0.0", now.timestamp() - 1, now.timestamp() + 1
    )
    assert [len(arm) for arm in samples["error_rate"]] == [4, 4]
    assert [len(arm) for arm in samples["thumbs_down_rate"]] == [4, 4]
    # the candidate's newest calls are c58, c56, c54, c52: c54 errs (54 % 3 == 0)
    assert list(samples["error_rate"][1]) == [0.0, 0.0, 1.0, 0.0]


def test_sql_metrics_on_an_empty_database(tmp_path: Path) -> None:
    metrics = SQLMetrics(sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert metrics.samples("bot", "1.0.0", "2.0.0", 0, 1e10) == {}


def test_sql_store_writes_from_a_forked_child_are_kept(tmp_path: Path) -> None:
    store = SQLRolloutStore(f"sqlite:///{tmp_path / 'r.db'}")
    first = store.write(_state(), None)  # the parent's pool holds a connection now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        try:
            store.write(_state(step=1), first.revision)
        finally:
            os._exit(0 if store.read("bot", "production") is not None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    state = store.read("bot", "production")
    assert state is not None
    assert (state.step, state.revision) == (1, 2)
    assert store.write(_state(step=0), 2).revision == 3


@pytest.mark.parametrize(
    ("name", "label", "error"),
    [
        ("../etc", "production", PromptFormatError),
        ("bot", "prod uction", PromptFormatError),
        ("bot", "[/]", PromptFormatError),
    ],
)
def test_hostile_names_and_labels(tmp_path: Path, name: str, label: str, error: type[Exception]) -> None:
    rollouts = Rollouts(_registry(), SQLRolloutStore(f"sqlite:///{tmp_path / 'r.db'}"))
    with pytest.raises(error):
        rollouts.status(name, label)
    with pytest.raises(LLMGuardError):
        rollouts.abort(name, label)


def test_a_candidate_must_be_an_exact_existing_version(tmp_path: Path) -> None:
    rollouts = Rollouts(_registry(), SQLRolloutStore(f"sqlite:///{tmp_path / 'r.db'}"))
    for candidate in ("^2", "latest", "3.0.0", "1.0.0"):
        with pytest.raises(RolloutPlanError):
            rollouts.start("bot", PLAN, candidate=candidate)
    assert rollouts.registry.labels("bot")["production"] == "1.0.0"
