"""Negative feedback can have an unsampled call judged, while its content is still held."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import llmguard
from llmguard import CallbackFeedbackSink, FeedbackEntry, Guard
from llmguard.judging import InMemorySink, Sampling
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"


def _guard(retain: int, judgments: InMemorySink, rows: list[FeedbackEntry]) -> Guard:
    return Guard(
        pin_policy="enforce",
        judges=["min_length"],
        sampling=Sampling(rate=0.0, retain_unsampled=retain),
        judgment_sink=judgments,
        feedback_sink=CallbackFeedbackSink(rows.append),
    )


def test_negative_feedback_judges_a_retained_unsampled_call() -> None:
    judgments, rows = InMemorySink(), list[FeedbackEntry]()
    guard = _guard(10, judgments, rows)
    with FakeOpenAI(reply="a helpful answer").client(llmguard.OpenAI, guard=guard) as client:
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        assert guard.flush(5)
        assert judgments.judgments == []  # rate 0: not sampled
        entry = llmguard.feedback(reply, "thumbs", False, user_id="u1", guard=guard)
        assert guard.flush(5)
    assert entry.judging == "queued"
    judged = judgments.judgments
    assert [j.call_id for j in judged] == [llmguard.call_ref(reply).call_id]
    assert judged[0].judge == "min_length"
    guard.close()


def test_without_retention_the_row_says_content_was_unavailable() -> None:
    judgments, rows = InMemorySink(), list[FeedbackEntry]()
    guard = _guard(0, judgments, rows)
    with FakeOpenAI(reply="answer").client(llmguard.OpenAI, guard=guard) as client:
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        ref = llmguard.call_ref(reply)
        del reply  # the app no longer holds the response, and nothing retained its content
        gc.collect()
        entry = llmguard.feedback(ref, "thumbs", False, user_id="u1", guard=guard)
        assert guard.flush(5)
    assert entry.judging == "skipped: content unavailable"
    assert judgments.judgments == []
    assert rows[-1].ref.call_id == ref.call_id
    guard.close()


def _rated(guard: Guard, judgments: InMemorySink) -> tuple[str | None, list[str], str]:
    """Make one unsampled call, rate it down; return (judging status, judged call ids, its call id)."""
    with FakeOpenAI(reply="a helpful answer").client(llmguard.OpenAI, guard=guard) as client:
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        call_id = llmguard.call_ref(reply).call_id
        entry = llmguard.feedback(reply, "thumbs", False, user_id="u1", guard=guard)
        assert guard.flush(5)
    guard.close()
    return entry.judging, [j.call_id for j in judgments.judgments], call_id


FILE_ONLY_JUDGES = (
    '[tool.llmguard]\njudges = ["min_length"]\nsampling = {rate = 0.0}\n\n'
    "[tool.llmguard.feedback]\nretain_unsampled = 10\n"
)
FILE_SAMPLING_RETAINS = "[tool.llmguard]\nsampling = {rate = 0.0, retain_unsampled = 10}\n"


@pytest.mark.parametrize(
    ("config", "judges"),
    [
        pytest.param(FILE_ONLY_JUDGES, None, id="judges-only-in-the-file"),
        pytest.param(FILE_SAMPLING_RETAINS, ["min_length"], id="retain-unsampled-in-the-file-sampling-table"),
    ],
)
def test_configured_in_the_file_negative_feedback_judges_the_call(
    config: str, judges: list[str] | None
) -> None:
    """Regressions: judges set only in the config file made negative feedback record "skipped:
    judging not configured"; ``[tool.llmguard] sampling = {retain_unsampled = N}`` built no buffer."""
    Path("pyproject.toml").write_text(config, "utf-8")  # the tests run in a fresh folder
    judgments = InMemorySink()
    status, judged, call_id = _rated(
        Guard(pin_policy="enforce", judges=judges, judgment_sink=judgments), judgments
    )
    assert status == "queued"
    assert judged == [call_id]


def test_an_argument_sampling_without_retention_overrides_the_files() -> None:
    Path("pyproject.toml").write_text(FILE_SAMPLING_RETAINS, "utf-8")
    judgments = InMemorySink()
    guard = Guard(
        pin_policy="enforce",
        judges=["min_length"],
        sampling={"rate": 0.0, "retain_unsampled": 0},
        judgment_sink=judgments,
    )
    status, judged, _ = _rated(guard, judgments)
    assert status == "skipped: content unavailable"
    assert judged == []


def test_without_judges_negative_feedback_says_judging_is_not_configured() -> None:
    judgments = InMemorySink()
    guard = Guard(pin_policy="enforce", sampling={"retain_unsampled": 10}, judgment_sink=judgments)
    status, judged, _ = _rated(guard, judgments)
    assert status == "skipped: judging not configured"
    assert judged == []
