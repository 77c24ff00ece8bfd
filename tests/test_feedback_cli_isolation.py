"""`llmguard feedback` CLI, and sinks that raise or are slow never touching the app's LLM calls."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from pathlib import Path

from typer.testing import CliRunner

import llmguard
from llmguard import Guard, PromptRef
from llmguard._context import use_prompt
from llmguard._feedback import CallRef, FeedbackEntry, close_sinks, feedback
from llmguard.cli import app
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"


def _seed(db: Path) -> str:
    g = Guard(db_path=db, pin_policy="off", sampling={"retain_unsampled": 10}, capture_content=True)
    with FakeOpenAI(reply="wrong answer").client(llmguard.OpenAI, guard=g) as c:
        for version in ("1.0.0", "1.1.0"):
            with use_prompt(PromptRef(name="qa", version=version)):
                resp = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "2+2?"}])
            feedback(resp, "thumbs", version == "1.1.0", user_id="u1")
            feedback(resp, "rating", 4 if version == "1.1.0" else 2, user_id="u1")
            bad = resp
    feedback(
        CallRef(call_id="0" * 26 + "60e000", model=MODEL), "thumbs", False, guard=g
    )  # content not retained
    close_sinks(g)
    return llmguard._feedback.call_ref(bad).call_id


def test_export_summary_and_candidates(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    _seed(db)
    runner = CliRunner()
    jsonl = runner.invoke(app, ["--db", str(db), "feedback", "export"])
    assert jsonl.exit_code == 0, jsonl.output
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert len(rows) == 5
    assert {r["prompt_version"] for r in rows} == {"1.0.0", "1.1.0", None}
    as_csv = runner.invoke(app, ["--db", str(db), "feedback", "export", "--format", "csv"])
    assert len(list(csv.DictReader(io.StringIO(as_csv.stdout)))) == 5

    summary = runner.invoke(app, ["--db", str(db), "--json", "feedback", "summary"])
    assert summary.exit_code == 0, summary.output
    by_version = {row["prompt_version"]: row for row in json.loads(summary.stdout)}
    assert by_version["1.0.0"]["count"] == 2
    assert by_version["1.0.0"]["mean_rating"] == 2.0
    assert by_version["1.0.0"]["thumbs_up_rate"] == 0.0
    assert by_version["1.1.0"]["thumbs_up_rate"] == 1.0
    table = runner.invoke(app, ["--db", str(db), "feedback", "summary"])
    assert "thumbs-up rate" in table.stdout

    out = tmp_path / "candidates.jsonl"
    cand = runner.invoke(
        app, ["--db", str(db), "feedback", "export", "--candidates", "--max-rating", "2", "-o", str(out)]
    )
    assert cand.exit_code == 0, cand.output
    cases = [json.loads(line) for line in out.read_text().splitlines()]
    retained = [c for c in cases if "content_unavailable" not in c["tags"]]
    assert len(cases) == 3  # thumbs down + rating 2 on 1.0.0, thumbs down on the unknown call
    assert len(retained) == 2  # both negative rows of 1.0.0 read the call's one stored copy
    assert retained[0]["input"] == retained[1]["input"] == "2+2?"
    assert retained[0]["expected_output"] == ""
    assert retained[0]["metadata"]["output"] == "wrong answer"
    assert "prompt:qa@1.0.0" in retained[0]["tags"]


def test_cli_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["--db", str(tmp_path / "none.db"), "feedback", "summary"])
    assert missing.exit_code == 2
    db = tmp_path / "x.db"
    _seed(db)
    assert runner.invoke(app, ["--db", str(db), "feedback", "export", "--format", "xml"]).exit_code == 2


def test_raising_and_slow_sinks_never_affect_llm_calls(tmp_path: Path) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(entry: FeedbackEntry) -> None:
        entered.set()
        release.wait(10)
        raise RuntimeError("sink exploded after being slow")

    g = Guard(pin_policy="off", feedback_sink=slow)
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=g) as c:
        resp = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        writer = threading.Thread(target=feedback, args=(resp, "thumbs", True))
        writer.start()
        assert entered.wait(10)
        began = time.perf_counter()
        answers = [
            c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "y"}])
            for _ in range(5)
        ]
        elapsed = time.perf_counter() - began
        release.set()
        writer.join(10)
    assert all(a.choices[0].message.content == "ok" for a in answers)
    assert elapsed < 5  # the LLM calls never waited on the blocked sink
    assert not writer.is_alive()
    assert llmguard._feedback.sink_errors()["CallbackFeedbackSink"] >= 1
