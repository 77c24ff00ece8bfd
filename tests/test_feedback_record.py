"""Feedback: call references on every kind of returned object, recording, sinks, judging hook."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx2
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

import llmguard
from llmguard import CallRecord, FeedbackError, Guard, PromptRef
from llmguard._context import use_prompt
from llmguard._core import CallContext
from llmguard._feedback import (
    CallbackFeedbackSink,
    CallRef,
    FanOutFeedbackSink,
    FeedbackEntry,
    afeedback,
    call_ref,
    current_call_ref,
    feedback,
    set_judging_hook,
    sink_errors,
)
from llmguard.testing import FakeAnthropic, FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


class FakeTelemetry:
    """Sets trace and span ids as the telemetry feature does."""

    def on_start(self, call: CallContext) -> None:
        call.trace_id, call.span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        pass


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[Guard]:
    g = Guard(db_path=tmp_path / "fb.db", pin_policy="off", feedback_secret="k1", observers=[FakeTelemetry()])
    yield g
    llmguard._feedback.close_sinks(g)


@pytest.fixture
def client(guard: Guard) -> Iterator[llmguard.OpenAI]:
    with FakeOpenAI(reply="hello there").client(llmguard.OpenAI, guard=guard) as c:
        yield c


def rows(guard: Guard) -> list[sqlite3.Row]:
    conn = sqlite3.connect(guard.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM llmguard_feedback ORDER BY id").fetchall()
    finally:
        conn.close()


# -- call references ------------------------------------------------------------------------------


def test_ref_of_chat_completion_carries_every_id(client: llmguard.OpenAI) -> None:
    with use_prompt(PromptRef(name="greet", version="1.2.0")):
        resp = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    ref = call_ref(resp)
    assert ref == call_ref(resp)
    assert ref.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert ref.span_id == "b7ad6b7169203331"
    assert ref.response_id == resp.id
    assert (ref.prompt_name, ref.prompt_version, ref.model) == ("greet", "1.2.0", MODEL)
    assert len(ref.call_id) == 32
    with pytest.raises(AttributeError):
        ref.call_id = "x"  # type: ignore[misc]
    assert hash(ref) == hash(call_ref(resp))
    assert not hasattr(resp, "_llmguard_ref")  # nothing set on SDK objects


def test_ref_of_streams_raw_and_parsed(client: llmguard.OpenAI) -> None:
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    call_id = call_ref(stream).call_id
    list(stream)
    assert call_ref(stream).call_id == call_id
    assert call_ref(stream).response_id is not None
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert call_ref(raw.parse()) == call_ref(raw)
    with client.chat.completions.with_streaming_response.create(model=MODEL, messages=MESSAGES) as streamed:
        assert call_ref(streamed).call_id == call_ref(streamed.parse()).call_id


def test_ref_of_stream_helpers_and_rebuilt_objects(client: llmguard.OpenAI) -> None:
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES) as helper:
        call_id = call_ref(helper).call_id
        final = helper.get_final_completion()
    assert call_ref(final).call_id == call_id
    rebuilt = type(final).model_validate(final.model_dump())
    assert call_ref(rebuilt).call_id == call_id
    with client.responses.stream(model=MODEL, input="hi") as rstream:
        rid = call_ref(rstream).call_id
        assert call_ref(rstream.get_final_response()).call_id == rid
    assert call_ref(client.responses.create(model=MODEL, input="hi")).response_id


def test_ref_of_anthropic_messages(guard: Guard) -> None:
    with FakeAnthropic(reply="yo").client(llmguard.Anthropic, guard=guard) as c:
        msg = c.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES)
        assert call_ref(msg).response_id == msg.id
        with c.messages.stream(model="claude-sonnet-4-6", max_tokens=10, messages=MESSAGES) as ms:
            call_id = call_ref(ms).call_id
            assert call_ref(ms.get_final_message()).call_id == call_id


def test_ref_of_unknown_object_raises() -> None:
    with pytest.raises(FeedbackError, match="no llmguard call"):
        call_ref(object())


def test_current_call_ref_inside_the_call(guard: Guard) -> None:
    fake = FakeOpenAI()
    seen: list[CallRef | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(current_call_ref())
        return fake.handle(request)

    http = httpx2.Client(transport=httpx2.MockTransport(handler), base_url=fake.base_url)
    with llmguard.OpenAI(api_key="k", base_url=fake.base_url, http_client=http, guard=guard) as c:
        resp = c.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert seen[0] is not None
    assert seen[0].call_id == call_ref(resp).call_id
    assert current_call_ref() is None


# -- recording ------------------------------------------------------------------------------------


def test_feedback_is_idempotent_per_call_name_user(client: llmguard.OpenAI, guard: Guard) -> None:
    resp = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    feedback(resp, "thumbs", True)
    feedback(resp, "thumbs", False)  # same (call, name, anonymous user): update
    feedback(resp, "thumbs", True, user_id="u1")
    feedback(resp, "rating", 4, comment="good", metadata={"page": "chat"})
    stored = rows(guard)
    assert [(r["name"], r["user_id"], r["score"], r["revisions"]) for r in stored] == [
        ("thumbs", "", 0.0, 2),
        ("thumbs", "u1", 1.0, 1),
        ("rating", "", 4.0, 1),
    ]
    assert stored[0]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert stored[0]["model"] == MODEL
    assert stored[0]["created_at"].endswith("+00:00")


def test_feedback_keeps_prompt_and_model_and_utc(client: llmguard.OpenAI, guard: Guard) -> None:
    with use_prompt(PromptRef(name="greet", version="2.0.0")):
        resp = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    entry = feedback(call_ref(resp), "category", "off_topic")
    assert entry.created_at.tzinfo is UTC
    row = rows(guard)[0]
    assert (row["prompt_name"], row["prompt_version"], row["model"], row["label"]) == (
        "greet",
        "2.0.0",
        MODEL,
        "off_topic",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("thumbs", None), ("thumbs", float("nan")), ("thumbs", ""), ("thumbs", [1]), ("", 1), ("bad name", 1)],
)
def test_invalid_input_raises_and_stores_nothing(
    client: llmguard.OpenAI, guard: Guard, name: str, value: Any
) -> None:
    resp = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    with pytest.raises(FeedbackError):
        feedback(resp, name, value)
    with pytest.raises(FeedbackError):
        feedback(resp, "thumbs", True, comment="x" * 5000)
    with pytest.raises(FeedbackError):
        feedback(resp, "thumbs", True, metadata={"x": object()})
    assert not guard.db_path.exists()


def test_feedback_goes_to_the_guard_that_made_the_call(tmp_path: Path) -> None:
    g1 = Guard(db_path=tmp_path / "one.db", pin_policy="off")
    g2 = llmguard.configure(db_path=tmp_path / "default.db", pin_policy="off")
    with FakeOpenAI().client(llmguard.OpenAI, guard=g1) as c:
        resp = c.chat.completions.create(model=MODEL, messages=MESSAGES)
    feedback(resp, "thumbs", True)
    ref = call_ref(resp)
    feedback(CallRef(call_id="01ABCDEFGHJKMNPQRSTVWXYZ00"), "thumbs", True)  # unknown call -> default guard
    llmguard._feedback.close_sinks(g1)
    llmguard._feedback.close_sinks(g2)
    assert [r["call_id"] for r in rows(g1)] == [ref.call_id]
    assert [r["call_id"] for r in rows(g2)] == ["01ABCDEFGHJKMNPQRSTVWXYZ00"]


def test_failing_sink_is_logged_and_counted_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[FeedbackEntry] = []

    def boom(entry: FeedbackEntry) -> None:
        raise RuntimeError("sink down")

    g = Guard(pin_policy="off", feedback_sink=FanOutFeedbackSink(boom, CallbackFeedbackSink(received.append)))
    before = sink_errors().get("CallbackFeedbackSink", 0)
    with FakeOpenAI().client(llmguard.OpenAI, guard=g) as c:
        resp = c.chat.completions.create(model=MODEL, messages=MESSAGES)
    feedback(resp, "thumbs", True)
    assert len(received) == 1  # the other sink still ran
    assert sink_errors()["CallbackFeedbackSink"] == before + 1
    assert "sink down" in caplog.text


def test_otel_sink_emits_evaluation_event(tmp_path: Path) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    for capture in (False, True):
        g = Guard(
            db_path=tmp_path / f"{capture}.db",
            pin_policy="off",
            logger_provider=provider,
            capture_content=capture,
            observers=[FakeTelemetry()],
        )
        with FakeOpenAI().client(llmguard.OpenAI, guard=g) as c:
            resp = c.chat.completions.create(model=MODEL, messages=MESSAGES)
        feedback(resp, "thumbs", True, comment="secret words")
        llmguard._feedback.close_sinks(g)
    first, second = (item.log_record for item in exporter.get_finished_logs())
    provider.shutdown()
    assert first.event_name == "gen_ai.evaluation.result"
    attrs = dict(first.attributes or {})
    assert attrs["gen_ai.evaluation.name"] == "user_feedback.thumbs"
    assert attrs["gen_ai.evaluation.score.value"] == 1.0
    assert attrs["gen_ai.response.id"] == resp.id
    assert "gen_ai.evaluation.explanation" not in attrs
    assert format(first.trace_id or 0, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(first.span_id or 0, "016x") == "b7ad6b7169203331"
    assert dict(second.attributes or {})["gen_ai.evaluation.explanation"] == "secret words"


@pytest.mark.anyio
async def test_afeedback(guard: Guard) -> None:
    async with FakeOpenAI().client(llmguard.AsyncOpenAI, guard=guard) as c:
        resp = await c.chat.completions.create(model=MODEL, messages=MESSAGES)
    entry = await afeedback(resp, "rating", 5)
    assert entry.score == 5.0
    assert rows(guard)[0]["call_id"] == call_ref(resp).call_id


# -- negative feedback -> judging ----------------------------------------------------------------


def test_negative_feedback_without_retained_content_notes_skip(client: llmguard.OpenAI, guard: Guard) -> None:
    resp = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    entry = feedback(resp, "thumbs", False)
    assert entry.judging == "skipped: content unavailable"
    assert rows(guard)[0]["judging"] == "skipped: content unavailable"
    assert rows(guard)[0]["negative"] == 1


def test_negative_feedback_judges_retained_call(tmp_path: Path) -> None:
    submitted: list[tuple[str, str | None]] = []

    def hook(guard: Guard, record: CallRecord, entry: FeedbackEntry) -> bool:
        submitted.append((record.call_id, record.output_text))
        return True

    g = Guard(db_path=tmp_path / "j.db", pin_policy="off", sampling={"retain_unsampled": 2})
    previous = set_judging_hook(hook)
    try:
        with FakeOpenAI(reply="bad answer").client(llmguard.OpenAI, guard=g) as c:
            old = c.chat.completions.create(model=MODEL, messages=MESSAGES)
            resps = [c.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(2)]
        entry = feedback(resps[0], "thumbs", False)
        assert entry.judging == "queued"
        assert entry.content is None  # judged from memory, but no content at rest without content capture
        evicted = CallRef(call_id=call_ref(old).call_id)  # only the buffer (N=2) could hold it: evicted
        assert feedback(evicted, "thumbs", False).judging == "skipped: content unavailable"
        assert feedback(resps[1], "thumbs", True).judging is None  # positive: nothing to judge
    finally:
        set_judging_hook(previous)
        llmguard._feedback.close_sinks(g)
    assert submitted == [(call_ref(resps[0]).call_id, "bad answer")]
