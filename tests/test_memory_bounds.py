"""Memory bounded by configuration, not by traffic: the per-call index stays at its cap.

(The RSS figure itself is a benchmark, ``benchmarks/memory.py``; these are the deterministic
properties behind it.)
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

import llmguard
from llmguard import Guard, _refs
from llmguard._feedback import call_ref
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
CAP = 25


@pytest.fixture
def small_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_refs, "MAX_RESPONSE_IDS", CAP)
    monkeypatch.setattr(_refs, "_index", None)  # a new index with that cap, made on the first call


def test_the_response_id_index_stays_at_its_cap_and_holds_no_content(small_index: None) -> None:
    prompt_size = 20_000
    refs: list[Any] = []
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=Guard(pin_policy="off")) as client:
        for i in range(3 * CAP):
            content = f"{i}:" + "x" * prompt_size
            response = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": content}]
            )
            refs.append(call_ref(response))
            del response, content
    gc.collect()
    kept = [ref.response_id for ref in refs[-CAP:]]
    assert _refs._indexed() == kept  # the newest CAP, oldest dropped first
    for ref in refs[:-CAP]:
        assert _refs.by_response_id(ref.response_id) is None
        assert not _refs.knows_call_id(ref.call_id)
    for ref in refs[-CAP:]:
        known = _refs.by_response_id(ref.response_id)
        assert known is not None
        assert (known.call_id, known.response_id, known.model) == (ref.call_id, ref.response_id, ref.model)
        assert _refs.knows_call_id(ref.call_id)
    index = _refs._index
    assert index is not None
    assert (len(index.rids), len(index.contexts), len(index.ids)) == (CAP, CAP, 40 * CAP)
    for context in index.contexts:
        held = gc.get_referents(context)
        assert all(not (isinstance(obj, str) and len(obj) >= prompt_size) for obj in held)
        assert all(not isinstance(obj, dict | list) for obj in held)  # no request body, no messages
    assert all(rid is not None and len(rid) < 100 for rid in index.rids)


def test_index_entries_of_one_model_share_its_name(small_index: None) -> None:
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=Guard(pin_policy="off")) as client:
        for _ in range(5):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    models = [_refs.by_response_id(rid).model for rid in _refs._indexed()]  # type: ignore[union-attr]
    assert len(models) == 5
    assert len({id(model) for model in models}) == 1


def test_per_model_caches_stay_at_their_caps_under_distinct_model_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmguard import _pin_policy, _pricing
    from llmguard._pin_policy import PinPolicy
    from llmguard._pricing import PriceTable
    from llmguard._record import Usage

    monkeypatch.setattr(_pin_policy, "_MAX_DECISIONS", CAP)
    monkeypatch.setattr(_pricing, "_MAX_ENTRIES", CAP)
    policy = PinPolicy("warn", {})
    prices = PriceTable()
    usage = Usage(input_tokens=10, output_tokens=5)
    for i in range(4 * CAP):  # every call a model name never seen before
        name = f"custom-model-{i}"
        policy.decide(name, "openai")
        assert prices("openai", name, usage) is None
    assert len(policy._decisions) == CAP
    assert len(prices._entries) == CAP


def test_a_queued_ledger_row_holds_no_request_body(tmp_path: Any) -> None:
    from llmguard.cost._state import state_for

    guard = Guard(
        db=tmp_path / "ledger.db", pin_policy="off", ledger=True, budgets={"flush_interval_s": 3600}
    )
    content = "q" * 20_000
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(3):  # the writer sleeps: the rows stay queued
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
    state = state_for(guard)
    assert state is not None
    assert state.writer is not None
    queued = list(state.writer._queue)
    assert len(queued) == 3

    def reachable(obj: object, depth: int) -> list[object]:
        found = [obj]
        if depth:
            for child in gc.get_referents(obj):
                found += reachable(child, depth - 1)
        return found

    held = [obj for item in queued for obj in reachable(item, 3)]
    assert content not in [obj for obj in held if isinstance(obj, str)]
    assert not [obj for obj in held if isinstance(obj, dict) and "messages" in obj]
    assert guard.flush(10)
    guard.close()
