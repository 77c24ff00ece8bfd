"""Feedback on a stored `CallRef`: its call id is checked against the ledger when the ledger is on.

A made-up id is refused (nothing stored); the id of a call another process made on the same
database is accepted; a row another writer has not flushed yet is found by the second look-up;
without a ledger the id cannot be verified and is accepted (docs/feedback.md, "Call ids").
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmguard
from llmguard import FeedbackError, Guard
from llmguard._feedback import CallRef, _known, afeedback, call_ref, close_sinks, feedback
from llmguard._storage import Database
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
MADE_UP = "0123456789abcdef" * 2
"""Well formed (32 lowercase hex), but no call has it."""


def _guard(db: str, **kwargs: Any) -> Guard:
    return Guard(db=db, pin_policy="off", ledger=True, **kwargs)


@pytest.fixture
def guards() -> Iterator[list[Guard]]:
    made: list[Guard] = []
    yield made
    for guard in made:
        close_sinks(guard)
        guard.close()


def _call(guard: Guard) -> str:
    with FakeOpenAI(reply="hello").client(llmguard.OpenAI, guard=guard) as client:
        response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    return call_ref(response).call_id


def _feedback_rows(db: str) -> list[tuple[Any, ...]]:
    return Database(db).query("SELECT call_id, name FROM llmguard_feedback ORDER BY id")


def test_a_made_up_call_id_is_refused_and_nothing_is_stored(
    db_url: str, guards: list[Guard], monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(_known, "_sleep", waits.append)
    guard = _guard(db_url)
    guards.append(guard)
    with pytest.raises(
        FeedbackError, match=f"{MADE_UP}.*names no call in the ledger.*looked up twice"
    ) as info:
        feedback(CallRef(call_id=MADE_UP), "thumbs", True, guard=guard)
    assert "call_ref(response)" in str(info.value)  # says what to do
    assert waits == [_known.recheck_delay(0.1)]  # looked up again once, after the writer's window
    assert _feedback_rows(db_url) == []


def test_a_call_made_by_another_process_on_the_same_database_is_accepted(
    db_url: str, guards: list[Guard], tmp_path: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import llmguard
        from llmguard import Guard
        from llmguard.testing import FakeOpenAI

        guard = Guard(db={db_url!r}, pin_policy="off", ledger=True)
        with FakeOpenAI(reply="hello").client(llmguard.OpenAI, guard=guard) as client:
            response = client.chat.completions.create(model={MODEL!r}, messages=[{{"role": "user", "content": "hi"}}])
        print(llmguard.call_ref(response).call_id)
        """
    )  # the process exits at once: its ledger row is written by the exit drain
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    call_id = done.stdout.strip().splitlines()[-1]
    guard = _guard(db_url)
    guards.append(guard)
    entry = feedback(CallRef(call_id=call_id), "thumbs", False, guard=guard)
    assert entry.ref.call_id == call_id
    assert _feedback_rows(db_url) == [(call_id, "thumbs")]


def test_a_row_another_writer_has_not_flushed_yet_is_found_by_the_second_look_up(
    tmp_path: Path, guards: list[Guard], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    replica = _guard(db, budgets={"flush_interval_s": 3600})  # another replica, its row not written yet
    receiver = _guard(db)
    guards += [replica, receiver]
    call_id = _call(replica)
    assert Database(db).query("SELECT COUNT(*) FROM cost_ledger") == [(0,)]
    monkeypatch.setattr(_known, "_known_here", lambda _id: False)  # as if another process made it
    monkeypatch.setattr("llmguard.cost._state.pending_in_writers", lambda _id: False)
    waits: list[float] = []

    def replica_flushes_meanwhile(delay: float) -> None:
        waits.append(delay)
        assert replica.flush(10)

    monkeypatch.setattr(_known, "_sleep", replica_flushes_meanwhile)
    feedback(CallRef(call_id=call_id), "thumbs", True, guard=receiver)
    assert waits == [_known.recheck_delay(0.1)]  # the first look-up missed, the second found it
    assert _feedback_rows(db) == [(call_id, "thumbs")]


def test_an_id_of_a_call_on_another_database_is_refused(
    tmp_path: Path, guards: list[Guard], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _guard(f"sqlite:///{tmp_path / 'other.db'}")
    receiver = _guard(f"sqlite:///{tmp_path / 'mine.db'}")
    guards += [other, receiver]
    call_id = _call(other)
    assert other.flush(10)
    monkeypatch.setattr(_known, "_known_here", lambda _id: False)  # as if another process made it
    monkeypatch.setattr(_known, "_sleep", lambda delay: None)
    with pytest.raises(FeedbackError, match=call_id):
        feedback(CallRef(call_id=call_id), "thumbs", True, guard=receiver)


def test_a_call_still_queued_in_this_process_is_accepted(
    tmp_path: Path, guards: list[Guard], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'queued.db'}"
    guard = _guard(db, budgets={"flush_interval_s": 3600})  # the writer sleeps: the row stays queued
    guards.append(guard)
    call_id = _call(guard)
    monkeypatch.setattr(_known, "_known_here", lambda _id: False)  # the index forgot it (evicted)
    monkeypatch.setattr(_known, "_sleep", lambda delay: pytest.fail("a queued row needs no second look-up"))
    stats = guard.stats().ledger
    assert stats is not None
    assert stats.pending == 1
    feedback(CallRef(call_id=call_id), "rating", 4, guard=guard)
    assert guard.flush(10)
    assert _feedback_rows(db) == [(call_id, "rating")]


def test_a_call_this_process_indexed_is_accepted_without_a_look_up(
    tmp_path: Path, guards: list[Guard], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'indexed.db'}"
    guard = _guard(db)
    guards.append(guard)
    call_id = _call(guard)
    monkeypatch.setattr(_known, "_stored", lambda *_a: pytest.fail("known here: no database look-up"))
    feedback(CallRef(call_id=call_id), "thumbs", True, guard=guard)  # no response id: found by call id
    assert guard.flush(10)
    assert _feedback_rows(db) == [(call_id, "thumbs")]


def test_afeedback_refuses_a_made_up_id_too(
    tmp_path: Path, guards: list[Guard], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_known, "_sleep", lambda delay: None)
    db = f"sqlite:///{tmp_path / 'async.db'}"
    guard = _guard(db)
    guards.append(guard)
    with pytest.raises(FeedbackError, match="names no call in the ledger"):
        asyncio.run(afeedback(CallRef(call_id=MADE_UP), "thumbs", True, guard=guard))
    assert _feedback_rows(db) == []


def test_without_a_ledger_a_well_formed_id_cannot_be_verified_and_is_accepted(
    tmp_path: Path, guards: list[Guard], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_known, "_stored", lambda *_a: pytest.fail("no ledger: nothing to look up"))
    db = f"sqlite:///{tmp_path / 'noledger.db'}"
    guard = Guard(db=db, pin_policy="off")  # the ledger is off by default (no budgets, no rules)
    guards.append(guard)
    feedback(CallRef(call_id=MADE_UP), "thumbs", True, guard=guard)
    assert _feedback_rows(db) == [(MADE_UP, "thumbs")]


def test_a_malformed_id_is_refused_before_any_look_up(tmp_path: Path, guards: list[Guard]) -> None:
    guard = _guard(f"sqlite:///{tmp_path / 'bad.db'}")
    guards.append(guard)
    with pytest.raises(FeedbackError, match="names no call llmguard made"):
        feedback(CallRef(call_id="does-not-exist"), "thumbs", True, guard=guard)


def test_the_second_look_up_waits_a_bounded_multiple_of_the_writer_interval() -> None:
    assert _known.recheck_delay(0.1) == _known.MIN_RECHECK_S
    assert _known.recheck_delay(0.5) == 2.5
    assert _known.recheck_delay(3600) == _known.MAX_RECHECK_S
