"""The response-id index stores ids packed and gives them back exactly as the call had them."""

from __future__ import annotations

import os
import threading
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
    monkeypatch.setattr(_refs, "_index", None)  # a new index, made on the first call


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
    assert _refs._index is not None
    assert _refs._index.contexts[0][5] == 40  # type: ignore[index]  # packed in the ring, not kept as strings


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
    assert _refs._indexed() == ["b", "c", "d"]
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
    assert _refs._index is not None
    assert _refs._index.contexts[0][5] == 40  # type: ignore[index]


class _Colliding(str):
    """A response id whose hash is chosen: ids that collide probe the same cells of the index's dict."""

    bucket: int

    def __new__(cls, text: str, bucket: int) -> _Colliding:
        self = super().__new__(cls, text)
        self.bucket = bucket
        return self

    def __hash__(self) -> int:
        return self.bucket

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)


@given(
    cap=st.integers(1, 6),
    buckets=st.lists(st.integers(-3, 3), min_size=12, max_size=12),
    ops=st.lists(st.integers(0, 11), max_size=60),
)
def test_the_index_matches_a_bounded_ordered_map(cap: int, buckets: list[int], ops: list[int]) -> None:
    """Any sequence of ids (new, seen again, colliding hashes; slot numbers small enough to be shared
    int objects) gives what an ordered map gives."""
    index = _refs._index = _refs._Index(cap)
    rids = [_Colliding(f"resp-{key}", bucket) for key, bucket in enumerate(buckets)]
    model: dict[str, str] = {}  # response id -> call id, oldest first
    for n, key in enumerate(ops):
        rid = rids[key]
        call_id = format(n + 1, "032x")
        _refs.remember_response_id(rid, _call(call_id, None, None), "m")
        if rid in model:
            model[rid] = call_id  # seen again: the newest call, at the old place
        else:
            model[rid] = call_id
            if len(model) > cap:
                del model[next(iter(model))]
        assert _refs._indexed() == list(model)
        for other in rids:
            known = _refs.by_response_id(other)
            assert (known.call_id if known else None) == model.get(other)
    assert index.slots == {rid: index.rids.index(rid) for rid in model}  # no stale keys left behind
    for call_id in model.values():
        assert _refs.knows_call_id(call_id)


def test_ids_of_every_shape_share_the_ring_and_leave_it_with_their_slot() -> None:
    _refs._index = _refs._Index(2)
    _refs.remember_response_id("odd", _call("1" * 32, "ABC", None), "m")  # kept as strings
    _refs.remember_response_id("traced", _call("2" * 32, "3" * 32, "4" * 16), "m")
    assert _refs._index.contexts[0][5] == ("1" * 32, "ABC", None)  # type: ignore[index]
    _refs.remember_response_id("plain", _call("5" * 32, None, None), "m")  # takes the odd one's slot
    assert _refs._index.contexts[0][5] == 16  # type: ignore[index]
    assert _refs.by_response_id("odd") is None
    assert not _refs.knows_call_id("1" * 32)
    known = _refs.by_response_id("plain")
    assert known is not None
    assert (known.call_id, known.trace_id, known.span_id) == ("5" * 32, None, None)


def test_consecutive_calls_alike_share_one_context() -> None:
    for i in range(3):
        _refs.remember_response_id(f"r{i}", _call(format(i + 1, "032x"), None, None), "m")
    _refs.remember_response_id(
        "u", _call("f" * 32, None, None, SimpleNamespace(user_id="u1", session_id=None)), "m"
    )
    assert _refs._index is not None
    contexts = _refs._index.contexts
    assert contexts[0] is contexts[1] is contexts[2]
    assert contexts[3] is not contexts[2]
    assert _refs.by_response_id("u").user_id == "u1"  # type: ignore[union-attr]
    assert _refs.by_response_id("r2").user_id is None  # type: ignore[union-attr]


def test_threads_indexing_at_once_leave_a_consistent_index() -> None:
    cap = 500
    _refs._index = _refs._Index(cap)
    barrier = threading.Barrier(4)

    def index(worker: int) -> None:
        barrier.wait()
        for i in range(400):  # 1,600 ids through a ring of 500: every slot is overwritten
            _refs.remember_response_id(
                f"w{worker}-{i}", _call(format(worker << 16 | i, "032x"), None, None), "m"
            )

    threads = [threading.Thread(target=index, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = _refs._indexed()
    assert len(kept) == len(set(kept)) == cap
    assert len(_refs._index.slots) == cap
    for rid in kept:
        worker, i = (int(part) for part in rid[1:].split("-"))
        known = _refs.by_response_id(rid)
        assert known is not None
        assert known.call_id == format(worker << 16 | i, "032x")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_indexes_and_finds_while_a_parent_thread_held_the_lock() -> None:
    _refs.remember_response_id("before", _call("1" * 32, None, None), "m")
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with _refs._lock:
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's result is its exit code
        ok = _refs.by_response_id("before") is not None
        _refs.remember_response_id("child", _call("2" * 32, None, None), "m")
        ok = ok and _refs.by_response_id("child") is not None and _refs.knows_call_id("2" * 32)
        os._exit(0 if ok else 1)
    release.set()
    thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _refs.by_response_id("child") is None  # the child's index is its own
