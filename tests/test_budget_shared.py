"""A hard budget shared by 4 processes x 8 threads through one PostgreSQL database."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import pytest

import llmguard

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "budget_overshoot.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("budget_overshoot", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_hard_budget_holds_across_processes_within_the_bound(postgres_server: Any) -> None:
    result = _bench().measure(
        postgres_server.new_database(), procs=4, threads=8, limit=2.0, latency=0.02, refresh=0.2
    )
    assert result["exact"], result  # every call in the ledger once, at exactly its cost
    assert result["refused"] == 4 * 8, result  # every thread of every replica was stopped
    assert result["spent_usd"] >= 2.0, result
    assert 0 <= result["overshoot_calls"] <= result["bound_calls"], result


def test_a_stale_view_is_refreshed_by_the_check_or_the_call_is_refused(tmp_path: Any) -> None:
    import time

    from llmguard.cost import Budget, SQLLedger
    from llmguard.cost._budget import BudgetTracker
    from llmguard.exceptions import PolicyUnavailableError

    ledger = SQLLedger(tmp_path / "l.db")
    tracker = BudgetTracker([Budget(hard_usd=1.0)])
    tracker.expect_refresh(0.05)
    tracker.set_refresher(lambda: tracker.refresh(ledger))
    tracker.seed(ledger)
    time.sleep(0.1)  # stale: no writer thread refreshed it (a new or forked process)
    refreshes = tracker.refreshes
    tracker.check(None)  # type: ignore[arg-type]  # under the limit: the call is never inspected
    assert tracker.refreshes == refreshes + 1  # refreshed by the check itself, and allowed

    def down() -> None:
        raise OSError("connection refused")

    tracker.set_refresher(down)
    time.sleep(0.1)
    with pytest.raises(PolicyUnavailableError, match="connection refused"):  # fail closed, naming the cause
        tracker.check(None)  # type: ignore[arg-type]
    ledger.close()


def test_a_slow_refresh_spaces_out_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refreshes sum the window's rows: one that took long delays the next (at most a tenth of the thread)."""
    from llmguard.cost import Budget
    from llmguard.cost._state import REFRESH_SPACING, state_for

    guard = llmguard.Guard(ledger=tmp_path / "s.db", budgets=[Budget(period="day", hard_usd=10.0)])
    state = state_for(guard)
    assert state is not None
    assert state.tracker is not None
    calls: list[float] = []

    def slow_refresh(ledger: object, now_ns: int | None = None, *, alert: bool = True) -> None:
        calls.append(time.monotonic())
        time.sleep(0.2)

    monkeypatch.setattr(state.tracker, "refresh", slow_refresh)
    state.next_refresh = 0.0
    state.periodic()
    assert len(calls) == 1
    assert state.next_refresh >= calls[0] + REFRESH_SPACING * 0.2
    guard.close()
