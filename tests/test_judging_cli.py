"""``llmguard judgments`` through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmguard.judging import JudgeResult, Judgment, SQLiteSink


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmguard", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "j.db"
    sink = SQLiteSink(path)
    rows = []
    for i, (version, score) in enumerate([("1", 2), ("1", 4), ("2", 5)]):
        result = JudgeResult.of("llm_judge", score, scale=(1, 5), threshold=0.75, fingerprint="fp")
        rows.append(
            Judgment(
                call_id=f"c{i}",
                judge="llm_judge",
                status="ok",
                result=result,
                prompt_name="qa",
                prompt_version=version,
            )
        )
    rows.append(
        Judgment(
            call_id="c9",
            judge="llm_judge",
            status="timeout",
            error_type="TimeoutError",
            prompt_name="qa",
            prompt_version="2",
        )
    )
    sink.write(rows)
    sink.close()
    return path


def test_summary_json(db: Path) -> None:
    proc = run("--db", str(db), "--json", "judgments", "summary")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    by_version = {row["prompt_version"]: row for row in data}
    assert by_version["1"]["count"] == 2
    assert by_version["1"]["mean_score"] == 3.0
    assert by_version["1"]["pass_rate"] == 0.5
    assert by_version["2"]["count"] == 2
    assert by_version["2"]["mean_score"] == 5.0
    assert by_version["2"]["errored"] == 1


def test_list_table_and_json(db: Path) -> None:
    proc = run("--db", str(db), "judgments", "list", "-n", "2")
    assert proc.returncode == 0, proc.stderr
    assert "Recent judgments" in proc.stdout
    assert "TimeoutError" in proc.stdout
    proc = run("--db", str(db), "--json", "judgments", "list", "--judge", "llm_judge", "--prompt", "qa")
    assert [row["call_id"] for row in json.loads(proc.stdout)] == ["c9", "c2", "c1", "c0"]


def test_missing_database_exits_2(tmp_path: Path) -> None:
    proc = run("--db", str(tmp_path / "none.db"), "judgments", "summary")
    assert proc.returncode == 2
    assert "no llmguard database at" in proc.stderr
