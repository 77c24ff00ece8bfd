"""The bounded judging queue and its background workers.

The caller's thread only ever runs `JudgingQueue.offer`: a counter check under a lock and a
``put`` on an unbounded C queue, so it never blocks on judges. The bound is enforced by counting:
past ``max_queue`` waiting calls, or ``max_queue_bytes`` of their content (`content_bytes`), a new
sample is dropped, counted by reason and reported to ``on_drop``. A call is always taken when
nothing waits, so a single call larger than ``max_queue_bytes`` is still judged. Worker threads
(daemons) take calls and run each judge on a helper thread; a judge that overruns
``judge_timeout`` is abandoned (its judgment is recorded as ``timeout``, its helper
thread is left to finish alone) so later calls are still judged. The built-in rule judges that
only scan the output (`INLINE_JUDGES`) run on the worker itself: no hand-off, no timeout.

Threads are bounded: ``workers`` worker threads and at most ``workers + max_hung * len(judges)``
helper threads, abandoned ones included. A judge with ``max_hung`` abandoned threads still running
is not started again: its judgments are dropped and counted (reason ``judge_hung``) until one of
them returns, while the other judges keep running. A judge that never returns costs about
``max_hung`` threads, not one thread per timeout.

Accounting is in judgments, i.e. (call, judge) pairs, and is exact at every moment:
``judged + errored + dropped + pending == sampled`` (all updated under one lock).
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmguard._db import WRITE_ERRORS
from llmguard._internal import advise_once, handle_internal_errors
from llmguard._record import CallRecord, content_bytes

from ._rules import INLINE_JUDGES
from ._sinks import JudgmentSink
from ._telemetry import JudgingTelemetry
from ._types import Judge, JudgeInput, Judgment, JudgmentStatus

__all__ = ["ATEXIT_TIMEOUT", "WRITE_BATCH", "JudgingQueue", "JudgingStats", "judge_input"]

WRITE_BATCH = 100
"""Judgments a worker writes at most in one sink call (one transaction), when calls are waiting."""

ATEXIT_TIMEOUT = 2.0
"""Seconds the interpreter waits at exit for pending judgments (all queues together)."""

_STOP = object()


@dataclass(frozen=True, kw_only=True, slots=True)
class JudgingStats:
    """A consistent snapshot of a queue's counters (judgments = (call, judge) pairs).

    Attributes:
        sampled: Judgments requested (sampled calls x judges).
        judged: Judgments completed with a result.
        errored: Judgments whose judge raised or timed out.
        dropped: Judgments dropped before running (queue full, closed, shutdown).
        pending: Judgments waiting or running.
        dropped_by_reason: ``dropped`` split by reason.
        queued: Calls waiting in the queue.
        queued_bytes: Content those calls hold (`content_bytes`), bounded by ``max_queue_bytes``.
        abandoned: Helper threads still running a timed-out judge.
        unsaved: Judgments a sink could not store (read-only or full disk); logged once.
    """

    sampled: int
    judged: int
    errored: int
    dropped: int
    pending: int
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    queued: int = 0
    queued_bytes: int = 0
    abandoned: int = 0
    unsaved: int = 0


def judge_input(record: CallRecord) -> JudgeInput:
    """The judge input of a recorded call: its request body and output text."""
    prompt = record.prompt
    meta = {"prompt_name": prompt.name, "prompt_version": prompt.version} if prompt else {}
    return JudgeInput(
        output=record.output_text or "", input=record.request, call_id=record.call_id, metadata=meta
    )


class _Box:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _Runner:
    """A helper thread running one judge call at a time, abandonable when a call overruns."""

    def __init__(self) -> None:
        self._inbox: queue.SimpleQueue[tuple[Callable[[], Any], _Box] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="llmguard-judge", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (job := self._inbox.get()) is not None:
            fn, box = job
            try:
                box.value = fn()
            except BaseException as exc:  # a judge's failure is a judgment, whatever it raised
                box.error = exc
            finally:
                box.done.set()

    def run(self, fn: Callable[[], Any], timeout: float) -> _Box | None:
        box = _Box()
        self._inbox.put((fn, box))
        return box if box.done.wait(timeout) else None

    def stop(self) -> None:
        self._inbox.put(None)


class JudgingQueue:
    """Bounded, never-blocking background judging of sampled call records.

    Args:
        judges: The judges run on every queued call.
        sinks: Where judgments are written (on the worker threads).
        telemetry: Events and metrics (``None``: none).
        max_queue: Calls that may wait; beyond it new samples are dropped (reason ``queue_full``).
        max_queue_bytes: Content (request body and output, `content_bytes`) the waiting calls may
            hold; a sample that would go past it is dropped (reason ``queue_full``), unless nothing waits.
        workers: Worker threads (started on the first offer).
        judge_timeout: Seconds before a judge is abandoned.
        max_hung: Abandoned (timed-out, still running) threads tolerated per judge.
        on_drop: ``on_drop(reason, call_id)``, called on the offering thread (for ``judge_hung``,
            on a worker thread).
    """

    def __init__(
        self,
        judges: Sequence[Judge],
        *,
        sinks: Sequence[JudgmentSink] = (),
        telemetry: JudgingTelemetry | None = None,
        max_queue: int = 1000,
        max_queue_bytes: int = 8 * 2**20,
        workers: int = 2,
        judge_timeout: float = 60.0,
        max_hung: int = 4,
        on_drop: Callable[[str, str], None] | None = None,
    ) -> None:
        self.judges = tuple(judges)
        self._inline = tuple(type(judge) in INLINE_JUDGES for judge in self.judges)
        self.sinks = tuple(sinks)
        self.telemetry = telemetry
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.workers = workers
        self.judge_timeout = judge_timeout
        self.max_hung = max_hung
        self.on_drop = on_drop
        self._closed = False
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._runners: list[threading.Thread] = []
        self._abandoned: list[tuple[str, threading.Thread]] = []
        self._queued = self._sampled = self._judged = self._errored = self._pending = self._unsaved = 0
        self._queued_bytes = 0
        self._dropped: dict[str, int] = {}

    # -- the caller's side ------------------------------------------------------------------------
    def offer(self, record: CallRecord) -> bool:
        """Queue ``record`` for judging without blocking; False when it was dropped (and counted)."""
        n = len(self.judges)
        size = content_bytes(record, self.max_queue_bytes)
        with self._lock:
            self._sampled += n
            if self._closed:
                reason = "closed"
            elif self._queued >= self.max_queue or (
                self._queued and self._queued_bytes + size > self.max_queue_bytes
            ):
                reason = "queue_full"
            else:
                reason = ""
                if not self._threads:
                    self._start()
                self._queued += 1
                self._queued_bytes += size
                self._pending += n
                self._queue.put((record, size))
            if reason:
                self._dropped[reason] = self._dropped.get(reason, 0) + n
        if reason:
            self._advise_drop(reason)
            self._report_drop(reason, record.call_id, n)
        return not reason

    def _advise_drop(self, reason: str) -> None:
        if reason == "closed":
            advise_once(
                "judging-closed",
                str(id(self)),
                "llmguard: a call was sampled for judging after its guard was closed (guard.close()); "
                "its judgments are dropped and counted (reason 'closed'). Close the guard only when the "
                "app stops, or build a new Guard for later calls",
            )
        else:
            advise_once(
                "judging-full",
                str(id(self)),
                f"llmguard: the judging queue is full ({self.max_queue} calls or {self.max_queue_bytes:,} bytes "
                "of their content waiting): the judges cannot keep up, new samples are dropped and counted "
                "(reason 'queue_full'). Lower the sampling rate, add Sampling.workers, or raise "
                "Sampling.max_queue / max_queue_bytes",
            )

    def _report_drop(self, reason: str, call_id: str, n: int) -> None:
        if self.telemetry is not None:
            self.telemetry.dropped(reason, n)
        if self.on_drop is not None:
            with handle_internal_errors("judging on_drop"):
                self.on_drop(reason, call_id)

    def _start(self) -> None:
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"llmguard-judging-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    # -- the workers' side ------------------------------------------------------------------------
    def _work(self) -> None:
        runner: _Runner | None = None
        done: list[Judgment] = []
        while (entry := self._queue.get()) is not _STOP:
            record, size = entry
            with self._lock:
                self._queued -= 1
                self._queued_bytes -= size
            item = judge_input(record)
            for judge, inline in zip(self.judges, self._inline, strict=True):
                if inline:
                    done.append(self._run_inline(judge, record, item))
                    continue
                if not self._hung_below_limit(judge.name) or (runner := runner or self._new_runner()) is None:
                    self._drop_hung(judge.name, record.call_id)
                    continue
                judgment, runner = self._run(judge, record, item, runner)
                done.append(judgment)
            del entry, record, item  # the call's content is not held while its judgments wait for a write
            # Written as soon as no call waits; under a backlog, in batches: one transaction for many
            # judgments, so a slow store cannot hold the waiting calls (and their prompts) for long.
            if done and (len(done) >= WRITE_BATCH or self._queue.empty()):
                self._deliver(done)
                done = []
        if done:
            self._deliver(done)
        if runner is not None:
            runner.stop()

    def _hung_below_limit(self, name: str) -> bool:
        with self._lock:
            if not self._abandoned:
                return True
            self._abandoned = [(judge, t) for judge, t in self._abandoned if t.is_alive()]
            return sum(judge == name for judge, _ in self._abandoned) < self.max_hung

    def _new_runner(self) -> _Runner | None:
        """A helper thread, or None while ``workers + max_hung * len(judges)`` helpers exist."""
        with self._lock:
            self._runners = [t for t in self._runners if t.is_alive()]
            if len(self._runners) >= self.workers + self.max_hung * len(self.judges):
                return None
            runner = _Runner()
            self._runners.append(runner.thread)
            return runner

    def _drop_hung(self, name: str, call_id: str) -> None:
        with self._lock:
            self._pending -= 1
            self._dropped["judge_hung"] = self._dropped.get("judge_hung", 0) + 1
            if self._pending == 0:
                self._idle.notify_all()
        advise_once(
            "judge-hung",
            name,
            f"llmguard: judge {name!r} is stuck past judge_timeout={self.judge_timeout}s on {self.max_hung} "
            "threads; its new judgments are dropped (reason 'judge_hung') until one returns. Fix the judge, "
            "or raise Sampling.max_hung_judges",
        )
        self._report_drop("judge_hung", call_id, 1)

    def _run(
        self, judge: Judge, record: CallRecord, item: JudgeInput, runner: _Runner
    ) -> tuple[Judgment, Any]:
        start = time.perf_counter()
        kept: _Runner | None = runner
        box = runner.run(lambda: judge.evaluate(item), self.judge_timeout)
        if box is None:
            self._abandon(runner, judge.name)
            kept = None
        return self._judgment(judge, record, box, start), kept

    def _run_inline(self, judge: Judge, record: CallRecord, item: JudgeInput) -> Judgment:
        """A judge of `INLINE_JUDGES` on this worker thread: no helper thread, no hand-off."""
        start = time.perf_counter()
        box = _Box()
        try:
            box.value = judge.evaluate(item)
        except BaseException as exc:  # as on a helper: whatever it raised, a failure is a judgment
            box.error = exc
        return self._judgment(judge, record, box, start)

    def _judgment(self, judge: Judge, record: CallRecord, box: _Box | None, start: float) -> Judgment:
        """The judgment of a judge's run (``box`` None: it overran ``judge_timeout``)."""
        status: JudgmentStatus = "ok"
        result = error_type = None
        if box is None:
            status, error_type = "timeout", "TimeoutError"
        elif box.error is not None:
            status, error_type = "error", type(box.error).__qualname__
        else:
            result = box.value
        prompt = record.prompt
        return Judgment(
            call_id=record.call_id,
            judge=judge.name,
            status=status,
            result=result,
            error_type=error_type,
            trace_id=record.trace_id,
            span_id=record.span_id,
            response_id=record.response_id,
            prompt_name=prompt.name if prompt else None,
            prompt_version=prompt.version if prompt else None,
            latency_s=time.perf_counter() - start,
            created_ns=time.time_ns(),
        )

    def _abandon(self, runner: _Runner, name: str) -> None:
        runner.stop()
        with self._lock:
            self._abandoned = [(j, t) for j, t in self._abandoned if t.is_alive()] + [(name, runner.thread)]
        advise_once(
            "judge-timeout", name, f"llmguard: judge {name!r} overran {self.judge_timeout}s and was abandoned"
        )

    def _deliver(self, judgments: list[Judgment]) -> None:
        try:
            for sink in self.sinks:
                with handle_internal_errors("judgment sink"):
                    self._store(sink, judgments)
            if self.telemetry is not None:
                for judgment in judgments:
                    with handle_internal_errors("judging telemetry"):
                        self.telemetry.judged(judgment)
        finally:
            with self._lock:
                for judgment in judgments:
                    self._pending -= 1
                    if judgment.status == "ok":
                        self._judged += 1
                    else:
                        self._errored += 1
                if self._pending == 0:
                    self._idle.notify_all()

    def _store(self, sink: JudgmentSink, judgments: list[Judgment]) -> None:
        try:
            sink.write(judgments)
        except WRITE_ERRORS as exc:  # the store, not llmguard, failed: count it, say it once
            with self._lock:
                self._unsaved += len(judgments)
            name = type(sink).__name__
            advise_once(
                "judgment-sink",
                name,
                f"llmguard: {name} cannot store judgments ({type(exc).__name__}: {exc}); they are counted "
                "in stats().unsaved, your LLM calls are unaffected",
            )

    # -- control ----------------------------------------------------------------------------------
    def stats(self) -> JudgingStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return JudgingStats(
                sampled=self._sampled,
                judged=self._judged,
                errored=self._errored,
                dropped=sum(self._dropped.values()),
                pending=self._pending,
                dropped_by_reason=dict(self._dropped),
                queued=self._queued,
                queued_bytes=self._queued_bytes,
                abandoned=sum(t.is_alive() for _, t in self._abandoned),
                unsaved=self._unsaved,
            )

    @property
    def depth(self) -> int:
        """Calls waiting in the queue."""
        return self._queued

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds until nothing is pending; True when everything was judged."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting work, judge what is pending for up to ``timeout`` seconds, drop the rest, stop."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.flush(timeout)
        self._drain()
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                with handle_internal_errors("judgment sink close"):
                    close()

    def _drain(self) -> None:
        n = len(self.judges)
        while True:
            try:
                record, size = self._queue.get_nowait()
            except queue.Empty:
                return
            with self._lock:
                self._queued -= 1
                self._queued_bytes -= size
                self._pending -= n
                self._dropped["shutdown"] = self._dropped.get("shutdown", 0) + n
                if self._pending == 0:
                    self._idle.notify_all()
            self._report_drop("shutdown", record.call_id, n)

    def _after_fork(self) -> None:
        self._reset()  # the parent's threads, locks and waiting calls do not exist here


_live: weakref.WeakSet[JudgingQueue] = weakref.WeakSet()


def _at_exit() -> None:
    deadline = time.monotonic() + ATEXIT_TIMEOUT
    for judging in list(_live):
        judging.shutdown(max(0.0, deadline - time.monotonic()))


def _after_fork_in_child() -> None:
    for judging in list(_live):
        judging._after_fork()


atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
