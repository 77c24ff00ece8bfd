"""Judging on worker processes: sampled calls become jobs in PostgreSQL, judged by ``llmguard worker``.

With a PostgreSQL database, the app process only enqueues: each sampled call becomes one job of
procrastinate (an existing, maintained PostgreSQL job queue: ``SELECT ... FOR UPDATE SKIP
LOCKED``, LISTEN/NOTIFY, worker heartbeats and retries, in one library we do not have to write
or maintain). ``llmguard worker`` runs the judges in separate processes, on any machine that can
reach the database. The embedded SQLite engine keeps the in-process queue (`JudgingQueue`).

Accounting stays exact across processes:

- the app counts every sampled judgment as enqueued, or dropped with a reason (queue full, the
  database refused the job, the payload over its size cap);
- a worker writes one ``llmguard_judgments`` row per (call, judge): ``ok``, ``error`` or
  ``timeout``. Before running a judge it checks the row is not there yet, so a job retried after
  its worker died is never judged twice (a judge that was running when the worker died runs
  again; its judgment is still stored once).

A job holds the sampled call's request and output (a judge needs them) until it is judged; the
finished job is deleted. The payload is capped (``MAX_PAYLOAD_BYTES``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from llmguard._db import after_fork
from llmguard._internal import advise_once, logger
from llmguard._record import CallRecord, content_bytes

from ._queue import JudgingStats
from ._types import Judge, JudgeInput, Judgment, JudgmentStatus

__all__ = ["MAX_PAYLOAD_BYTES", "QUEUE", "TASK", "JobQueue", "job_payload", "make_app", "run_job"]

QUEUE = "llmguard-judging"
"""The procrastinate queue of judging jobs."""
TASK = "llmguard.judge_call"
"""The procrastinate task name."""
MAX_PAYLOAD_BYTES = 1_000_000
"""A sampled call whose request and output exceed this (UTF-8 JSON) is dropped (reason ``too_large``)."""


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


APP_POOL: dict[str, Any] = {"min_size": 0, "max_size": 2, "timeout": 5.0}
"""The enqueuing app's pool: connections opened on demand, two at most; an unreachable database fails a batch in 5 s."""


def make_app(url: str, run: Callable[[dict[str, Any]], None] | None = None, **pool: Any) -> Any:
    """A procrastinate app on ``url`` with the judging task (``run`` executes it in a worker).

    ``pool`` goes to psycopg's connection pool (``min_size``, ``max_size``, ``timeout``...).
    """
    try:
        import procrastinate
    except ImportError as exc:
        from llmguard.exceptions import ConfigurationError

        raise ConfigurationError(
            "judging on PostgreSQL enqueues jobs with procrastinate: pip install 'llmguard[postgres]'"
        ) from exc
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(url), **pool))

    def judge_call(payload: dict[str, Any]) -> None:
        if run is None:
            raise RuntimeError("this process only enqueues judging jobs; run `llmguard worker` to judge them")
        run(payload)

    app.task(name=TASK, queue=QUEUE, pass_context=False)(judge_call)
    return app


def job_payload(record: CallRecord, judges: Sequence[str]) -> dict[str, Any]:
    """What a worker needs to judge ``record``: ids, prompt, request, output, and the judges' names."""
    prompt = record.prompt
    return {
        "call_id": record.call_id,
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "response_id": record.response_id,
        "prompt_name": prompt.name if prompt else None,
        "prompt_version": prompt.version if prompt else None,
        "request": record.request,
        "output": record.output_text or "",
        "judges": list(judges),
    }


class JobQueue:
    """The app side of worker judging: enqueue sampled calls as jobs, off the caller's thread.

    Same interface as `JudgingQueue` (``offer``, ``stats``, ``flush``, ``shutdown``). ``offer``
    appends to a bounded in-memory buffer; a background thread defers the jobs in batches.

    Args:
        url: The PostgreSQL database (the guard's ``db``).
        judges: The judges (their names go into each job; workers resolve them by name).
        max_queue: Calls buffered at most before new samples are dropped (reason ``queue_full``).
        max_queue_bytes: Content (request body and output, `content_bytes`) the buffered calls may
            hold; a sample that would go past it is dropped (reason ``queue_full``), unless none waits.
        on_drop: ``on_drop(reason, call_id)``.
    """

    def __init__(
        self,
        url: str,
        judges: Sequence[Judge],
        *,
        max_queue: int = 1000,
        max_queue_bytes: int = 8 * 2**20,
        on_drop: Callable[[str, str], None] | None = None,
    ) -> None:
        from llmguard.cost._writer import BatchWriter

        self.url = url
        self.judges = tuple(judges)
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.on_drop = on_drop
        self._names = [j.name for j in self.judges]
        self._lock = threading.Lock()
        self._sampled = self._enqueued = self._buffered_bytes = 0
        self._dropped: dict[str, int] = {}
        self._app: Any = None
        self._writer = BatchWriter(self._defer, name="judging jobs", batch_size=200, max_queue=max_queue)
        after_fork(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._buffered_bytes = 0  # the writer's buffer stays the parent's (see `BatchWriter`)

    def offer(self, record: CallRecord) -> bool:
        """Buffer ``record`` as a job; False when it was dropped (and counted). Never serialises here."""
        size = content_bytes(record, self.max_queue_bytes)
        with self._lock:  # counted before the writer thread can count it enqueued
            self._sampled += len(self._names)
            accepted = (
                not self._buffered_bytes or self._buffered_bytes + size <= self.max_queue_bytes
            ) and self._writer.submit((job_payload(record, self._names), size))
            if accepted:
                self._buffered_bytes += size
            else:
                self._sampled -= len(self._names)
        return True if accepted else self._drop("queue_full", record.call_id)

    def _drop(self, reason: str, call_id: str, *, counted: bool = False) -> bool:
        """Count ``call_id``'s judgments as dropped (and as sampled, unless ``counted`` already)."""
        n = len(self._names)
        with self._lock:
            self._sampled += 0 if counted else n
            self._dropped[reason] = self._dropped.get(reason, 0) + n
        if self.on_drop is not None:
            self.on_drop(reason, call_id)
        return False

    def _defer(self, items: Sequence[tuple[dict[str, Any], int]]) -> None:
        """On the writer thread: drop (and count) payloads over the cap, enqueue the rest in one batch."""
        with self._lock:
            self._buffered_bytes -= sum(size for _, size in items)
        batch = []
        for payload, _ in items:
            if len(json.dumps(payload, default=str).encode()) > MAX_PAYLOAD_BYTES:
                self._drop("too_large", payload["call_id"], counted=True)
            else:
                batch.append(payload)
        if not batch:
            return
        try:
            if self._app is None:
                self._app = make_app(self.url, **APP_POOL).open()
            self._app.tasks[TASK].batch_defer(*({"payload": p} for p in batch))
        except Exception as exc:
            n = len(batch) * len(self._names)
            with self._lock:
                self._dropped["enqueue_failed"] = self._dropped.get("enqueue_failed", 0) + n
            advise_once(
                "judging-enqueue",
                self.url,
                f"llmguard: cannot enqueue judging jobs ({type(exc).__name__}: {exc}); they are dropped and "
                "counted (reason 'enqueue_failed'), your LLM calls are unaffected",
            )
            return
        with self._lock:
            self._enqueued += len(batch) * len(self._names)

    def stats(self) -> JudgingStats:
        """App-side counters: ``pending`` are judgments enqueued (judged by workers) or buffered."""
        with self._lock:
            dropped = sum(self._dropped.values())
            return JudgingStats(
                sampled=self._sampled,
                judged=0,
                errored=0,
                dropped=dropped,
                pending=self._sampled - dropped,
                dropped_by_reason=dict(self._dropped),
                queued=self._writer.stats().pending,
            )

    @property
    def depth(self) -> int:
        """Calls buffered, not yet enqueued."""
        return self._writer.stats().pending

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every buffered job is enqueued (not judged: workers do that)."""
        return self._writer.flush(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Enqueue what is buffered and stop."""
        self._writer.shutdown(timeout)
        if self._app is not None:
            try:
                self._app.close()
            except Exception:
                logger.debug("llmguard: closing the judging job queue failed", exc_info=True)
            self._app = None


def run_job(
    payload: dict[str, Any],
    judges: Sequence[Judge],
    write: Callable[[Sequence[Judgment]], None],
    already: Callable[[str], set[str]],
    *,
    timeout: float = 60.0,
    pool: ThreadPoolExecutor | None = None,
) -> list[Judgment]:
    """Judge one job in a worker: every named judge not yet judged for the call, each stored at once.

    Args:
        payload: The job (see `job_payload`).
        judges: The worker's judges; a name the worker does not know is recorded as an ``error``.
        write: Stores judgments (the worker's sink).
        already: The judges already judged for a call id (a retried job skips them).
        timeout: Seconds before a judge's result is given up (recorded as ``timeout``).
        pool: Threads to run judges on (so a hung judge does not hold the job past ``timeout``).
    """
    by_name = {j.name: j for j in judges}
    done = already(payload["call_id"])
    item = JudgeInput(
        output=payload.get("output") or "",
        input=payload.get("request"),
        call_id=payload["call_id"],
        metadata={k: payload.get(k) for k in ("prompt_name", "prompt_version") if payload.get(k)},
    )
    out: list[Judgment] = []
    for name in payload.get("judges", []):
        if name in done:
            continue
        start = time.perf_counter()
        status: JudgmentStatus = "ok"
        result = error_type = None
        judge = by_name.get(name)
        if judge is None:
            status, error_type = "error", "UnknownJudge"
        else:
            try:
                future = (pool or _POOL).submit(judge.evaluate, item)
                result = future.result(timeout)
            except FutureTimeout:
                status, error_type = "timeout", "TimeoutError"
            except Exception as exc:
                status, error_type = "error", type(exc).__qualname__
        judgment = Judgment(
            call_id=payload["call_id"], judge=name, status=status, result=result, error_type=error_type,
            trace_id=payload.get("trace_id"), span_id=payload.get("span_id"),
            response_id=payload.get("response_id"), prompt_name=payload.get("prompt_name"),
            prompt_version=payload.get("prompt_version"), latency_s=time.perf_counter() - start,
            created_ns=time.time_ns(),
        )  # fmt: skip
        write([judgment])
        out.append(judgment)
    return out


_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="llmguard-worker-judge")
