"""``llmguard review`` through real subprocesses on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llmguard import Guard
from llmguard.judging import JudgeResult, Judgment, SQLiteSink
from llmguard.review import ReviewStore, read_reviewer_token, record_label


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmguard", "--db", str(db), "review", *args],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_next_label_stats_calibrate(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    store = ReviewStore(db)
    ids = [f"{i:032x}" for i in range(4)]
    for i, call_id in enumerate(ids):
        content = {"input": {"messages": [{"role": "user", "content": f"q{i}"}]}, "output": "a [b]bold[/b]"}
        store.enqueue(call_id, "random", content)
    sink = SQLiteSink(db)
    sink.write(
        [Judgment(call_id=c, judge="j", status="ok", result=JudgeResult.of("j", float(i < 2), fingerprint="fp"))
         for i, c in enumerate(ids)]
    )  # fmt: skip
    sink.close()
    shown = run(db, "next", "-r", "ann", "--json")
    assert shown.returncode == 0, shown.stderr
    item = json.loads(shown.stdout)
    assert item["call_id"] == ids[0]
    assert item["content"]["input"]["messages"][0]["content"] == "q0"
    assert item["judgments"][0]["judge"] == "j"
    plain = run(db, "next", "-r", "ann")
    assert "a [b]bold[/b]" in plain.stdout  # content is text, never console markup
    guard = Guard(db_path=db)
    for i, call_id in enumerate(ids[:3]):
        record_label(guard, store, call_id, "ann", i != 1)
    done = run(db, "label", ids[3], "-r", "ann", "--pass", "--comment", "ok")
    assert done.returncode == 0, done.stderr
    stats = json.loads(run(db, "stats", "-r", "ann", "--json").stdout)
    assert (stats["queued"], stats["labelled"], stats["pending_for_reviewer"]) == (4, 4, 0)
    report = run(db, "calibrate", "--json", "--resamples", "50")
    assert report.returncode == 0, report.stderr
    judge = json.loads(report.stdout)["judges"][0]
    assert judge["n"] == 4
    assert judge["confusion"] == [[1, 2], [1, 0]]  # judge passes 0, 1; ann passes 0, 2, 3
    token = run(db, "token", "ann", "--secret", "s3")
    assert token.returncode == 0, token.stderr
    assert read_reviewer_token(Guard(feedback_secret="s3"), token.stdout.strip()) == "ann"
    bad = run(db, "label", "f" * 32, "-r", "ann", "--pass")
    assert bad.returncode == 2
    assert "not in the review queue" in bad.stderr
