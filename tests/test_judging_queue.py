"""The background queue: never blocks, survives raising and hanging judges, exact accounting."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from llmguard import CallRecord, PromptRef, Usage
from llmguard.judging import InMemorySink, JudgeInput, JudgingQueue, JudgingStats, resolve_judge
from llmguard.judging import _queue as queue_module
from llmguard.testing import make_record


def record(n: int = 0, output: str | None = "an answer", **kwargs: Any) -> CallRecord:
    fields: dict[str, Any] = {
        "call_id": f"call-{n}",
        "service_name": "svc",
        "requested_model": "m",
        "request_model": "m",
        "response_model": "m",
        "response_id": f"resp-{n}",
        "usage": Usage(),
        "start_time_ns": 0,
        "duration_s": 0.0,
        "request": {"messages": [{"role": "user", "content": "q"}]},
        "output_text": output,
    }
    return make_record(**{**fields, **kwargs})


def balanced(stats: JudgingStats) -> bool:
    return stats.judged + stats.errored + stats.dropped + stats.pending == stats.sampled


class Gate:
    """A judge that blocks on an event until released."""

    name = "gate"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def __call__(self, item: JudgeInput) -> float:
        self.entered.set()
        self.release.wait(10)
        return 1.0


@pytest.fixture
def queues() -> Iterator[list[JudgingQueue]]:
    made: list[JudgingQueue] = []
    yield made
    for q in made:
        q.shutdown(5)


def make(queues: list[JudgingQueue], judges: list[Any], **kwargs: Any) -> tuple[JudgingQueue, InMemorySink]:
    sink = InMemorySink()
    q = JudgingQueue([resolve_judge(j) for j in judges], sinks=[sink], **kwargs)
    queues.append(q)
    return q, sink


def test_offer_never_waits_for_a_blocked_judge(queues: list[JudgingQueue]) -> None:
    gate = Gate()
    q, sink = make(queues, [gate], workers=1)
    assert q.offer(record(1))
    assert gate.entered.wait(5)
    assert q.offer(record(2))  # returns while the judge is still blocked
    assert not sink.judgments
    assert q.stats().pending == 2
    gate.release.set()
    assert q.flush(5)
    assert [j.call_id for j in sink.judgments] == ["call-1", "call-2"]


def test_full_queue_drops_and_counts(queues: list[JudgingQueue]) -> None:
    gate = Gate()
    drops: list[tuple[str, str]] = []
    q, sink = make(
        queues, [gate, "no_refusal"], workers=1, max_queue=2, on_drop=lambda r, c: drops.append((r, c))
    )
    q.offer(record(0))
    assert gate.entered.wait(5)  # call 0 is running, the queue is empty again
    results = [q.offer(record(i)) for i in range(1, 6)]
    assert results == [True, True, False, False, False]
    stats = q.stats()
    assert stats.dropped == 6
    assert stats.dropped_by_reason == {"queue_full": 6}
    assert drops == [("queue_full", "call-3"), ("queue_full", "call-4"), ("queue_full", "call-5")]
    assert stats.queued == 2
    assert balanced(stats)
    gate.release.set()
    assert q.flush(5)
    assert len(sink.judgments) == 6
    assert balanced(q.stats())


def test_queue_is_bounded_by_the_bytes_its_calls_hold(queues: list[JudgingQueue], caplog: Any) -> None:
    """20 KB prompts under a 50 KB cap: two wait, the third is dropped; bytes return to 0 when judged."""
    gate = Gate()
    q, sink = make(queues, [gate], workers=1, max_queue=100, max_queue_bytes=50_000)
    big = {"messages": [{"role": "user", "content": "x" * 20_000}]}
    q.offer(record(0, request=big))
    assert gate.entered.wait(5)  # call 0 is running, the queue is empty again
    with caplog.at_level("WARNING", logger="llmguard"):
        results = [q.offer(record(i, request=big)) for i in range(1, 4)]
    assert results == [True, True, False]
    stats = q.stats()
    assert stats.queued == 2
    assert 40_000 < stats.queued_bytes <= 50_000
    assert stats.dropped_by_reason == {"queue_full": 1}
    assert "max_queue_bytes" in caplog.text
    assert q.offer(record(9))  # a small call still fits
    gate.release.set()
    assert q.flush(5)
    assert q.stats().queued_bytes == 0
    assert sorted(j.call_id for j in sink.judgments) == ["call-0", "call-1", "call-2", "call-9"]
    assert balanced(q.stats())


def test_a_call_larger_than_the_byte_cap_is_taken_when_nothing_waits(queues: list[JudgingQueue]) -> None:
    q, sink = make(queues, ["no_refusal"], max_queue_bytes=1_000)
    assert q.offer(record(1, output="y" * 5_000))
    assert q.flush(5)
    assert [j.call_id for j in sink.judgments] == ["call-1"]


def test_content_bytes_counts_strings_in_memory_and_stops_past_the_limit() -> None:
    from llmguard._record import content_bytes

    ascii_body = {"messages": [{"role": "user", "content": "a" * 10_000}]}
    wide_body = {"messages": [{"role": "user", "content": "\U0001f600" * 10_000}]}  # 4 bytes a character
    assert 10_000 < content_bytes(record(request=ascii_body, output=None), 10**9) < 11_000
    assert 40_000 < content_bytes(record(request=wide_body, output=None), 10**9) < 41_000
    assert content_bytes(record(request={}, output="z" * 3_000), 10**9) > 3_000
    cyclic: dict[str, Any] = {}
    cyclic["self"] = [cyclic, "text"]
    assert content_bytes(record(request=cyclic, output=None), 10_000) > 10_000  # stops, does not loop


def test_raising_judge_is_an_errored_judgment(queues: list[JudgingQueue]) -> None:
    def boom(item: JudgeInput) -> float:
        raise RuntimeError("judge bug")

    q, sink = make(queues, [boom, "min_length"])
    q.offer(record(1))
    assert q.flush(5)
    by_judge = {j.judge: j for j in sink.judgments}
    assert by_judge["boom"].status == "error"
    assert by_judge["boom"].error_type == "RuntimeError"
    assert by_judge["boom"].result is None
    assert by_judge["min_length"].status == "ok"
    stats = q.stats()
    assert (stats.judged, stats.errored, stats.pending) == (1, 1, 0)


def test_hanging_judge_times_out_and_later_calls_are_judged(queues: list[JudgingQueue]) -> None:
    hang = threading.Event()

    def sometimes_hangs(item: JudgeInput) -> float:
        if item.call_id == "call-1":
            hang.wait(10)
        return 1.0

    q, sink = make(queues, [sometimes_hangs], workers=1, judge_timeout=0.5)
    for i in range(1, 4):
        q.offer(record(i))
    assert q.flush(5)
    statuses = {j.call_id: j.status for j in sink.judgments}
    assert statuses == {"call-1": "timeout", "call-2": "ok", "call-3": "ok"}
    stats = q.stats()
    assert (stats.judged, stats.errored, stats.abandoned) == (2, 1, 1)
    hang.set()


def test_accounting_is_exact_at_every_moment(queues: list[JudgingQueue]) -> None:
    def slowish(item: JudgeInput) -> float:
        time.sleep(0.0005)
        if int(str(item.call_id).rsplit("-", 1)[1]) % 3 == 0:
            raise ValueError("bad")
        return 0.5

    q, _ = make(queues, [slowish, "no_refusal"], workers=2, max_queue=20)
    stop = threading.Event()
    snapshots: list[JudgingStats] = []

    def watch() -> None:
        while not stop.is_set():
            snapshots.append(q.stats())

    watcher = threading.Thread(target=watch)
    watcher.start()
    producers = [
        threading.Thread(target=lambda k=k: [q.offer(record(k * 1000 + i)) for i in range(200)])
        for k in range(4)
    ]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    assert q.flush(10)
    stop.set()
    watcher.join()
    final = q.stats()
    assert final.sampled == 1600
    assert final.pending == 0
    assert final.errored > 0
    assert final.dropped > 0
    assert final.judged > 0
    assert len(snapshots) > 10
    assert all(balanced(s) for s in [*snapshots, final])


def test_shutdown_is_bounded_and_drops_the_rest(queues: list[JudgingQueue]) -> None:
    gate = Gate()
    q, sink = make(queues, [gate], workers=1, judge_timeout=5)
    for i in range(4):
        q.offer(record(i))
    assert gate.entered.wait(5)
    start = time.monotonic()
    q.shutdown(0.2)
    assert time.monotonic() - start < 2
    stats = q.stats()
    assert stats.dropped_by_reason == {"shutdown": 3}
    assert balanced(stats)
    assert not q.offer(record(9))
    assert q.stats().dropped_by_reason == {"shutdown": 3, "closed": 1}
    gate.release.set()
    assert q.flush(5)
    assert [j.call_id for j in sink.judgments] == ["call-0"]
    q.shutdown(1)  # idempotent


def test_atexit_flush_is_bounded(queues: list[JudgingQueue], monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate()
    q, _ = make(queues, [gate], workers=1)
    q.offer(record(1))
    monkeypatch.setattr(queue_module, "ATEXIT_TIMEOUT", 0.2)
    start = time.monotonic()
    queue_module._at_exit()
    assert time.monotonic() - start < 2
    gate.release.set()


def test_no_threads_until_the_first_offer(queues: list[JudgingQueue]) -> None:
    before = threading.active_count()
    make(queues, ["no_refusal"])
    assert threading.active_count() == before


def test_prompt_and_ids_reach_the_judgment(queues: list[JudgingQueue]) -> None:
    q, sink = make(queues, ["no_refusal"])
    prompt = PromptRef(name="support", version="3")
    q.offer(record(1, prompt=prompt, trace_id="ab" * 16, span_id="cd" * 8))
    assert q.flush(5)
    (judgment,) = sink.judgments
    assert (judgment.prompt_name, judgment.prompt_version) == ("support", "3")
    assert (judgment.trace_id, judgment.span_id, judgment.response_id) == ("ab" * 16, "cd" * 8, "resp-1")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_safe_after_fork(queues: list[JudgingQueue], tmp_path: Any) -> None:
    q, _ = make(queues, ["no_refusal"])
    q.offer(record(1))
    assert q.flush(5)
    marker = tmp_path / "child.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            fresh = q.stats()
            ok = q.offer(record(2)) and q.flush(5) and q.stats().judged == 1 and fresh.sampled == 0
            marker.write_text("ok" if ok else f"bad {q.stats()}")
            q.shutdown(1)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert marker.read_text() == "ok"
    assert q.stats().sampled == 1


def test_hung_judges_hold_a_bounded_number_of_threads(queues: list[JudgingQueue]) -> None:
    release = threading.Event()

    def hangs(item: JudgeInput) -> float:
        release.wait(30)
        return 1.0

    before = threading.active_count()
    dropped: list[str] = []
    q, sink = make(
        queues,
        [hangs],
        workers=2,
        judge_timeout=0.05,
        max_hung=3,
        on_drop=lambda reason, call_id: dropped.append(reason),
    )
    for n in range(40):
        assert q.offer(record(n))
    assert q.flush(20)  # every judgment ends: timed out, or dropped while the judges hang
    stats = q.stats()
    assert balanced(stats)
    assert stats.pending == 0
    timeouts = [j for j in sink.judgments if j.status == "timeout"]
    assert stats.errored == len(timeouts) <= 3 + 1  # max_hung, plus one more racing worker
    assert stats.dropped_by_reason == {"judge_hung": 40 - len(timeouts)}
    assert len(dropped) == 40 - len(timeouts)
    assert threading.active_count() - before <= 2 + 2 + 3  # workers + helpers (workers + max_hung), not 40
    release.set()
    for n in range(40, 42):  # once the hung judges return, new judgments run again
        q.offer(record(n))
    deadline = time.monotonic() + 10
    while q.stats().abandoned and time.monotonic() < deadline:
        time.sleep(0.01)
    assert q.offer(record(99))
    assert q.flush(10)
    assert sink.judgments[-1].call_id == "call-99"


def test_offers_after_shutdown_are_dropped_counted_and_said_once(
    queues: list[JudgingQueue], caplog: pytest.LogCaptureFixture
) -> None:
    q, sink = make(queues, ["no_refusal"])
    q.shutdown(1)
    with caplog.at_level("WARNING", logger="llmguard"):
        assert not q.offer(record(1))
        assert not q.offer(record(2))
    assert q.stats().dropped_by_reason == {"closed": 2}
    assert sink.judgments == []
    warned = [r.getMessage() for r in caplog.records if "after its guard was closed" in r.getMessage()]
    assert len(warned) == 1


class SlowSink:
    """A sink whose first write blocks until released; it keeps every batch it was given."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[str]] = []

    def write(self, judgments: Any) -> None:
        self.entered.set()
        self.release.wait(10)
        self.batches.append([j.call_id for j in judgments])

    def close(self) -> None:
        pass


def test_a_slow_store_gets_the_backlog_in_batches(queues: list[JudgingQueue]) -> None:
    sink = SlowSink()
    q = JudgingQueue([resolve_judge(lambda item: 1.0)], sinks=[sink], workers=1)
    queues.append(q)
    assert q.offer(record(0))
    assert sink.entered.wait(5)  # the first judgment's write is stuck
    for n in range(1, 251):
        assert q.offer(record(n))
    stats = q.stats()
    assert balanced(stats)
    assert stats.pending == 251
    sink.release.set()
    assert q.flush(10)
    stored = [call_id for batch in sink.batches for call_id in batch]
    assert stored == [f"call-{n}" for n in range(251)]  # every judgment, once, in order
    assert len(sink.batches) <= 1 + 3  # the first, then the 250 waiting in batches of 100 at most
    assert max(len(batch) for batch in sink.batches) <= queue_module.WRITE_BATCH
    stats = q.stats()
    assert (stats.judged, stats.pending, stats.unsaved) == (251, 0, 0)
    assert balanced(stats)


def test_an_idle_queue_writes_each_judgment_at_once(queues: list[JudgingQueue]) -> None:
    q, sink = make(queues, [lambda item: 1.0], workers=1)
    for n in range(3):
        assert q.offer(record(n))
        assert q.flush(5)  # nothing waits behind it: written without waiting for a batch
        assert len(sink.judgments) == n + 1


def test_built_in_scanning_judges_run_on_the_worker_without_a_helper_thread(
    queues: list[JudgingQueue],
) -> None:
    """Each hand-off to a helper waits twice for the GIL; behind a busy caller thread that can take a second."""
    from llmguard.judging._rules import NoRefusal

    class Quoting(NoRefusal):  # a subclass may judge differently: it keeps the helper and its timeout
        name = "quoting"

    broken = NoRefusal(phrases=[None], name="broken")  # type: ignore[list-item]  # .lower() raises on the worker
    q, sink = make(queues, ["no_refusal", "min_length", "contains_keywords", broken], workers=1)
    before = {t.ident for t in threading.enumerate()}
    for n in range(5):
        assert q.offer(record(n, output="I'm unable to help" if n == 2 else "an answer"))
    assert q.flush(5)
    assert not q._runners  # no helper thread was started
    assert [t.name for t in threading.enumerate() if t.ident not in before] == ["llmguard-judging-0"]
    by_judge = {(j.call_id, j.judge): j for j in sink.judgments}
    scores = {
        call: (j.result.score if j.result else None)
        for (call, judge), j in by_judge.items()
        if judge == "no_refusal"
    }
    assert scores == {"call-0": 1.0, "call-1": 1.0, "call-2": 0.0, "call-3": 1.0, "call-4": 1.0}
    errored = [j for j in sink.judgments if j.status == "error"]
    assert len(errored) == 5
    assert {(j.judge, j.error_type) for j in errored} == {("broken", "AttributeError")}
    assert balanced(q.stats())
    assert q.stats().errored == 5

    q2, sink2 = make(queues, [Quoting()], workers=1)
    assert q2.offer(record(9))
    assert q2.flush(5)
    assert len(q2._runners) == 1
    assert sink2.judgments[0].status == "ok"
