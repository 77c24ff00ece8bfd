"""``llmguard eval refresh``: candidates from retained traffic, merged, grouped, redacted; golden untouched."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import llmguard
from llmguard import Guard
from llmguard._feedback import close_sinks
from llmguard.judging import JudgeResult, Judgment, SQLiteSink
from llmguard.review import ReviewStore, record_label
from llmguard.review._refresh import apply_candidates, normalise, refresh_candidates
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
GOLDEN = '{"id": "g1", "input": "How do I reset my password?", "expected_output": "Use the reset link."}\n'


def redact(text: str) -> str:
    return re.sub(r"[\w.]+@[\w.]+", "[email]", text)


@pytest.fixture
def traffic(tmp_path: Path) -> Iterator[tuple[Guard, ReviewStore, dict[str, str]]]:
    guard = Guard(
        db_path=tmp_path / "t.db", pin_policy="off", capture_content=True, sampling={"retain_unsampled": 50}
    )
    asked = {
        "dup1": "What is my balance?",
        "dup2": "  what is MY balance ",
        "near": "What is my balances?",
        "pii": "Email me at ann@example.com please",
        "known": "how do i reset my password",
        "low": "Translate hello into French",
        "fixed": "Summarise my last order",
    }
    ids: dict[str, str] = {}
    with FakeOpenAI(reply="answer").client(llmguard.OpenAI, guard=guard) as client:
        for key, text in asked.items():
            response = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": text}]
            )
            ids[key] = llmguard.call_ref(response).call_id
            if key not in ("low", "fixed"):
                llmguard.feedback(response, "thumbs", False, guard=guard)
    store = ReviewStore(guard.db_path)
    for key in ("low", "fixed"):
        content = {"input": {"messages": [{"role": "user", "content": asked[key]}]}, "output": "answer"}
        store.enqueue(ids[key], "random", content)
    sink = SQLiteSink(guard.db_path)
    sink.write([Judgment(call_id=ids["low"], judge="j", status="ok", result=JudgeResult.of("j", 0.1))])
    sink.close()
    record_label(guard, store, ids["fixed"], "ann", False, corrected="Your last order: 2 books.")
    yield guard, store, ids
    close_sinks(guard)


def test_refresh_merges_groups_redacts_and_leaves_the_golden_file(
    tmp_path: Path, traffic: tuple[Guard, ReviewStore, dict[str, str]]
) -> None:
    _, store, ids = traffic
    golden = tmp_path / "golden.jsonl"
    golden.write_text(GOLDEN, encoding="utf-8")
    before = golden.read_bytes()
    result = refresh_candidates(store, golden, redact=redact)
    assert golden.read_bytes() == before
    assert result.output == tmp_path / "golden.candidates.jsonl"
    cases = [json.loads(line) for line in result.output.read_text(encoding="utf-8").splitlines()]
    by_input = {normalise(c["input"]): c for c in cases}
    assert len(cases) == result.candidates == 5  # dup1+dup2 merged, the known one dropped
    assert (result.merged, result.already_in_dataset, result.near_duplicate_groups) == (1, 1, 1)
    balance = by_input["what is my balance"]
    assert balance["metadata"]["call_ids"] == [ids["dup1"], ids["dup2"]]
    assert (
        balance["metadata"]["near_duplicate_group"]
        == by_input["what is my balances"]["metadata"]["near_duplicate_group"]
    )
    assert "ann@example.com" not in result.output.read_text(encoding="utf-8")
    assert by_input["email me at email please"]["tags"] == ["from_traffic", "origin:negative_feedback"]
    assert by_input["translate hello into french"]["tags"] == ["from_traffic", "origin:low_score"]
    fixed = by_input["summarise my last order"]
    assert fixed["expected_output"] == "Your last order: 2 books."
    assert fixed["tags"] == ["from_traffic", "origin:review"]
    added = apply_candidates(result.output, golden)
    assert added == 1  # only the case a human corrected has an expected_output
    assert golden.read_bytes().startswith(before)
    assert [json.loads(x)["id"] for x in golden.read_text().splitlines()] == ["g1", fixed["id"]]
    with pytest.raises(llmguard.EvalError, match="already in"):
        apply_candidates(result.output, golden)
    with pytest.raises(llmguard.EvalError, match="never writes the golden file"):
        refresh_candidates(store, golden, output=golden)


def test_refresh_cli(tmp_path: Path, traffic: tuple[Guard, ReviewStore, dict[str, str]]) -> None:
    guard, _, _ = traffic
    golden = tmp_path / "golden.jsonl"
    golden.write_text(GOLDEN, encoding="utf-8")
    env: dict[str, Any] = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run(
        [sys.executable, "-m", "llmguard", "--db", str(guard.db_path), "--json", "eval", "refresh", str(golden),
         "--redact", "test_review_refresh:redact"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["candidates"] == 5
    assert "ann@example.com" not in Path(report["output"]).read_text(encoding="utf-8")
    assert golden.read_text(encoding="utf-8") == GOLDEN
    lines = Path(report["output"]).read_text(encoding="utf-8").splitlines()
    reviewed = [json.loads(line) for line in lines]
    next(c for c in reviewed if not c["expected_output"])["expected_output"] = "A human-written answer."
    Path(report["output"]).write_text("".join(json.dumps(c) + "\n" for c in reviewed), encoding="utf-8")
    applied = subprocess.run(
        [sys.executable, "-m", "llmguard", "--json", "eval", "refresh", str(golden), "--apply", report["output"]],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout) == {"added": 2}  # the human-filled case and the corrected one
    assert golden.read_text(encoding="utf-8").startswith(GOLDEN)
    assert len(golden.read_text(encoding="utf-8").splitlines()) == 3


@given(st.text(max_size=60))
def test_normalise_is_idempotent_and_ignores_case_and_spacing(text: str) -> None:
    key = normalise(text)
    assert normalise(key) == key
    assert normalise(f"  {text.upper()}\t!") == normalise(text.upper())
    assert "  " not in key
