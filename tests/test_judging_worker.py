"""Judging on worker processes: the app enqueues jobs in PostgreSQL, `llmguard worker` judges them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import llmguard
from llmguard._storage import Database
from llmguard.testing import FakeOpenAI

JUDGE_MODULE = """
import time

def slow_len(item):
    time.sleep({delay})
    return len(item.output) > 1
"""


def _project(tmp_path: Path, url: str, delay: float = 0.0) -> dict[str, str]:
    (tmp_path / "workerjudges.py").write_text(JUDGE_MODULE.format(delay=delay))
    (tmp_path / "llmguard.toml").write_text(
        f'db = "{url}"\npin_policy = "off"\njudges = ["no_refusal", "workerjudges:slow_len"]\n'
        "[sampling]\nrate = 1.0\nmax_queue = 100000\n"
    )
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(tmp_path)}


def _enqueue(tmp_path: Path, calls: int) -> Any:
    guard = llmguard.Guard()
    fake = FakeOpenAI(reply="a fine answer")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(calls):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert guard.flush(timeout=60)
    stats = guard.stats().judging
    guard.close()
    return stats


def _worker(env: dict[str, str], cwd: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "llmguard", "worker", "--concurrency", "4", *extra]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _judgments(db: Database) -> list[tuple[Any, ...]]:
    return db.query("SELECT call_id, judge, COUNT(*) FROM llmguard_judgments GROUP BY call_id, judge")


def test_the_app_only_enqueues_and_two_workers_judge_everything_once(
    postgres_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_server.new_database()
    env = _project(tmp_path, url)
    monkeypatch.syspath_prepend(str(tmp_path))
    stats = _enqueue(tmp_path, 200)
    assert (stats.sampled, stats.dropped) == (400, 0)  # 200 calls x 2 judges, all enqueued
    db = Database(url)
    assert db.query("SELECT COUNT(*) FROM llmguard_judgments") == [(0,)]  # the app judged nothing
    assert db.query("SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'todo'") == [(200,)]
    workers = [_worker(env, tmp_path, "--burst") for _ in range(2)]
    outs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), outs
    rows = _judgments(db)
    assert len(rows) == 400
    assert {count for *_, count in rows} == {1}  # every (call, judge) judged exactly once
    assert db.query("SELECT COUNT(*) FROM procrastinate_jobs") == [(0,)]  # finished jobs are deleted
    assert db.query("SELECT status, COUNT(*) FROM llmguard_judgments GROUP BY status") == [("ok", 400)]
    db.dispose()


def test_a_worker_killed_mid_run_leaves_its_jobs_to_be_judged_once(
    postgres_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_server.new_database()
    env = _project(tmp_path, url, delay=0.05)
    monkeypatch.syspath_prepend(str(tmp_path))
    _enqueue(tmp_path, 120)
    db = Database(url)
    doomed = _worker(env, tmp_path, "--stalled-after", "2")
    deadline = time.monotonic() + 120
    while db.query("SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'doing'")[0][0] == 0:
        assert time.monotonic() < deadline, "the worker never started a job"
        time.sleep(0.05)
    os.kill(doomed.pid, signal.SIGKILL)  # dies holding jobs ('doing'), with no heartbeat from now on
    doomed.communicate(timeout=30)
    stuck = db.query("SELECT COUNT(*) FROM procrastinate_jobs WHERE status = 'doing'")[0][0]
    assert stuck > 0
    rescuer = _worker(env, tmp_path, "--stalled-after", "2")
    while db.query("SELECT COUNT(*) FROM procrastinate_jobs")[0][0] > 0:
        assert time.monotonic() < deadline + 120, db.query(
            "SELECT status, COUNT(*) FROM procrastinate_jobs GROUP BY 1"
        )
        time.sleep(0.2)
    rescuer.send_signal(signal.SIGTERM)
    rescuer.communicate(timeout=60)
    rows = _judgments(db)
    assert len(rows) == 240  # every (call, judge) judged ...
    assert {count for *_, count in rows} == {1}  # ... once, although the killed worker's jobs ran again
    db.dispose()


def test_the_app_side_counts_every_sampled_judgment_even_when_it_cannot_enqueue() -> None:
    from dataclasses import replace

    from llmguard.judging._jobs import MAX_PAYLOAD_BYTES, JobQueue
    from llmguard.judging._registry import resolve_judges
    from llmguard.testing import make_record

    judges = resolve_judges(["no_refusal", "min_length"])
    queue = JobQueue("postgresql+psycopg://nobody@127.0.0.1:1/none", judges)  # nothing listens on port 1
    record = replace(make_record(), output_text="ok")
    huge = replace(make_record(), output_text="x" * (MAX_PAYLOAD_BYTES + 1))
    assert queue.offer(record)  # the caller's thread never serialises or waits: accepted
    assert queue.offer(huge)
    queue.flush(timeout=30)
    stats = queue.stats()
    assert stats.sampled == 4  # 2 calls x 2 judges
    assert stats.dropped_by_reason == {"too_large": 2, "enqueue_failed": 2}
    assert (stats.pending, stats.queued) == (0, 0)
    queue.shutdown()


def test_the_app_side_buffer_is_bounded_in_bytes() -> None:
    """20 KB outputs under a 50 KB cap: two calls wait for the (held) writer, later ones are dropped."""
    from dataclasses import replace

    from llmguard.judging._jobs import JobQueue
    from llmguard.judging._registry import resolve_judges
    from llmguard.testing import make_record

    release = threading.Event()

    class Held(JobQueue):
        def _defer(self, items: Any) -> None:
            release.wait(10)  # the buffered calls keep their bytes counted until the writer defers them
            super()._defer(items)

    judges = resolve_judges(["no_refusal", "min_length"])
    queue = Held("postgresql+psycopg://nobody@127.0.0.1:1/none", judges, max_queue_bytes=50_000)
    big = replace(make_record(), output_text="x" * 20_000)
    results = [queue.offer(replace(big, call_id=f"call-{i}")) for i in range(4)]
    assert results == [True, True, False, False]
    release.set()
    queue.flush(timeout=30)
    stats = queue.stats()
    assert stats.sampled == 8
    assert stats.dropped_by_reason == {"queue_full": 4, "enqueue_failed": 4}
    assert queue.offer(replace(big, call_id="call-9"))  # the bytes were given back
    queue.shutdown()
