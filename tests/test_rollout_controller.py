"""Rollouts over a real file store: start, check, advance, roll back, pause, abort, CAS, recovery, models."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import llmguard
from llmguard.cost import Alert
from llmguard.exceptions import (
    PromotionRefusedError,
    RolloutConflictError,
    RolloutError,
    RolloutPlanError,
)
from llmguard.prompts import FileStore, PromptRegistry
from llmguard.rollouts import (
    FileRolloutStore,
    Rollouts,
    RolloutState,
    RolloutWatcher,
    SQLMetrics,
    plan_from_mapping,
)

PLAN = plan_from_mapping(
    {
        "label": "production",
        "candidate": "1.1.0",
        "min_samples": 50,
        "steps": [
            {"weight": 1, "duration": "10m"},
            {"weight": 5, "duration": "10m"},
            {"weight": 25, "duration": "10m"},
        ],
        "guards": {"judge_score": {"max_regression": 0.05}, "error_rate": {"max_increase": 0.01}},
    },
    "test",
)


def _write_prompt(root: Path, name: str = "support", *, protected: bool = False) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for version, model in (("1.0.0", "gpt-4o-2024-08-06"), ("1.1.0", "gpt-4o-2024-08-06")):
        (folder / f"v{version}.yaml").write_text(
            f'version: "{version}"\nmodel: "{model}"\nsystem_prompt: "You help ({version})."\n'
            'user_template: "Hello"\n',
            encoding="utf-8",
        )
    (folder / "labels.yaml").write_text("production: 1.0.0\n", encoding="utf-8")


class FakeMetrics:
    """Per-arm samples drawn on demand: the candidate's judge score is ``worse`` lower."""

    def __init__(self, n: int = 400, worse: float = 0.0, seed: int = 0) -> None:
        self.n, self.worse = n, worse
        self.rng = np.random.default_rng(seed)
        self.windows: list[tuple[float, float]] = []

    def samples(
        self, name: str, stable: str, candidate: str, since: float, until: float
    ) -> Mapping[str, Any]:
        self.windows.append((since, until))
        rng, n = self.rng, self.n
        return {
            "judge_score:quality": (rng.beta(8, 2, n), rng.beta(8, 2, n) * (1 - self.worse)),
            "error_rate": (np.zeros(n), np.zeros(n)),
        }


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def root(tmp_path: Path) -> Path:
    _write_prompt(tmp_path)
    return tmp_path


def _rollouts(root: Path, metrics: Any = None, **kwargs: Any) -> Rollouts:
    registry = PromptRegistry(FileStore(root), ttl=0)
    return Rollouts(registry, FileRolloutStore(root), metrics, **kwargs)


def _label(root: Path) -> str:
    return (root / "support" / "labels.yaml").read_text(encoding="utf-8").splitlines()[-1]


def test_start_moves_the_label_to_the_first_split_and_records_it(root: Path) -> None:
    rollouts = _rollouts(root)
    state = rollouts.start("support", PLAN, reason="new tone")
    assert (state.status, state.step, state.weight, state.revision) == ("running", 0, 1, 1)
    assert rollouts.registry.labels("support")["production"] == {"1.0.0": 99, "1.1.0": 1}
    moves = rollouts.registry.history("support", "production")
    assert moves[-1].to == "1.0.0=99,1.1.0=1"
    assert state.rollout_id in moves[-1].why
    events = rollouts.events("support")
    assert [e.action for e in events] == ["start"]
    assert events[0].why == "new tone"
    with pytest.raises(RolloutError, match="already has an active rollout"):
        rollouts.start("support", PLAN)


def test_clean_checks_advance_step_by_step_to_100_percent(root: Path) -> None:
    clock = Clock()
    rollouts = _rollouts(root, FakeMetrics(), clock=clock)
    rollouts.start("support", PLAN)
    assert rollouts.check("support").action == "hold"  # the step's duration has not elapsed
    actions = []
    for _ in range(3):
        clock.t += 601
        actions.append(rollouts.check("support").action)
    assert actions == ["advance", "advance", "complete"]
    state = rollouts.status("support")
    assert state is not None
    assert (state.status, state.weight) == ("completed", 100)
    assert rollouts.registry.labels("support")["production"] == "1.1.0"
    last = rollouts.registry.history("support", "production")[-1]
    assert last.evidence["rollout"]["window"]["weight"] == 25
    assert {m["metric"] for m in last.evidence["rollout"]["metrics"]} == {"judge_score:quality", "error_rate"}
    assert rollouts.check("support").action == "idle"


def test_a_regression_rolls_back_to_stable_with_an_alert(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alerts: list[Alert] = []
    rollouts = _rollouts(root, FakeMetrics(worse=0.3), alerts=[alerts.append])
    rollouts.start("support", PLAN)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        result = rollouts.check("support")
    assert result.action == "rollback"
    assert result.state is not None
    assert (result.state.status, result.state.weight) == ("rolled_back", 0)
    assert rollouts.registry.labels("support")["production"] == "1.0.0"
    move = rollouts.registry.history("support", "production")[-1]
    assert move.action == "rollback"
    recorded = move.evidence["rollout"]
    assert recorded["regression"] is True
    assert recorded["window"]["until"] > recorded["window"]["since"] - 1
    failed = [m for m in recorded["metrics"] if m["status"] == "regression"]
    assert [m["metric"] for m in failed] == ["judge_score:quality"]
    assert failed[0]["log_lr"] >= failed[0]["threshold"]
    assert len(alerts) == 1
    assert alerts[0].kind == "rollout"
    assert "rolled back to 1.0.0" in alerts[0].message
    assert "rolled back" in caplog.text
    assert [e.action for e in rollouts.events("support")] == ["start", "rollback"]


def test_pause_resume_abort(root: Path) -> None:
    clock = Clock()
    rollouts = _rollouts(root, FakeMetrics(), clock=clock)
    rollouts.start("support", PLAN)
    rollouts.pause("support", reason="investigating")
    clock.t += 10_000
    assert rollouts.check("support").action == "idle"
    assert rollouts.resume("support").status == "running"
    state = rollouts.abort("support", reason="changed our mind")
    assert (state.status, state.weight) == ("aborted", 0)
    assert rollouts.registry.labels("support")["production"] == "1.0.0"
    assert [e.action for e in rollouts.events("support")] == ["start", "pause", "resume", "abort"]
    with pytest.raises(RolloutError, match="no active rollout"):
        rollouts.advance("support")


def test_manual_advance_is_recorded(root: Path) -> None:
    rollouts = _rollouts(root)
    rollouts.start("support", PLAN)
    state = rollouts.advance("support", who="alice", reason="looks fine")
    assert state.weight == 5
    event = rollouts.events("support")[-1]
    assert (event.action, event.who, event.why, event.from_step, event.to_step) == (
        "advance",
        "alice",
        "looks fine",
        0,
        1,
    )


def test_a_stale_writer_loses_the_compare_and_set(root: Path) -> None:
    rollouts = _rollouts(root)
    stale = rollouts.start("support", PLAN)
    rollouts.pause("support")
    with pytest.raises(RolloutConflictError, match="re-read"):
        rollouts.store.write(replace(stale, step=1), stale.revision)


def test_a_label_moved_by_hand_pauses_the_rollout(root: Path) -> None:
    rollouts = _rollouts(root)
    rollouts.start("support", PLAN)
    rollouts.registry.promote("support", "1.0.0", label="production")
    with pytest.raises(RolloutConflictError, match="moved outside the rollout"):
        rollouts.advance("support")
    state = rollouts.status("support")
    assert state is not None
    assert state.status == "paused"
    assert rollouts.events("support")[-1].action == "conflict"
    assert rollouts.abort("support").status == "aborted"


def test_a_claimed_transition_is_finished_by_the_next_process(root: Path) -> None:
    """A supervisor that crashed after claiming a step leaves ``pending``: the next caller completes it."""
    rollouts = _rollouts(root)
    state = rollouts.start("support", PLAN)
    pending = {
        "action": "advance",
        "to_step": 1,
        "status": "running",
        "who": "w1",
        "why": "clean",
        "decision": {},
    }
    rollouts.store.write(replace(state, pending=pending), state.revision)
    other = _rollouts(root, FakeMetrics())
    assert other.check("support").action == "hold"  # finished the advance, then checked the new step
    recovered = other.status("support")
    assert recovered is not None
    assert (recovered.step, recovered.pending) == (1, None)
    assert other.registry.labels("support")["production"] == {"1.0.0": 95, "1.1.0": 5}


def test_a_protected_label_needs_evidence_to_start(root: Path) -> None:
    registry = PromptRegistry(FileStore(root), ttl=0, protected_labels=["production"])
    rollouts = Rollouts(registry)
    with pytest.raises(PromotionRefusedError):
        rollouts.start("support", PLAN)
    assert rollouts.status("support") is None
    state = rollouts.start("support", PLAN, force=True, reason="hotfix")
    assert state.status == "running"
    assert registry.history("support")[-1].evidence["forced"] is True


def test_a_model_rollout_serves_stable_with_only_the_model_changed(root: Path) -> None:
    rollouts = _rollouts(root)
    plan = replace(PLAN, candidate=None)
    state = rollouts.start("support", plan, model="gpt-4o-2024-11-20")
    assert state.candidate == "1.1.1"
    assert state.model == "gpt-4o-2024-11-20"
    assert (root / "support" / "v1.1.1.yaml").is_file()
    stable, candidate = (rollouts.registry.get("support", v) for v in ("1.0.0", "1.1.1"))
    assert candidate.model == "gpt-4o-2024-11-20"
    assert candidate.model_copy(update={"model": stable.model}).system_prompt == stable.system_prompt
    assert candidate.render().messages == stable.render().messages
    rollouts.abort("support")
    again = rollouts.start("support", plan, model="gpt-4o-2024-11-20")
    assert again.candidate == "1.1.1"  # the identical version is reused, not duplicated
    rollouts.abort("support")
    with pytest.raises(RolloutPlanError, match="already uses"):
        rollouts.start("support", plan, model="gpt-4o-2024-08-06")


def test_config_artifacts_roll_out_too(tmp_path: Path) -> None:
    folder = tmp_path / "rag"
    folder.mkdir()
    for version, k in (("1.0.0", 4), ("2.0.0", 8)):
        (folder / f"v{version}.yaml").write_text(
            f'version: "{version}"\nvalues:\n  top_k: {k}\n', encoding="utf-8"
        )
    (folder / "labels.yaml").write_text("production: 1.0.0\n", encoding="utf-8")
    registry = PromptRegistry(FileStore(tmp_path, kind="config"), ttl=0)
    rollouts = Rollouts(registry)
    state = rollouts.start("rag", replace(PLAN, candidate="2.0.0"))
    assert state.weight == 1
    assert registry.labels("rag")["production"] == {"1.0.0": 99, "2.0.0": 1}


def test_a_watcher_checks_in_the_background_and_never_raises(root: Path) -> None:
    rollouts = _rollouts(root, FakeMetrics(worse=0.3))
    rollouts.start("support", PLAN)
    watcher = RolloutWatcher(rollouts, ["support"], interval=0.01)
    assert [r.action for r in watcher.check_once()] == ["rollback"]
    assert [r.action for r in watcher.check_once()] == ["idle"]
    rollouts.start("support", PLAN)
    with RolloutWatcher(rollouts, [("support", "production")], interval=0.01):
        deadline = time.monotonic() + 30
        while (
            (state := rollouts.status("support")) is not None and state.active and time.monotonic() < deadline
        ):
            time.sleep(0.01)
    assert state is not None
    assert state.status == "rolled_back"


def test_state_files_are_json_beside_the_labels(root: Path) -> None:
    rollouts = _rollouts(root)
    state = rollouts.start("support", PLAN)
    data = json.loads((root / "support" / "rollouts.json").read_text(encoding="utf-8"))
    assert RolloutState.from_json(data["production"], "x") == state
    (root / "support" / "rollouts.json").write_text("[1]", encoding="utf-8")
    with pytest.raises(RolloutError, match=r"rollouts\.json"):
        rollouts.status("support")


@pytest.mark.parametrize(
    "corrupt",
    [
        {"step": 99},
        {"step": "1"},
        {"status": "exploded"},
        {"revision": None},
        {"step_started": "yesterday"},
        {"pending": {"to_step": 1}},
        {"pending": {"to_step": 7, "status": "running", "action": "a", "who": "w", "why": ""}},
        {"pending": ["x"]},
        {"model": 5},
        {"plan": {"steps": "all"}},
        {"plan": None},
        {"unknown_field": 1, "name": None},
    ],
)
def test_a_hand_edited_state_file_is_a_rollout_error(root: Path, corrupt: dict[str, Any]) -> None:
    rollouts = _rollouts(root)
    rollouts.start("support", PLAN)
    path = root / "support" / "rollouts.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["production"].update(corrupt)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RolloutError, match=r"rollouts\.json"):
        rollouts.status("support")
    with pytest.raises(RolloutError):
        rollouts.abort("support")


def test_for_guard_alerts_on_the_guards_alert_path(root: Path) -> None:
    """A rollback reaches the alert callbacks configured with ``budgets=`` (and the guard's database)."""
    alerts: list[Alert] = []
    guard = llmguard.Guard(prompts=root, db_path=root / "llmguard.db", ledger=True, budgets=[alerts.append])
    rollouts = Rollouts.for_guard(guard)
    assert isinstance(rollouts.metrics, SQLMetrics)
    assert str(root / "llmguard.db") in repr(rollouts.metrics)
    rollouts.metrics = FakeMetrics(worse=0.3)
    rollouts.start("support", PLAN, force=True, reason="test")
    assert rollouts.check("support").action == "rollback"
    assert [a.kind for a in alerts] == ["rollout"]
    guard.close()
