"""``llmguard worker``: judge the sampled calls that apps enqueued in PostgreSQL.

The judges come from the config file (``[tool.llmguard] judges``), or from a `llmguard.Guard`
in your code (``--guard myapp.llm:guard``), so a worker judges exactly as the app would have.
Exit codes: 0 stopped cleanly (or ``--burst`` drained the queue), 2 configuration error.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer

from llmguard.exceptions import LLMGuardError

__all__ = ["worker_app"]

worker_app = typer.Typer(help="Judge sampled calls enqueued in PostgreSQL (run any number, anywhere).")


def _guard(spec: str | None) -> Any:
    from llmguard._guard import Guard

    if spec is None:
        return Guard()
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise typer.BadParameter(f"--guard {spec!r}: use module.path:attribute")
    try:
        value = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise typer.BadParameter(f"--guard {spec!r}: {exc}") from exc
    if not isinstance(value, Guard):
        raise typer.BadParameter(f"--guard {spec!r} is a {type(value).__name__}, not a llmguard.Guard")
    return value


@worker_app.callback(invoke_without_command=True)
def worker(
    guard: Annotated[
        str | None,
        typer.Option("--guard", help="A Guard in your code whose judges to run: module.path:attr."),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Jobs judged at once.")] = 4,
    stalled_after: Annotated[
        float,
        typer.Option("--stalled-after", help="Seconds without heartbeat before a worker's jobs are retried."),
    ] = 30.0,
    burst: Annotated[bool, typer.Option("--burst", help="Stop when the queue is empty.")] = False,
) -> None:
    """Run judges on the jobs in the database's judging queue, until stopped (Ctrl-C or SIGTERM)."""
    from llmguard.judging._worker import WorkerSettings, run_worker

    try:
        settings = WorkerSettings(concurrency=concurrency, stalled_after_s=stalled_after, burst=burst)
        done = run_worker(_guard(guard), settings)
    except LLMGuardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"llmguard worker: {done} jobs judged")
