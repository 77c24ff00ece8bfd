"""``llmguard worker``: judge the jobs that apps enqueued in PostgreSQL, in this process.

Any number of workers, on any machines, share the queue. A worker that dies mid-job stops
sending heartbeats; after ``stalled_after_s`` another worker puts its jobs back in the queue, and
they are judged without repeating a judgment already stored (see `llmguard.judging._jobs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from llmguard._internal import logger
from llmguard.exceptions import ConfigurationError

from ._jobs import QUEUE, make_app, run_job

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["WorkerSettings", "judges_of", "run_worker"]


class WorkerSettings:
    """How a worker runs.

    Args:
        concurrency: Jobs judged at once.
        stalled_after_s: Seconds without a heartbeat after which a worker's jobs are retried.
        burst: Stop when the queue is empty (for batch runs and tests) instead of waiting for jobs.
        judge_timeout: Seconds before a judge's result is given up (``timeout``).
    """

    def __init__(
        self,
        *,
        concurrency: int = 4,
        stalled_after_s: float = 30.0,
        burst: bool = False,
        judge_timeout: float = 60.0,
    ) -> None:
        if concurrency < 1 or stalled_after_s <= 0 or judge_timeout <= 0:
            raise ConfigurationError(
                "worker: concurrency must be >= 1, stalled_after_s and judge_timeout > 0"
            )
        self.concurrency = concurrency
        self.stalled_after_s = stalled_after_s
        self.burst = burst
        self.judge_timeout = judge_timeout


def judges_of(guard: Guard) -> tuple[Any, ...]:
    """The guard's judges (argument or config file), resolved as the app resolves them."""
    from ._registry import resolve_judges

    specs = guard.judges if guard.judges is not None else guard.settings.file_settings.get("judges")
    return tuple(resolve_judges(specs, guard=guard))


def run_worker(guard: Guard, settings: WorkerSettings) -> int:
    """Judge jobs until stopped (or, with ``burst``, until the queue is empty); returns jobs processed."""
    from llmguard._storage import is_postgres, open_database

    from ._sinks import RedactingSink, as_sink

    if not is_postgres(guard.db):
        raise ConfigurationError(
            f"llmguard worker needs a PostgreSQL database (db is {guard.db}); with SQLite, judging runs "
            "inside the app. Set LLMGUARD_DB=postgresql://... or --db"
        )
    judges = judges_of(guard)
    if not judges:
        raise ConfigurationError("llmguard worker: no judges configured ([tool.llmguard] judges, or --guard)")
    db = open_database(guard.db)
    db.ensure_schema()
    sink: Any = as_sink(guard.judgment_sink, db)
    from llmguard.telemetry import TelemetryOptions

    redact = TelemetryOptions.resolve(None, guard.settings.file_settings.get("telemetry")).redact
    if redact is not None:
        sink = RedactingSink(sink, redact)

    def already(call_id: str) -> set[str]:
        rows = db.query("SELECT judge FROM llmguard_judgments WHERE call_id = ?", [call_id])
        return {str(r[0]) for r in rows}

    pool = ThreadPoolExecutor(max_workers=settings.concurrency * 2, thread_name_prefix="llmguard-judge")
    processed = 0

    def run(payload: dict[str, Any]) -> None:
        nonlocal processed
        run_job(payload, judges, sink.write, already, timeout=settings.judge_timeout, pool=pool)
        processed += 1

    app = make_app(guard.db, run)
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    try:
        asyncio.run(_serve(app, settings))
    finally:
        pool.shutdown(wait=False)
    return processed


async def _serve(app: Any, settings: WorkerSettings) -> None:
    heartbeat = max(min(settings.stalled_after_s / 3, 10.0), 0.2)
    async with app.open_async():
        worker = asyncio.ensure_future(
            app.run_worker_async(
                queues=[QUEUE],
                concurrency=settings.concurrency,
                wait=not settings.burst,
                delete_jobs="successful",
                update_heartbeat_interval=heartbeat,
                stalled_worker_timeout=settings.stalled_after_s,
                install_signal_handlers=not settings.burst,
                listen_notify=not settings.burst,
            )
        )
        rescue = asyncio.ensure_future(_retry_stalled(app, settings.stalled_after_s))
        try:
            await worker
        finally:
            rescue.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rescue


async def _retry_stalled(app: Any, stalled_after_s: float) -> None:
    """Put the jobs of workers that stopped sending heartbeats back in the queue."""
    while True:
        try:
            for job in await app.job_manager.get_stalled_jobs(
                queue=QUEUE, seconds_since_heartbeat=stalled_after_s
            ):
                logger.warning("llmguard worker: job %s of a stalled worker is retried", job.id)
                await app.job_manager.retry_job(job)
        except Exception:
            logger.exception("llmguard worker: checking for stalled jobs failed")
        await asyncio.sleep(max(stalled_after_s / 2, 0.5))
