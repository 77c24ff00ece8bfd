"""The feedback API and endpoint under hostile input: bindings, rate limits, strict JSON, canonical
tokens, known call ids, and no content at rest unless opted in (redacted and byte-capped)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

import llmguard
from llmguard import FeedbackError, FeedbackTokenError, Guard
from llmguard._feedback import CallRef, call_ref, close_sinks, feedback, feedback_app
from llmguard._feedback._tokens import verify
from llmguard.telemetry import TelemetryOptions
from llmguard.telemetry._content import Budget
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
MESSAGES: Any = [{"role": "user", "content": "2+2?"}]


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[Guard]:
    g = Guard(db_path=tmp_path / "fb.db", pin_policy="off", feedback_secret="s")
    yield g
    close_sinks(g)


def _answer(guard: Guard, reply: str = "four") -> Any:
    with FakeOpenAI(reply=reply).client(llmguard.OpenAI, guard=guard) as client:
        return client.chat.completions.create(model=MODEL, messages=MESSAGES)


def _post(
    app: Any, body: Any = None, *, content: bytes | None = None, client: str = "10.0.0.1"
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://feedback.local") as http:
            data = content if content is not None else json.dumps(body).encode()
            return await http.post("/", content=data, headers={"content-type": "application/json"})

    return asyncio.run(go())


def _rows(guard: Guard, columns: str = "call_id, name, user_id") -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(guard.db_path)
    try:
        return conn.execute(f"SELECT {columns} FROM llmguard_feedback ORDER BY id").fetchall()
    finally:
        conn.close()


# -- 13: bindings, rate limits, content once per call ---------------------------------------------
def test_a_bound_token_votes_only_as_its_user_and_names(guard: Guard) -> None:
    answer = _answer(guard)
    token = guard.feedback_token(answer, user_id="alice", names=["thumbs"])
    app = feedback_app(guard)
    assert _post(app, {"token": token, "name": "thumbs", "value": True}).status_code == 200
    other_user = _post(app, {"token": token, "name": "thumbs", "value": False, "user_id": "mallory"})
    assert other_user.status_code == 403
    assert "another user" in other_user.json()["detail"]
    other_name = _post(app, {"token": token, "name": "rating", "value": 1})
    assert other_name.status_code == 403
    assert "does not allow the name 'rating'" in other_name.json()["detail"]
    with pytest.raises(FeedbackTokenError, match="another user"):
        feedback(token, "thumbs", True, user_id="bob", guard=guard)
    assert _rows(guard) == [(call_ref(answer).call_id, "thumbs", "alice")]


def test_the_endpoint_rate_limits_per_token_and_per_client(guard: Guard) -> None:
    answer = _answer(guard)
    app = feedback_app(guard, token_limit=3, client_limit=5)
    token = guard.feedback_token(answer)
    codes = [
        _post(app, {"token": token, "name": "thumbs", "value": True, "user_id": f"u{i}"}).status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    limited = _post(app, {"token": token, "name": "thumbs", "value": True})
    assert limited.headers["retry-after"].isdigit()
    fresh = guard.feedback_token(answer, ttl=60)
    assert _post(app, {"token": fresh, "name": "thumbs", "value": True}).status_code == 429  # client: 6th
    assert _post(app, {"token": fresh, "name": "thumbs", "value": True}, client="10.0.0.2").status_code == 200
    assert len(_rows(guard)) == 4


def test_content_is_stored_once_per_call_not_per_vote(tmp_path: Path) -> None:
    g = Guard(
        db_path=tmp_path / "c.db", pin_policy="off", capture_content=True, sampling={"retain_unsampled": 4}
    )
    try:
        answer = _answer(g, reply="five")
        for user in range(5):
            feedback(answer, "thumbs", False, user_id=f"u{user}", guard=g)
        assert _rows(g, "content") == [(None,)] * 5
        conn = sqlite3.connect(g.db_path)
        stored = conn.execute("SELECT call_id, content FROM llmguard_feedback_content").fetchall()
        conn.close()
        assert len(stored) == 1
        assert json.loads(stored[0][1])["output"] == "five"
    finally:
        close_sinks(g)


# -- 14: no content at rest unless opted in; redaction and byte caps ------------------------------
def test_no_content_at_rest_without_content_capture(guard: Guard) -> None:
    g = Guard(db_path=guard.db_path, pin_policy="off", sampling={"retain_unsampled": 4})
    try:
        feedback(_answer(g), "thumbs", False, guard=g)
    finally:
        close_sinks(g)
    conn = sqlite3.connect(g.db_path)
    assert conn.execute("SELECT COUNT(*) FROM llmguard_feedback_content").fetchone() == (0,)
    assert conn.execute("SELECT content FROM llmguard_feedback").fetchall() == [(None,)]
    conn.close()


def test_content_and_comments_are_redacted_and_byte_capped(tmp_path: Path) -> None:
    options = TelemetryOptions(content_max_bytes=1000, redact=lambda text: text.replace("secret", "[x]"))
    g = Guard(
        db_path=tmp_path / "r.db",
        pin_policy="off",
        capture_content=True,
        telemetry=options,
        sampling={"retain_unsampled": 4},
    )
    try:
        answer = _answer(g, reply="secret " + "😀" * 1000)
        entry = feedback(answer, "thumbs", False, comment="my secret is out", guard=g)
    finally:
        close_sinks(g)
    assert entry.comment == "my [x] is out"
    assert entry.content is not None
    dumped = json.dumps(entry.content, ensure_ascii=False)
    assert "secret" not in dumped
    assert entry.content["truncated"] is True
    assert len(entry.content["output"].encode()) <= 1000 + len("…[truncated]".encode())
    assert _rows(g, "comment") == [("my [x] is out",)]


def test_the_content_cap_counts_utf8_bytes() -> None:
    budget = Budget(1000, None)
    kept = budget.text("😀" * 1000)  # 4,000 bytes
    assert budget.truncated
    assert len(kept.removesuffix("…[truncated]").encode()) == 1000


# -- 15: strict JSON on the endpoint --------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"token": "t", "name": "thumbs", "value": true, "comment": "\\ud800"}', "invalid_text"),
        (b'{"token": "t", "name": "thumbs", "value": true, "user_id": "\\udfff"}', "invalid_text"),
        (b'{"token": "t", "name": "rating", "value": 1' + b"0" * 400 + b"}", "invalid_number"),
        (b'{"token": "t", "name": "rating", "value": 1e400}', "invalid_number"),
        (b'{"token": "t", "name": "rating", "value": NaN}', "invalid_number"),
        (
            b'{"token": "t", "name": "x", "value": 1, "metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "too_deep",
        ),
        (b'{"token": "t", "name": "x", "value": 1, "metadata": ' + b"[" * 20 + b"]" * 20 + b"}", "too_deep"),
    ],
)
def test_hostile_json_is_400_with_a_reason(guard: Guard, body: bytes, code: str) -> None:
    response = _post(feedback_app(guard), content=body)
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": 2**1024}, "finite number"),
        ({"value": -(10**400)}, "finite number"),
        ({"value": True, "comment": "\ud800"}, "lone surrogate"),
        ({"value": True, "user_id": "\udfff"}, "lone surrogate"),
        ({"value": "bad\ud800"}, "lone surrogate"),
        ({"value": True, "metadata": {"a": 1}}, None),
    ],
)
def test_feedback_values_are_typed_or_stored(
    guard: Guard, kwargs: dict[str, Any], message: str | None
) -> None:
    answer = _answer(guard)
    errors = llmguard._feedback.sink_errors()  # process-wide counts
    if message is None:
        feedback(answer, "thumbs", guard=guard, **kwargs)
        assert len(_rows(guard)) == 1
        return
    with pytest.raises(FeedbackError, match=message):
        feedback(answer, "thumbs", guard=guard, **kwargs)
    assert llmguard._feedback.sink_errors() == errors


def test_deep_metadata_is_typed(guard: Guard) -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(FeedbackError, match="nested too deeply"):
        feedback(_answer(guard), "thumbs", True, metadata=deep, guard=guard)


# -- 16: only the canonical signature verifies ----------------------------------------------------
def test_only_the_canonical_base64_signature_verifies(guard: Guard) -> None:
    token = guard.feedback_token(_answer(guard))
    assert verify(token, [b"s"]).call_id
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    spare = [alphabet[last ^ bit] for bit in (1, 2, 3)]  # a 43-char SHA-256 signature has 2 spare bits
    for char in spare:
        with pytest.raises(FeedbackTokenError, match="malformed"):
            verify(token[:-1] + char, [b"s"])


# -- 18: unknown call ids and bare strings --------------------------------------------------------
def test_a_callref_to_no_call_raises_and_stores_nothing(guard: Guard) -> None:
    with pytest.raises(FeedbackError, match="names no call llmguard made"):
        feedback(CallRef(call_id="does-not-exist"), "thumbs", True, guard=guard)
    assert not guard.db_path.exists() or _rows(guard) == []


def test_a_bare_call_id_string_gets_a_clear_error(guard: Guard) -> None:
    call_id = call_ref(_answer(guard)).call_id
    with pytest.raises(FeedbackError, match=r"bare call id.*CallRef\(call_id="):
        feedback(call_id, "thumbs", True, guard=guard)
    feedback(CallRef(call_id=call_id), "thumbs", True, guard=guard)  # the stored-id route works
    assert _rows(guard) == [(call_id, "thumbs", "")]


def test_judge_reasons_and_explanations_pass_the_redact_hook() -> None:
    from llmguard.judging import InMemorySink, JudgeResult
    from llmguard.judging._telemetry import event_attributes

    def leaky(record: Any) -> JudgeResult:
        return JudgeResult.of("leaky", 0.0, reason=f"the answer quotes secret {record.output}")

    sink = InMemorySink()
    options = TelemetryOptions(redact=lambda text: text.replace("secret", "[x]"))
    g = Guard(pin_policy="off", judges=[leaky], sampling=1.0, judgment_sink=sink, telemetry=options)
    try:
        _answer(g, reply="secret sauce")
        assert g.flush(10)
    finally:
        g.close()
    (judgment,) = sink.judgments
    assert judgment.result is not None
    assert judgment.result.reason == "the answer quotes [x] [x] sauce"
    raw = replace(judgment, result=replace(judgment.result, reason="secret"))
    attrs = event_attributes(raw, capture_content=True, redact=options.redact)
    assert attrs["gen_ai.evaluation.explanation"] == "[x]"
