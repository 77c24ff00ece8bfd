"""A background batch writer: bounded memory on the caller's side, batches on a daemon thread.

``submit`` is a deque append (tens of nanoseconds); a full queue drops the row and counts it.
The thread wakes every ``interval`` seconds, or as soon as ``batch_size`` rows wait, and writes
batches through ``sink``. A sink failure (read-only file, full disk) is logged once and counted;
the caller never sees it. ``flush``/``shutdown`` drain the queue, and an ``atexit`` hook drains it
on a clean interpreter exit.

Loss window: a row reaches the disk about ``interval`` seconds plus one batch write after
``submit`` returned; a ``kill -9`` loses the rows of that window, and never more than
``max_queue``. Caller threads that keep the interpreter lock busy (CPU-bound work, or a provider
that answers at once: the SDK's per-call ``os.urandom`` releases the GIL and takes it straight
back, so a waiting thread never asks for a switch) can starve the writer thread for seconds. So
with ``max_lag`` set (the ledger: ``CostPolicy.max_write_lag_s``, 0.2 s), a ``submit`` that finds
`LATE_ROWS` rows waiting and nothing written for ``max_lag`` seconds waits up to `YIELD_S` (5 ms)
for the writer, which then gets the lock. A process whose threads wait on the network never
comes near it. ``docs/cost.md`` and ``benchmarks/ledger_loss.py`` have measured figures.

Lifecycle: the thread is restarted lazily by the first ``submit`` in a forked child (which starts
with an empty queue and zeroed counters: the parent writes its own rows), and after ``shutdown``
(with a warning, once: the guard was closed while calls still ran). During interpreter exit, after
the ``atexit`` drain, a late row is written on the caller's thread, since no thread would outlive
the process.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llmguard._db import WRITE_ERRORS, after_fork
from llmguard._internal import advise_once, handle_internal_errors

__all__ = ["WRITE_ERRORS", "BatchWriter", "WriterStats"]

_exiting = False

LATE_ROWS = 64
"""Rows waiting before ``submit`` checks whether the writer is late (below it, it never does)."""

YIELD_S = 0.005
"""The longest a ``submit`` waits for a late writer (see ``max_lag``)."""


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of a writer.

    Attributes:
        written: Rows the sink accepted.
        dropped: Rows refused because the queue was full.
        failed: Rows lost because the sink raised.
        pending: Rows waiting in the queue.
        waits: Times a caller waited (up to `YIELD_S`) for the writer, late by ``max_lag``.
    """

    written: int
    dropped: int
    failed: int
    pending: int
    waits: int = 0


class BatchWriter:
    """Write rows through ``sink`` in batches on a background thread.

    Args:
        sink: Called with each batch on the writer thread.
        name: Used in the thread name and in the once-only failure message.
        batch_size: Rows per sink call; this many waiting rows also wake the thread early.
        max_queue: Rows held at most; more are dropped and counted.
        interval: Seconds between wake-ups when batches are not full (the loss window's time bound).
        periodic: Called on the writer thread after each wake-up (retention, alert evaluation).
        has_pending: Whether the periodic task has work queued (``flush`` waits for it too).
        max_lag: Seconds the thread may go without writing while `LATE_ROWS` rows wait; past it,
            ``submit`` waits up to `YIELD_S` for the thread to write (0: never waits). See
            the module docs.
    """

    def __init__(
        self,
        sink: Callable[[Sequence[Any]], None],
        *,
        name: str = "ledger",
        batch_size: int = 1000,
        max_queue: int = 100_000,
        interval: float = 0.1,
        periodic: Callable[[], None] | None = None,
        has_pending: Callable[[], bool] | None = None,
        max_lag: float = 0.0,
    ) -> None:
        self._sink = sink
        self._has_pending = has_pending or (lambda: False)
        self.name = name
        self.batch_size = batch_size
        self.max_queue = max_queue
        self.interval = interval
        self.max_lag = max_lag
        self._check_at = min(LATE_ROWS, batch_size - 1)  # below it, `submit` does nothing more
        self._periodic = periodic
        self._reset()
        self._start()
        _live.add(self)
        after_fork(self)

    def _reset(self) -> None:
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._control = threading.Lock()
        self._thread: threading.Thread | None = None
        self._busy = False
        self._stopped = False
        self._accepting = False  # a live thread serves the queue: submit's fast path
        self.written = 0
        self.dropped = 0
        self.failed = 0
        self.waits = 0
        self._progress = time.monotonic()  # when the thread last finished writing (or its periodic task)

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name=f"llmguard-{self.name}-writer", daemon=True)
        thread.start()
        self._thread = thread
        self._accepting = True

    def _after_fork(self) -> None:
        self._reset()  # the parent's thread, locks and queued rows stay the parent's; restart lazily

    # -- caller side ------------------------------------------------------------------------------
    def submit(self, row: Any) -> bool:
        """Queue ``row``; returns False (and counts a drop) when the queue is full."""
        queue = self._queue
        waiting = len(queue)
        if waiting >= self.max_queue:
            self._drop()
            return False
        queue.append(row)
        if not self._accepting:
            self._revive()
        elif waiting >= self._check_at:
            self._behind(waiting + 1)
        return True

    def _behind(self, waiting: int) -> None:
        """``waiting`` rows wait: wake the thread for a full batch; wait briefly for a late writer."""
        if waiting >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        if waiting > LATE_ROWS and self.max_lag and time.monotonic() - self._progress > self.max_lag:
            self._yield()

    def _yield(self) -> None:
        """Let the late writer thread have the interpreter lock: wait up to `YIELD_S` for it to write.

        Not on the writer thread itself (a periodic task's own call), and not for a thread that
        is gone: waiting could not help either. A periodic task (budget refresh, retention) that
        runs longer than ``max_lag`` while rows wait makes callers wait too: a starved writer and
        a busy one look the same from here, and the wait is bounded either way.
        """
        thread = self._thread
        if thread is None or thread is threading.current_thread() or not thread.is_alive():
            return
        self.waits += 1
        self._wake.set()
        with self._idle:
            self._idle.wait(YIELD_S)

    def _drop(self) -> None:
        self.dropped += 1
        advise_once(
            "writer-full",
            self.name,
            f"llmguard: the {self.name} queue is full ({self.max_queue} rows waiting): the writer cannot keep "
            "up, new rows are dropped and counted (raise queue_size, or check the disk)",
        )

    def _revive(self) -> None:
        """Serve rows queued with no thread running: after fork, after shutdown, at exit."""
        with self._control:
            if self._stopped:
                advise_once(
                    "writer-closed",
                    self.name,
                    f"llmguard: a call finished after its guard was closed (guard.close()); its {self.name} "
                    "row is still written. Close the guard only when the app stops, or build a new Guard "
                    "for later calls",
                )
            if _exiting:  # no thread would outlive the process: write on the caller's thread
                self._drain()
            elif self._thread is None:
                self._stopped = False
                self._start()
            # else: a stopping thread is still draining; it checks the queue under this lock before exiting

    def wake(self) -> None:
        """Wake the writer thread now (to write, or to run its periodic task)."""
        self._wake.set()

    def holds(self, match: Callable[[Any], bool]) -> bool:
        """Whether a queued (not yet written) row satisfies ``match`` (a scan: for rare look-ups only)."""
        for _ in range(3):
            try:
                rows = list(self._queue)  # a snapshot; the writer thread may pop meanwhile
            except RuntimeError:  # "deque mutated during iteration": take it again
                continue
            return any(match(row) for row in rows)
        return False

    def stats(self) -> WriterStats:
        """Current counters."""
        return WriterStats(self.written, self.dropped, self.failed, len(self._queue), self.waits)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds until every queued row is written or failed."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            while self._queue or self._busy or self._has_pending():
                left = deadline - time.monotonic()
                thread = self._thread
                if left <= 0 or thread is None or not thread.is_alive():
                    return not (self._queue or self._busy or self._has_pending())
                self._wake.set()
                self._idle.wait(min(left, 0.05))
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Drain the queue and stop the thread (idempotent; a later ``submit`` restarts it)."""
        with self._control:
            self._stopped = True
            self._accepting = False
            thread = self._thread
            self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- writer thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stopped
            self._busy = True
            try:
                self._drain()
                if self._periodic is not None:
                    self._run_periodic()  # alerts on what was just written: flush() waits for it too
                    self._progress = time.monotonic()
            finally:
                with self._idle:
                    self._busy = False
                    self._idle.notify_all()
            if stopping and self._exit():
                return

    def _exit(self) -> bool:
        with self._control:  # decided under the lock a restarting submit takes: no row is stranded
            if not self._stopped or self._queue:
                return False
            if self._thread is threading.current_thread():
                self._thread = None
            return True

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
            self._write(batch)
            self._progress = time.monotonic()
        self._progress = time.monotonic()

    def _write(self, batch: list[Any]) -> None:
        try:
            self._sink(batch)
        except WRITE_ERRORS as exc:
            self.failed += len(batch)
            advise_once(
                "ledger-write",
                self.name,
                f"llmguard: the {self.name} cannot write ({type(exc).__name__}: {exc}); rows are counted "
                "as failed and dropped, your LLM calls are unaffected",
            )
        else:
            self.written += len(batch)

    def _run_periodic(self) -> None:
        assert self._periodic is not None
        with handle_internal_errors(f"{self.name} periodic task"):
            try:
                self._periodic()
            except WRITE_ERRORS as exc:
                advise_once("ledger-periodic", self.name, f"llmguard: {self.name} maintenance failed: {exc}")


_live: weakref.WeakSet[BatchWriter] = weakref.WeakSet()


@atexit.register
def _shutdown_at_exit() -> None:
    global _exiting
    _exiting = True
    for writer in list(_live):
        writer.shutdown(timeout=5.0)
