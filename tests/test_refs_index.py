"""The response-id index stores ids packed and gives them back exactly as the call had them."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

import llmguard
from llmguard import _refs
from llmguard._feedback import call_ref
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"


@pytest.fixture(autouse=True)
def empty_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_refs, "_by_response", {})
    monkeypatch.setattr(_refs, "_order", deque())


def _call(call_id: str, trace_id: str | None, span_id: str | None, scope: Any = None) -> Any:
    """A call whose id (made from its start and number, as `CallContext.call_id` makes it) is ``call_id``."""
    value = int(call_id, 16)
    return SimpleNamespace(
        call_id=call_id,
        start_ns=(value >> 80) * 1_000_000,
        _number=value & ((1 << 80) - 1),
        trace_id=trace_id,
        span_id=span_id,
        scope=scope,
        prompt=None,
        runtime="rt",
    )


hex_id = st.integers(min_value=0, max_value=2**128 - 1).map(lambda n: format(n, "032x"))


@given(call_id=hex_id, trace=hex_id, span=st.integers(0, 2**64 - 1).map(lambda n: format(n, "016x")))
def test_hex_ids_come_back_unchanged(call_id: str, trace: str, span: str) -> None:
    _refs.remember_response_id("r", _call(call_id, trace, span), "m")
    known = _refs.by_response_id("r")
    assert known is not None
    assert (known.call_id, known.trace_id, known.span_id) == (call_id, trace, span)
    assert isinstance(_refs._by_response["r"][0], bytes)


@pytest.mark.parametrize(
    ("call_id", "trace_id", "span_id"),
    [
        ("0" * 32, None, None),  # telemetry off
        ("0" * 32, "ABC", None),  # not ids telemetry makes: kept as strings
        ("0" * 32, "0" * 16, "0" * 32),
        ("0" * 32, "0" * 34, "0" * 14),
        ("f" * 31 + "e", "", None),
    ],
)
def test_other_ids_come_back_unchanged(call_id: str, trace_id: str | None, span_id: str | None) -> None:
    scope = SimpleNamespace(user_id="u1", session_id="s1")
    _refs.remember_response_id("r", _call(call_id, trace_id, span_id, scope), "m")
    known = _refs.by_response_id("r")
    assert known is not None
    assert (known.call_id, known.trace_id, known.span_id) == (call_id, trace_id, span_id)
    assert (known.response_id, known.model, known.runtime) == ("r", "m", "rt")  # type: ignore[comparison-overlap]
    assert (known.user_id, known.session_id) == ("u1", "s1")
    assert _refs.knows_call_id(call_id)
    assert not _refs.knows_call_id("f" * 32)


def test_a_response_id_seen_again_keeps_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_refs, "MAX_RESPONSE_IDS", 3)
    for rid, call_id in [("a", "1" * 32), ("b", "2" * 32), ("a", "3" * 32), ("c", "4" * 32), ("d", "5" * 32)]:
        _refs.remember_response_id(rid, _call(call_id, None, None), "m")
    assert list(_refs._by_response) == ["b", "c", "d"]
    assert list(_refs._order) == ["b", "c", "d"]
    assert _refs.by_response_id("a") is None


def test_traced_call_is_found_by_response_id_with_its_span_ids(provider: TracerProvider) -> None:
    guard = llmguard.Guard(pin_policy="off", tracer_provider=provider)
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=guard) as client:
        resp = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    live = call_ref(resp)
    known = _refs.by_response_id(resp.id)
    assert known is not None
    assert live.trace_id is not None
    assert live.span_id is not None
    assert (known.call_id, known.trace_id, known.span_id, known.model) == (
        live.call_id,
        live.trace_id,
        live.span_id,
        live.model,
    )
    assert isinstance(_refs._by_response[resp.id][0], bytes)
