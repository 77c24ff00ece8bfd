"""The ledger: rows off the hot path, nothing lost on shutdown, failures never reach the caller."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

import llmguard
from llmguard._core import Runtime
from llmguard._record import CallRecord, Cost, PromptRef, Usage
from llmguard.cost import BaselineRule, CostPolicy, SQLiteLedger, check_alerts, ledger_stats, load_series
from llmguard.cost._ledger import count_rows
from llmguard.cost._observer import LedgerObserver, build
from llmguard.cost._writer import BatchWriter
from llmguard.testing import FakeOpenAI
from llmguard.testing import make_record as base_record

DAY_NS = 86_400 * 1_000_000_000


def make_record(
    *,
    ts_ns: int | None = None,
    usd: str | None = "0.01",
    prompt: str | None = "bot",
    error: str | None = None,
) -> CallRecord:
    return base_record(
        service_name="svc",
        requested_model="gpt-4o-mini",
        response_id="r",
        start_time_ns=time.time_ns() if ts_ns is None else ts_ns,
        duration_s=0.25,
        error_type=error,
        prompt=PromptRef(name=prompt, version="1.0.0") if prompt else None,
        cost=None if usd is None else Cost(total=Decimal(usd), input=Decimal(usd), output=Decimal(0)),
    )


def fake_pricer(usd: str) -> Callable[[str, str | None, Usage], Cost | None]:
    def price(provider: str, model: str | None, usage: Usage) -> Cost | None:
        return Cost(total=Decimal(usd), input=Decimal(usd), output=Decimal(0))

    return price


def guarded(guard: llmguard.Guard, usd: str = "0.01") -> Runtime:
    """Compile the cost feature alone with a fake pricer (the real pricer is another feature)."""
    from llmguard.cost._policy import build_policy

    observer = build(guard)
    policy = build_policy(guard)
    runtime = Runtime(
        guard.settings,
        observers=[observer] if observer else [],
        policies=[policy] if policy else [],
        pricer=fake_pricer(usd),
    )
    guard.__dict__["runtime"] = runtime
    return runtime


@pytest.fixture
def closing() -> Iterator[list[llmguard.Guard]]:
    guards: list[llmguard.Guard] = []
    yield guards
    for guard in guards:
        guard.close()


def test_ledger_is_off_unless_enabled(tmp_path: Path) -> None:
    guard = llmguard.Guard(db_path=tmp_path / "x.db")
    assert build(guard) is None
    assert not (tmp_path / "x.db").exists()


def test_calls_through_a_guarded_client_land_in_the_ledger(
    tmp_path: Path, closing: list[llmguard.Guard]
) -> None:
    guard = llmguard.Guard(ledger=True, db_path=tmp_path / "l.db", service_name="checkout", pin_policy="off")
    closing.append(guard)
    guarded(guard, "0.0125")
    fake = FakeOpenAI(reply="pong")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        fake.fail_next(400)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert guard.flush()
    ledger = SQLiteLedger(tmp_path / "l.db")
    try:
        rows = ledger.query(
            "SELECT service, model, cost_nanos, status, input_tokens FROM cost_ledger ORDER BY ts_ns"
        )
        assert [r[3] for r in rows] == ["ok", "ok", "ok", "error"]
        assert rows[0][0] == "checkout"
        assert rows[0][1] == "gpt-4o-mini"
        assert rows[0][2] == 12_500_000  # exact nano-USD
        assert rows[3][2] is None  # failed calls are unpriced, never $0
        assert rows[0][4] is not None
        assert rows[0][4] > 0
    finally:
        ledger.close()


def test_100k_rows_all_present_after_shutdown(tmp_path: Path) -> None:
    guard = llmguard.Guard(ledger=tmp_path / "big.db", budgets=CostPolicy(queue_size=100_000))
    observer = build(guard)
    assert isinstance(observer, LedgerObserver)
    base = make_record()
    call: Any = None
    for i in range(100_000):
        observer.on_end(call, replace(base, call_id=f"c{i:06d}"))
    observer.shutdown(timeout=60)  # speed claims live in benchmarks/, not here
    stats = observer.stats
    assert (stats.dropped, stats.failed, stats.pending) == (0, 0, 0)
    assert stats.written == 100_000
    ledger = SQLiteLedger(tmp_path / "big.db")
    try:
        assert count_rows(ledger) == 100_000
        assert ledger.query("SELECT SUM(cost_nanos) FROM cost_ledger")[0][0] == 100_000 * 10_000_000
    finally:
        ledger.close()


def test_bounded_queue_drops_and_counts() -> None:
    written: list[Any] = []
    writer = BatchWriter(written.extend, max_queue=10, batch_size=1000, interval=60)
    try:
        accepted = [writer.submit(i) for i in range(15)]
        assert accepted.count(False) == 5
        assert writer.stats().dropped == 5
        assert writer.flush(5)
        assert written == list(range(10))
    finally:
        writer.shutdown()


@contextmanager
def late_writer(max_lag: float) -> Iterator[tuple[BatchWriter, list[Any]]]:
    """A writer stuck in its first batch (its sink blocks) for longer than ``max_lag``; released on exit.

    The writer here is late because its sink is blocked; in a process it is late because busy
    threads keep the interpreter lock (``benchmarks/ledger_loss.py`` measures that case).
    """
    written: list[Any] = []
    entered, release = threading.Event(), threading.Event()

    def sink(batch: Any) -> None:
        entered.set()
        release.wait(10)
        written.extend(batch)

    writer = BatchWriter(sink, batch_size=1, interval=0.01, max_lag=max_lag)
    try:
        writer.submit(-1)
        assert entered.wait(5)  # the writer is stuck in its first batch
        time.sleep(0.01)  # and has written nothing for longer than max_lag
        yield writer, written
        release.set()
        assert writer.flush(5)
    finally:
        release.set()
        writer.shutdown()


def test_a_late_writer_makes_submit_wait_for_it_briefly() -> None:
    """Past ``max_lag`` without a write while LATE_ROWS rows wait, ``submit`` waits (briefly) for the writer."""
    from llmguard.cost._writer import LATE_ROWS

    with late_writer(max_lag=0.001) as (writer, written):
        for i in range(LATE_ROWS):
            writer.submit(i)
        assert writer.stats().waits == 0  # fewer than LATE_ROWS rows waited on each of those
        writer.submit(LATE_ROWS)
        assert writer.stats().waits == 1  # it waited (at most YIELD_S) and returned: nothing is dropped
    assert written == list(range(-1, LATE_ROWS + 1))


def test_without_max_lag_submit_never_waits() -> None:
    from llmguard.cost._writer import LATE_ROWS

    with late_writer(max_lag=0.0) as (writer, _):
        for i in range(LATE_ROWS * 2):
            writer.submit(i)
        assert writer.stats().waits == 0


def test_no_wait_for_a_writer_thread_that_is_gone_or_is_the_caller() -> None:
    from llmguard.cost._writer import LATE_ROWS

    with late_writer(max_lag=0.001) as (writer, _):
        live = writer._thread
        gone = threading.Thread(target=lambda: None)
        gone.start()
        gone.join()
        writer._thread = gone  # as if the writer thread had died
        for i in range(LATE_ROWS + 5):
            writer.submit(i)
        assert writer.stats().waits == 0
        writer._thread = threading.current_thread()  # a call made on the writer thread itself
        writer.submit(0)
        assert writer.stats().waits == 0
        writer._thread = live
        writer.submit(0)
        assert writer.stats().waits == 1


def ReadOnly(path: Path) -> SQLiteLedger:
    """A ledger whose database refuses writes (as a read-only file does, even for root)."""
    ledger = SQLiteLedger(path)
    ledger.db.ensure_schema()
    # The connection every write of a SQLite file goes through (the stdlib one this process holds).
    assert ledger.db.query("PRAGMA query_only = ON") == []
    assert ledger.db.query("PRAGMA query_only") == [(1,)]
    return ledger


def test_read_only_ledger_never_affects_the_caller(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        _run_unwritable(ReadOnly(tmp_path / "ro.db"))
    messages = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(messages) == 1
    assert "readonly" in messages[0]


class DiskFull(SQLiteLedger):
    """A ledger whose disk is full."""

    def write(self, rows: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")


def test_disk_full_never_affects_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        _run_unwritable(DiskFull(":memory:"))
    messages = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(messages) == 1  # logged once
    assert "disk is full" in messages[0]


def _run_unwritable(ledger: SQLiteLedger) -> None:
    guard = llmguard.Guard(ledger=ledger, pin_policy="off")
    guarded(guard)
    fake = FakeOpenAI(reply="still works")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(5):
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
            assert reply.choices[0].message.content == "still works"
            guard.flush()  # one failed batch per call
    guard.close()
    stats = ledger_stats(guard)
    assert stats is not None
    assert stats.failed == 5
    assert stats.written == 0
    ledger.close()


def test_retention_prunes_old_rows(tmp_path: Path) -> None:
    from llmguard.cost._budget import UTCClock
    from llmguard.cost._observer import ledger_row

    ledger = SQLiteLedger(tmp_path / "r.db", retention_days=30)
    now = time.time_ns()
    clock = UTCClock()
    ledger.write(
        [ledger_row(make_record(ts_ns=now - 40 * DAY_NS), clock, 1), ledger_row(make_record(), clock, 1)]
    )
    guard = llmguard.Guard(ledger=ledger)
    observer = build(guard)
    assert observer is not None
    observer.state.periodic()  # the writer thread runs this; retention is due at start
    assert count_rows(ledger) == 1
    assert ledger.prune(now + DAY_NS) == 1
    guard.close()
    observer.shutdown()


def test_series_and_on_demand_alerts_from_the_ledger(tmp_path: Path) -> None:
    seen: list[llmguard.cost.Alert] = []
    rule = BaselineRule(multiplier=2.0, days=7, min_value=1.0, where={"prompt": "bot"})
    guard = llmguard.Guard(
        ledger=tmp_path / "a.db",
        budgets=CostPolicy(rules=[rule], callbacks=[seen.append], check_interval_s=0),
    )
    observer = build(guard)
    assert observer is not None
    now = datetime.now(UTC).replace(hour=12)
    today_ns = int(now.timestamp() * 1e9)
    for day in range(1, 8):
        for _ in range(10):  # $1.00 a day
            observer.on_end(None, make_record(ts_ns=today_ns - day * DAY_NS, usd="0.10"))  # type: ignore[arg-type]
    for _ in range(21):  # $2.10 today
        observer.on_end(None, make_record(ts_ns=today_ns, usd="0.10"))  # type: ignore[arg-type]
    observer.on_end(None, make_record(ts_ns=today_ns, usd="50", prompt="other"))  # type: ignore[arg-type]
    alerts = check_alerts(guard, now=now)
    assert [a.rule for a in alerts] == ["baseline:cost[prompt=bot]"]
    assert alerts[0].value == pytest.approx(2.1)
    assert seen == alerts
    assert check_alerts(guard, now=now) == []  # one alert per rule per window
    ledger = SQLiteLedger(tmp_path / "a.db")
    series = load_series(ledger, "p95_latency", now.date().replace(day=1) if now.day > 8 else now.date())
    assert all(v == 0.25 for v in series.values.values())
    ledger.close()
    observer.shutdown()


def test_quality_series_read_the_judging_and_feedback_tables(tmp_path: Path) -> None:
    from llmguard.cost._budget import UTCClock
    from llmguard.cost._observer import ledger_row

    ledger = SQLiteLedger(tmp_path / "q.db")
    records = [make_record() for _ in range(4)]
    ledger.write([ledger_row(r, UTCClock(), 1) for r in records])
    today = datetime.now(UTC).date()
    assert load_series(ledger, "judge_score", today).values == {}  # no judgments yet
    judged = [("no_refusal", None, 1), ("no_refusal", None, 0), ("llm_judge", 0.5, 1), ("llm_judge", 1.0, 1)]
    for record, (judge, score, passed) in zip(records, judged, strict=True):
        ledger.execute(
            "INSERT INTO llmguard_judgments (created_ns, call_id, judge, normalized, passed, status) "
            "VALUES (0, ?, ?, ?, ?, 'ok')",
            (record.call_id, judge, score, passed),
        )
        ledger.execute(
            "INSERT INTO llmguard_feedback (call_id, name, negative, value_type, value_json, source, created_at, "
            "updated_at) VALUES (?, 'thumbs', ?, 'boolean', 'true', 'user', '', '')",
            (record.call_id, int(passed == 0)),
        )
    assert load_series(ledger, "judge_score", today).values == {today: 0.75}
    assert load_series(ledger, "judge_refusal_rate", today).values == {today: 0.5}
    assert load_series(ledger, "thumbs_down_rate", today).values == {today: 0.25}
    ledger.close()


def test_calls_after_close_are_still_written_and_say_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "ledger.db"
    guard = llmguard.Guard(ledger=db, pin_policy="off")
    messages: Any = [{"role": "user", "content": "x"}]
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=guard) as client:
        client.chat.completions.create(model="m", messages=messages)
        guard.close()
        with caplog.at_level(logging.WARNING, logger="llmguard"):
            for _ in range(3):
                client.chat.completions.create(model="m", messages=messages)
        assert guard.flush(5)
    guard.close()
    stats = ledger_stats(guard)
    assert stats is not None
    assert (stats.written, stats.dropped, stats.failed, stats.pending) == (4, 0, 0, 0)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cost_ledger").fetchone()[0] == 4
    warned = [r.getMessage() for r in caplog.records if "after its guard was closed" in r.getMessage()]
    assert len(warned) == 1
    assert "build a new Guard" in warned[0]


def test_a_call_made_after_the_exit_drain_is_written_on_the_callers_thread(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    script = textwrap.dedent(
        f"""
        import atexit

        def last_call():  # registered before llmguard: runs after its exit drain
            client.chat.completions.create(model="m", messages=[{{"role": "user", "content": "bye"}}])

        atexit.register(last_call)

        import llmguard
        from llmguard.testing import FakeOpenAI

        guard = llmguard.Guard(ledger={str(db)!r}, pin_policy="off")
        client = FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=guard)
        client.chat.completions.create(model="m", messages=[{{"role": "user", "content": "hi"}}])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "after its guard was closed" in done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cost_ledger").fetchone()[0] == 2


@pytest.mark.parametrize(
    ("key", "attribute", "bad_values"),
    [
        ("flush_interval_s", "interval", (0, -1.0, float("nan"), True)),
        ("max_write_lag_s", "max_lag", (-1.0, float("nan"), True, "0.2")),
    ],
)
def test_writer_timing_comes_from_config_and_is_checked(
    tmp_path: Path, key: str, attribute: str, bad_values: tuple[object, ...]
) -> None:
    guard = llmguard.Guard(ledger=tmp_path / "l.db", budgets={key: 0.5}, pin_policy="off")
    observer = build(guard)
    assert observer is not None
    assert observer.state.writer is not None
    assert getattr(observer.state.writer, attribute) == 0.5
    observer.shutdown()
    for bad in bad_values:
        with pytest.raises(llmguard.ConfigurationError, match=key):
            CostPolicy(**{key: bad})  # type: ignore[arg-type]


def test_max_write_lag_defaults_to_0_2_and_0_turns_the_wait_off(tmp_path: Path) -> None:
    assert CostPolicy().max_write_lag_s == 0.2
    assert CostPolicy(max_write_lag_s=0).max_write_lag_s == 0
    with pytest.raises(llmguard.ConfigurationError, match="max_write_lag_s"):
        build(llmguard.Guard(ledger=tmp_path / "m.db", budgets={"max_write_lag_s": -1}, pin_policy="off"))
