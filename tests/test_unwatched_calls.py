"""Calls no observer watches: no record is built, but call references and feedback keep working."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmguard
from llmguard import Guard, _refs
from llmguard._core import CallContext
from llmguard._record import CallRecord
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"


class Sometimes:
    """An observer that watches only while ``on`` is set."""

    def __init__(self) -> None:
        self.on = False
        self.records: list[CallRecord] = []

    def active(self) -> bool:
        return self.on

    def on_start(self, call: CallContext) -> None:
        pass

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        self.records.append(record)


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[Guard]:
    g = Guard(db_path=tmp_path / "u.db", pin_policy="enforce")
    yield g
    llmguard._feedback.close_sinks(g)


def _create(client: Any, content: str = "hi") -> Any:
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])


def test_unwatched_call_builds_no_record_yet_feedback_finds_it(guard: Guard) -> None:
    with FakeOpenAI(reply="hello").client(llmguard.OpenAI, guard=guard) as client:
        resp = _create(client)
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = list(stream)
    call = _refs.find(resp)
    assert call is not None
    assert call.finished
    assert call.record is None  # no observer watched it (no OpenTelemetry provider configured)
    ref = llmguard.call_ref(resp)
    assert (ref.response_id, ref.model, len(ref.call_id)) == (resp.id, resp.model, 32)
    assert llmguard.call_ref(stream).response_id == chunks[0].id
    rebuilt = type(resp).model_validate(resp.model_dump())
    assert llmguard.call_ref(rebuilt) == ref  # through the response-id index
    llmguard.feedback(resp, "thumbs", True, user_id="u1")
    conn = sqlite3.connect(guard.db_path)
    try:
        rows = conn.execute("SELECT call_id FROM llmguard_feedback").fetchall()
    finally:
        conn.close()
    assert rows == [(ref.call_id,)]


def test_unwatched_streams_keep_their_identity_and_send_the_body_as_written(guard: Guard) -> None:
    from llmguard.testing import FakeAnthropic

    fake = FakeOpenAI(reply="one two three")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        chat = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = list(chat)
        events = client.responses.create(model=MODEL, input="hi", stream=True)
        seen = list(events)
        final = next(e for e in seen if e.type == "response.completed").response
    assert "stream_options" not in fake.calls[0].body  # no observer reads usage: nothing injected
    assert chunks[-1].choices  # and no chunk is hidden
    assert (llmguard.call_ref(chat).response_id, llmguard.call_ref(chat).model) == (
        chunks[0].id,
        chunks[0].model,
    )
    assert (llmguard.call_ref(events).response_id, llmguard.call_ref(events).model) == (final.id, final.model)
    assert llmguard.call_ref(final) == llmguard.call_ref(events)  # through the response-id index
    with FakeAnthropic(reply="bonjour").client(llmguard.Anthropic, guard=guard) as aclient:
        with aclient.messages.stream(
            model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            message = stream.get_final_message()
    ref = llmguard.call_ref(message)
    assert (ref.response_id, ref.model) == (message.id, message.model)


def test_an_observer_can_sit_calls_out() -> None:
    watcher = Sometimes()
    guard = Guard(pin_policy="off", observers=[watcher])
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        _create(client)
        watcher.on = True
        watched = _create(client)
        watcher.on = False
        _create(client)
    assert [r.call_id for r in watcher.records] == [llmguard.call_ref(watched).call_id]


def test_response_id_index_keeps_identity_not_content(guard: Guard) -> None:
    prompt = "p" * 20_000
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        resp = _create(client, prompt)
    known = _refs.by_response_id(resp.id)
    assert isinstance(known, _refs.KnownCall)
    assert known.call_id == llmguard.call_ref(resp).call_id
    held = [getattr(known, name) for name in _refs.KnownCall.__slots__]
    assert not any(isinstance(value, CallContext | dict) for value in held)
    assert all(prompt not in str(value) for value in held if not isinstance(value, llmguard.Guard))
