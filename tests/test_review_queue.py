"""The review queue: routing rules, the router on real calls, labels stored as feedback, sync."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import llmguard
from llmguard import FeedbackError, Guard
from llmguard._feedback import close_sinks
from llmguard.judging import InMemorySink, JudgeInput
from llmguard.review import ReviewRouter, ReviewStore, Routing, record_label
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"


def redact(text: str) -> str:
    return re.sub(r"[\w.]+@[\w.]+", "[email]", text)


def low_if_short(item: JudgeInput) -> float:
    return 0.9 if "long" in item.input_text else 0.1


@pytest.fixture
def guards() -> Iterator[list[Guard]]:
    made: list[Guard] = []
    yield made
    for g in made:
        g.close(5)
        close_sinks(g)


def ask(client: Any, text: str) -> Any:
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])


@given(st.text(min_size=1, max_size=40), st.floats(0, 1), st.floats(0, 1))
def test_random_routing_is_deterministic_and_nested(call_id: str, low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    a, b = Routing(rate=low), Routing(rate=high)
    assert a.on_call(call_id) == Routing(rate=low).on_call(call_id)
    if a.on_call(call_id) is not None:
        assert b.on_call(call_id) == "random"


def test_routing_rules() -> None:
    routing = Routing(
        rate=0.0, prompts={"faq": 1.0}, tags={"vip": 1.0}, call_ids={"abc"}, judge_threshold=0.4
    )
    assert routing.on_call("abc") == "explicit"
    assert routing.on_call("x", prompt="faq") == "random"
    assert routing.on_call("x", tags=("vip",)) == "random"
    assert routing.on_call("x", prompt="other", tags=("plain",)) is None
    assert routing.on_judgment(0.3, True) == "judge"
    assert routing.on_judgment(0.9, False) == "judge"
    assert routing.on_judgment(0.9, True) is None
    assert Routing(call_ids="abc").call_ids == frozenset({"abc"})
    assert Routing(failed_checks=False, judge_threshold=None).on_judgment(0.0, False) is None
    with pytest.raises(llmguard.ConfigurationError, match="unknown key 'rat'"):
        Routing.coerce({"rat": 1})
    with pytest.raises(llmguard.ConfigurationError, match="'vip'"):
        Routing(tags={"vip": 2})


class _HoldsOnEnd:
    """An observer whose ``on_end`` waits until a judgment was stored: the router's runs after it."""

    def __init__(self) -> None:
        self.stored = threading.Event()

    def on_start(self, call: Any) -> None:
        pass

    def on_end(self, call: Any, record: Any) -> None:
        self.stored.wait(10)


class _Signals(InMemorySink):
    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def write(self, judgments: Any) -> None:
        super().write(judgments)
        self.event.set()


def test_a_judgment_that_comes_before_the_call_is_held_still_routes_it(
    tmp_path: Path, guards: list[Guard]
) -> None:
    router = ReviewRouter(routing={"judge_threshold": 0.5})
    waiter = _HoldsOnEnd()
    guard = Guard(
        db_path=tmp_path / "r.db", pin_policy="off", capture_content=True, observers=[waiter, router],
        judges=[low_if_short], sampling={"rate": 1.0}, judgment_sink=router.judgment_sink(_Signals(waiter.stored)),
    )  # fmt: skip
    guards.append(guard)
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=guard) as client:
        short = ask(client, "short one")
        waiter.stored.clear()
        long = ask(client, "a long question")
    assert guard.flush(10)
    assert router.flush(10)
    store = router.store()
    assert store is not None
    assert set(store.queued()) == {llmguard.call_ref(short).call_id}
    assert llmguard.call_ref(long).call_id not in router._held  # judged, passed: not held for ever


def test_router_queues_tagged_and_low_judged_calls_with_redacted_content(
    tmp_path: Path, guards: list[Guard]
) -> None:
    router = ReviewRouter(routing={"tags": {"vip": 1.0}, "judge_threshold": 0.5})
    sink = InMemorySink()
    guard = Guard(
        db_path=tmp_path / "r.db", pin_policy="off", capture_content=True, telemetry={"redact": redact},
        observers=[router], judges=[low_if_short], sampling={"rate": 1.0}, judgment_sink=router.judgment_sink(sink),
    )  # fmt: skip
    guards.append(guard)
    with FakeOpenAI(reply="write to bob@example.com").client(llmguard.OpenAI, guard=guard) as client:
        with llmguard.context(tags=["vip"]):
            vip = ask(client, "hello, I am ann@example.com")
        short = ask(client, "short one")
        long = ask(client, "a long question")
    assert guard.flush(10)
    assert router.flush(10)
    store = router.store()
    assert store is not None
    queued = set(store.queued())
    vip_id, short_id, long_id = (llmguard.call_ref(r).call_id for r in (vip, short, long))
    assert queued == {vip_id, short_id}
    item = store.item(vip_id)
    assert item is not None
    assert item.reason == "random"
    assert item.tags == ("vip",)
    assert "ann@example.com" not in json.dumps(item.content)
    assert "[email]" in json.dumps(item.content["input"])
    assert item.content["output"] == "write to [email]"
    low = store.item(short_id)
    assert low is not None
    assert low.reason == "judge"
    assert long_id not in queued
    assert router._held == {}  # judged calls are released whether routed or not


def test_no_content_capture_means_nothing_is_queued(tmp_path: Path, guards: list[Guard]) -> None:
    router = ReviewRouter(routing=1.0)
    guard = Guard(db_path=tmp_path / "r.db", pin_policy="off", observers=[router])
    guards.append(guard)
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        ask(client, "hi")
    assert router.flush(10)
    assert (router.routed, router.written, router.without_content) == (1, 0, 1)
    store = router.store()
    assert store is not None
    assert store.queued() == []


def _labelled_store(tmp_path: Path, guards: list[Guard], n: int = 3) -> tuple[Guard, ReviewStore, list[str]]:
    router = ReviewRouter(routing=1.0)
    guard = Guard(db_path=tmp_path / "r.db", pin_policy="off", capture_content=True, observers=[router])
    guards.append(guard)
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        for i in range(n):
            ask(client, f"question {i}")
    assert router.flush(10)
    store = ReviewStore(guard.db_path)
    return guard, store, store.queued()


def test_one_label_per_call_and_reviewer_stored_as_feedback(tmp_path: Path, guards: list[Guard]) -> None:
    guard, store, ids = _labelled_store(tmp_path, guards)
    assert len(ids) == 3
    first = store.next_item("ann")
    assert first is not None
    assert first.call_id == ids[0]
    record_label(guard, store, ids[0], "ann", False, score=1, comment="mail me at x@y.z")
    record_label(guard, store, ids[0], "ann", True, score=4, corrected="better answer")
    record_label(guard, store, ids[0], "bob", True)
    nxt = store.next_item("ann")
    assert nxt is not None
    assert nxt.call_id == ids[1]
    rows = (
        sqlite3.connect(guard.db_path)
        .execute(
            "SELECT call_id, user_id, source, label, metadata, revisions FROM llmguard_feedback ORDER BY id"
        )
        .fetchall()
    )
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == [
        (ids[0], "ann", "review", "true", 2),
        (ids[0], "bob", "review", "true", 1),
    ]
    assert json.loads(rows[0][4])["corrected"] == "better answer"
    stats = store.stats("ann")
    assert stats["queued"] == 3
    assert stats["labelled"] == 1
    assert stats["multi_reviewed"] == 1
    assert stats["by_reviewer"] == {"ann": 1, "bob": 1}
    assert stats["pending_for_reviewer"] == 2


@pytest.mark.parametrize(
    ("call_id", "reviewer", "passed", "score", "message"),
    [
        ("0" * 32, "ann", True, None, "not in the review queue"),
        (None, "x" * 300, True, None, "reviewer"),
        (None, " ", True, None, "reviewer"),
        (None, "ann", "yes", None, "passed='yes'"),
        (None, "ann", True, float("nan"), "not a finite number"),
        (None, "ann", True, 10**400, "not a finite number"),
        (None, "ann\ud800", True, None, "not valid Unicode"),
    ],
)
def test_bad_labels_are_clear_errors(
    tmp_path: Path,
    guards: list[Guard],
    call_id: str | None,
    reviewer: str,
    passed: Any,
    score: Any,
    message: str,
) -> None:
    guard, store, ids = _labelled_store(tmp_path, guards, n=1)
    with pytest.raises(FeedbackError, match=re.escape(message)):
        record_label(guard, store, call_id or ids[0], reviewer, passed, score=score)


def test_a_lone_surrogate_in_a_corrected_answer_is_refused(tmp_path: Path, guards: list[Guard]) -> None:
    guard, store, ids = _labelled_store(tmp_path, guards, n=1)
    with pytest.raises(FeedbackError, match="feedback corrected answer is not valid Unicode"):
        record_label(guard, store, ids[0], "ann", True, corrected="ok\udc00")


def test_sync_queues_negative_feedback_with_retained_content(tmp_path: Path, guards: list[Guard]) -> None:
    guard = Guard(
        db_path=tmp_path / "r.db", pin_policy="off", capture_content=True, sampling={"retain_unsampled": 10}
    )
    guards.append(guard)
    with FakeOpenAI(reply="nope").client(llmguard.OpenAI, guard=guard) as client:
        bad, good = ask(client, "help"), ask(client, "thanks")
    llmguard.feedback(bad, "thumbs", False, guard=guard)
    llmguard.feedback(good, "thumbs", True, guard=guard)
    store = ReviewStore(f"sqlite:///{guard.db_path}")
    assert store.sync() == 1
    assert store.sync() == 0
    item = store.item(llmguard.call_ref(bad).call_id)
    assert item is not None
    assert item.reason == "negative_feedback"
    assert item.content["output"] == "nope"
    assert item.feedback[0]["value"] is False


def test_an_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "not.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(llmguard.ConfigurationError, match=r"review store .*cannot open it"):
        ReviewStore(bad)


def test_concurrent_enqueues_keep_one_row_per_call(db_url: str) -> None:
    import threading

    stores = [ReviewStore(db_url) for _ in range(4)]
    ids = [f"{i:032x}" for i in range(50)]
    added: list[int] = []

    def work(store: ReviewStore) -> None:
        rows = [
            {"call_id": c, "reason": "random", "enqueued_ns": 1, "tags": "[]", "content": "{}"} for c in ids
        ]
        added.append(store.enqueue_rows(rows))

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(added) == 50
    assert len(stores[0].queued()) == 50


def test_a_label_also_emits_an_otel_evaluation_event(tmp_path: Path) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    guard = Guard(db_path=tmp_path / "o.db", pin_policy="off", logger_provider=provider)
    store = ReviewStore(guard.db_path)
    store.enqueue("a" * 32, "explicit", {"input": {}, "output": "x"})
    record_label(guard, store, "a" * 32, "ann", False, comment="secret words")
    (item,) = exporter.get_finished_logs()
    provider.shutdown()
    attrs = dict(item.log_record.attributes or {})
    assert attrs["gen_ai.evaluation.name"] == "user_feedback.review"
    assert attrs["gen_ai.evaluation.score.value"] == 0.0
    assert "gen_ai.evaluation.explanation" not in attrs  # content capture is off


def test_labels_go_to_a_custom_feedback_sink(tmp_path: Path) -> None:
    from llmguard import FeedbackEntry

    received: list[FeedbackEntry] = []
    guard = Guard(db_path=tmp_path / "s.db", pin_policy="off", feedback_sink=received.append)
    store = ReviewStore(guard.db_path)
    store.enqueue("b" * 32, "explicit", {"input": {}, "output": "x"})
    record_label(guard, store, "b" * 32, "ann", True, score=4.5)
    assert [(e.source, e.user_id, e.name, e.metadata["score"]) for e in received] == [
        ("review", "ann", "review", 4.5)
    ]

    def broken(entry: FeedbackEntry) -> None:
        raise OSError("disk full")

    failing = Guard(db_path=tmp_path / "s.db", pin_policy="off", feedback_sink=broken)
    with pytest.raises(FeedbackError, match="was not stored: disk full"):
        record_label(failing, store, "b" * 32, "ann", True)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_routing_keeps_working_in_a_forked_child(tmp_path: Path, guards: list[Guard]) -> None:
    import os
    import warnings

    router = ReviewRouter(routing=1.0)
    guard = Guard(db_path=tmp_path / "f.db", pin_policy="off", capture_content=True, observers=[router])
    guards.append(guard)
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        ask(client, "before the fork")
    assert router.flush(10)
    marker = tmp_path / "child.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            with fake.client(llmguard.OpenAI, guard=guard) as child:
                ask(child, "in the child")
            store = router.store()
            ok = router.flush(10) and store is not None and len(store.queued()) == 2
            marker.write_text("ok" if ok else f"bad {router.written} {store and store.queued()}")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert marker.read_text() == "ok"
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        ask(client, "after the fork")
    assert router.flush(10)
    store = router.store()
    assert store is not None
    assert len(store.queued()) == 3
