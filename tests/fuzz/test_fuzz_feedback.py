"""Fuzz: ``feedback()`` arguments and the browser endpoint's request bodies.

``feedback()`` either stores a row (checked in the database) or raises a typed error; the
endpoint answers every body with a 2xx or a 4xx carrying a reason, never a 500 or an exception.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fuzz_support import STATS, fuzz, typed
from hypothesis import given
from hypothesis import strategies as st

import llmguard
from llmguard import Guard
from llmguard._feedback import close_sinks, feedback, feedback_app, sink_errors
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
texts = st.text(max_size=40) | st.sampled_from(["\ud800", "a\udfffb", "", " ", "x" * 5000, "bad", "thumbs"])
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**1000, max_value=2**1100),
    st.floats(),
    st.sampled_from([10**400, -(10**400), 2**1024, float("inf"), float("nan"), True, False]),
)
leaves = st.none() | st.booleans() | numbers | texts
json_like = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


metadata = st.one_of(st.none(), json_like, st.integers(1, 6000).map(_deep), st.just(object()))
names = st.sampled_from(["thumbs", "rating", "category"]) | texts
values = st.one_of(
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["bad", "good"]),
    numbers,
    texts,
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Guard, Any]]:
    db = tmp_path_factory.mktemp("fuzz-feedback") / "fb.db"
    guard = Guard(db_path=db, pin_policy="off", feedback_secret="s")
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    yield guard, answer
    close_sinks(guard)


def _count(guard: Guard) -> int:
    if not guard.db_path.exists():
        return 0
    conn = sqlite3.connect(guard.db_path)
    try:
        (total,) = conn.execute("SELECT COALESCE(SUM(revisions), 0) FROM llmguard_feedback").fetchone()
        return int(total)
    finally:
        conn.close()


@fuzz(250)
@given(
    name=names,
    value=values,
    comment=st.none() | texts,
    user_id=st.none() | texts,
    meta=metadata,
)
def test_feedback_values(
    setup: tuple[Guard, Any], name: str, value: Any, comment: Any, user_id: Any, meta: Any
) -> None:
    guard, answer = setup
    before, errors = _count(guard), sink_errors()
    entry = typed(
        "feedback values",
        lambda: feedback(answer, name, value, comment=comment, user_id=user_id, metadata=meta, guard=guard),
    )
    if entry is not None:  # accepted means stored: one more revision, no sink failure
        assert _count(guard) == before + 1
        assert sink_errors() == errors


tokens = st.sampled_from(["VALID", "VALID", "VALID", "lgf1.x.y", "", "lgf1." + "A" * 3000]) | st.text(
    max_size=30
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {"token": tokens, "name": names, "value": values | json_like},
        optional={"comment": texts | json_like, "user_id": texts | json_like, "metadata": json_like},
    ).map(lambda d: json.dumps(d, allow_nan=True).encode("utf-8", "surrogatepass")),
    st.binary(max_size=200),
    st.integers(1, 6000).map(
        lambda n: b'{"token": "VALID", "name": "x", "value": 1, "metadata": ' + b"[" * n
    ),
    st.sampled_from([b"[]", b"null", b'{"token": 1, "name": "x", "value": 1}', b"1" * 500]),
)
STATUSES = {200, 400, 403, 413, 422, 429}


@fuzz(250)
@given(body=bodies, content_type=st.sampled_from(["application/json", "text/plain", "application/json; x"]))
def test_endpoint_bodies(setup: tuple[Guard, Any], body: bytes, content_type: str) -> None:
    guard, answer = setup
    token = guard.feedback_token(answer)
    body = body.replace(b"VALID", token.encode())
    app = feedback_app(guard, token_limit=None, client_limit=None)

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://feedback.local") as http:
            return await http.post("/", content=body, headers={"content-type": content_type})

    response = asyncio.run(post())  # an exception escaping the app fails the test here
    assert response.status_code in STATUSES | {415}
    if response.status_code != 200:
        assert response.json()["detail"]
    STATS["asgi endpoint", str(response.status_code)] += 1
