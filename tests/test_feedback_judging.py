"""Negative feedback can have an unsampled call judged, while its content is still held."""

from __future__ import annotations

import gc

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
