"""The ``llmguard`` command line: one root, sub-commands per feature.

Exit codes everywhere: 0 ok, 1 a check or gate failed, 2 usage, configuration or data error.
Shared options, before or after the sub-command: ``--db``, ``--config``, ``--json``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer

from llmguard._version import __version__

from ._pins import pins_app
from ._shared import SharedOptionsGroup, apply_shared

__all__ = ["app", "main"]

app = typer.Typer(
    name="llmguard",
    help="llmguard: model pins, prompts as code, telemetry, judging, feedback and eval gates for LLM apps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=SharedOptionsGroup,
)
app.add_typer(pins_app, name="pins")

SUBCOMMANDS: tuple[tuple[str, str, str], ...] = (
    ("prompts", "llmguard.cli._prompts", "prompts_app"),
    ("judgments", "llmguard.cli._judgments", "judgments_app"),
    ("feedback", "llmguard.cli._feedback", "feedback_app"),
    ("eval", "llmguard.cli._eval", "eval_app"),
    ("cost", "llmguard.cli._cost", "cost_app"),
    ("db", "llmguard.cli._db", "db_app"),
    ("worker", "llmguard.cli._worker", "worker_app"),
    ("rollout", "llmguard.cli._rollout", "rollout_app"),
    ("review", "llmguard.cli._review", "review_app"),
    ("drift", "llmguard.cli._drift", "drift_app"),
)
"""(name, module, typer app) of every feature's sub-command group."""

for _name, _module, _attr in SUBCOMMANDS:
    app.add_typer(getattr(importlib.import_module(_module), _attr), name=_name)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmguard {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database: a SQLite file path (default .llmguard/llmguard.db) or a postgresql:// URL.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Config file (pyproject.toml or llmguard.toml) to read settings from."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Shared options; they apply to every sub-command (and are accepted after it too)."""
    ctx.obj = {"json": False, "db": None, "config": None}
    apply_shared(ctx, db=db, config=config, json_output=json_output)


def main() -> None:
    """Console-script entry point; usage errors exit 2 (click's convention)."""
    app()
