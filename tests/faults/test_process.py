"""Faults that need a process of their own: a full disk, and fork() of a preloaded app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(90)

TESTS = Path(__file__).resolve().parents[1]
ANSWER = "Open Settings, then Security, then Reset Password."


def run(scenario: str, root: Path) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "faults._scenarios", scenario, str(root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=75,  # no hang: a deadlocked child or store fails the test here
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports = sorted((root / "reports").glob("*.json"), key=lambda path: path.stat().st_mtime_ns)
    return [json.loads(path.read_text()) for path in reports]


def _balanced(line: dict[str, Any]) -> None:
    assert line["flushed"]
    ledger, judging = line["ledger"], line["judging"]
    assert ledger["pending"] == judging["pending"] == 0
    assert ledger["written"] + ledger["failed"] + ledger["dropped"] == line["calls"]
    assert judging["judged"] + judging["errored"] + judging["dropped"] == judging["sampled"]
    assert all(answer == ANSWER for answer in line["answers"])


def test_disk_full(tmp_path: Path) -> None:
    full, after = run("disk_full", tmp_path)
    for line in (full, after):
        _balanced(line)
        assert line["ledger_rows"] == line["ledger"]["written"]
        assert line["judgment_rows"] + line["judging"]["unsaved"] == line["judging"]["judged"]
        assert line["feedback_rows"] + line["feedback_errors"] == line["feedbacks"]
    # while full: nothing could be written, everything is counted as failed (the first call was written)
    assert (full["calls"], full["ledger"]["written"], full["ledger"]["failed"]) == (5, 1, 4)
    assert full["feedback_errors"] == 4
    assert full["judging"]["unsaved"] == 4 * 2
    # once space is back, rows are written again without a restart
    assert (after["ledger"]["written"], after["ledger"]["failed"], after["ledger_rows"]) == (3, 4, 3)
    assert after["feedback_rows"] == 3


def test_fork_of_a_preloaded_app(tmp_path: Path) -> None:
    lines = run("fork", tmp_path)
    children = [line for line in lines if line["role"] == "child"]
    (parent,) = [line for line in lines if line["role"] == "parent"]
    (db,) = [line for line in lines if line["role"] == "db"]
    assert len(children) == 2
    assert parent["codes"] == [0, 0]
    for child in children:
        _balanced(child)
        assert child["pid"] != parent["pid"]
        assert child["calls"] == child["feedbacks"] == 5
        # the child's own rows: none lost, none inherited from the parent
        assert (child["ledger"]["written"], child["ledger"]["failed"], child["ledger"]["dropped"]) == (
            5,
            0,
            0,
        )
        assert child["judging"]["sampled"] == child["judging"]["judged"] == 5 * 2
        assert child["feedback_errors"] == 0
        assert child["spans"] == 5  # the batch span processor exports the child's spans, and only those
    parent["answers"] = []
    _balanced(parent)
    assert parent["ledger"]["failed"] == parent["ledger"]["dropped"] == 0
    assert parent["spans"] == parent["calls"]
    processes = [parent, *children]
    calls = sum(p["calls"] for p in processes)
    assert db["cost_ledger"] == calls == sum(p["ledger"]["written"] for p in processes)
    assert db["llmguard_judgments"] == sum(p["judging"]["judged"] for p in processes)
    assert db["llmguard_feedback"] == sum(p["feedbacks"] for p in processes)
