"""``llmguard eval run SUITE --traffic 7d --sample N``: the suite over a sample of recent retained inputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmguard import EvalError
from llmguard.review import ReviewStore
from llmguard.review._traffic import parse_window, traffic_cases

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SUITE = """\
prompt: support-bot@2.1.0
prompts_dir: prompts
provider: fake
model: gpt-4o-2024-08-06
datasets: [golden.jsonl]
judges:
  min_length: {min_chars: 20}
  no_refusal: {}
gate:
  min_length: {pass_rate: 1.0}
primary: min_length
"""
GOLDEN = '{"id": "g1", "input": "How do I reset my password?", "expected_output": "Go to Settings and use Reset Password."}\n'


def fill(store: ReviewStore, texts: list[str], *, age_s: float = 0) -> None:
    for i, text in enumerate(texts):
        content = {"input": {"messages": [{"role": "user", "content": text}]}, "output": "x"}
        store.enqueue(f"{len(store.queued()) + i:032x}", "random", content)
    if age_s:
        with store.engine.begin() as conn:
            from llmguard.review._store import QUEUE

            conn.execute(QUEUE.update().values(enqueued_ns=time.time_ns() - int(age_s * 1e9)))


def test_window_and_sample_are_deterministic_and_nested(tmp_path: Path) -> None:
    assert parse_window("7d") == 7 * 86400
    assert parse_window("90m") == 5400
    for bad in ("7", "-1d", "0h", "week", "7y"):
        with pytest.raises(EvalError, match="--traffic"):
            parse_window(bad)
    store = ReviewStore(tmp_path / "t.db")
    fill(store, ["old question"], age_s=10 * 86400)
    fill(store, [f"question number {i}" for i in range(30)] + ["Question number 1!"])
    week = parse_window("7d")
    five = traffic_cases(store, week, 5)
    ten = traffic_cases(store, week, 10)
    assert len(five) == 5
    assert [c["input"] for c in five] == [c["input"] for c in ten[:5]]  # nested: more only adds
    everything = [c["input"] for c in traffic_cases(store, week, 100)]
    assert len(everything) == 30  # the duplicate merged, the 10-day-old input outside the window
    assert "old question" not in everything
    assert "old question" in [c["input"] for c in traffic_cases(store, parse_window("2w"), 100)]


def test_cli_runs_the_suite_over_traffic_and_reports_against_the_last_record(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "prompts", tmp_path / "prompts")
    (tmp_path / "golden.jsonl").write_text(GOLDEN)
    suite = tmp_path / "bot.suite.yaml"
    suite.write_text(SUITE)
    db = tmp_path / "t.db"
    fill(ReviewStore(db), [f"Where is my order {i}?" for i in range(6)])

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmguard", "--db", str(db), "--json", "eval", "run", str(suite), *args],
            capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ), cwd=tmp_path,
        )  # fmt: skip

    golden = run()
    assert golden.returncode == 0, golden.stderr
    records = list((tmp_path / "records").rglob("*.json"))
    assert len(records) == 1
    done = run("--traffic", "7d", "--sample", "4")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["traffic"]["inputs"] == 4
    assert report["traffic"]["last_record"]["eval_score"] == json.loads(records[0].read_text())["eval_score"]
    assert len(list((tmp_path / "records").rglob("*.json"))) == 1  # a traffic run writes no record
    assert report["traffic"]["prompt"] == "support-bot@2.1.0"  # no production label: the suite's prompt
    folder = tmp_path / "prompts" / "support-bot"
    (folder / "v2.2.0.yaml").write_text((folder / "v2.1.0.yaml").read_text().replace('"2.1.0"', '"2.2.0"'))
    (folder / "labels.yaml").write_text('production: "2.2.0"\n')
    production = run("--traffic", "7d", "--sample", "4")
    assert production.returncode == 0, production.stderr
    assert json.loads(production.stdout)["traffic"]["prompt"] == "support-bot@2.2.0"
    empty = subprocess.run(
        [sys.executable, "-m", "llmguard", "--db", str(tmp_path / "none.db"), "eval", "run", str(suite),
         "--traffic", "1d"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert empty.returncode == 2
    assert "no retained traffic" in empty.stderr
