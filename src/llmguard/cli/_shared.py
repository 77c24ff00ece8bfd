"""The shared options ``--db``, ``--config`` and ``--json``: accepted before or after the sub-command.

``llmguard --db x feedback export`` and ``llmguard feedback export --db x`` mean the same. The
root group adds the three options to every sub-group and command under it (unless a command
declares its own option of that name), and both places apply them through `apply_shared`.
The options are built by typer from a template function, so this works whichever click
(installed or vendored by typer) the installed typer uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from llmguard import _env

__all__ = ["SharedOptionsGroup", "apply_shared", "typed_errors"]


def apply_shared(ctx: typer.Context, *, db: str | None, config: Path | None, json_output: bool) -> None:
    """Record the shared options in ``ctx.obj`` and the environment the features read.

    Raises:
        typer.Exit: ``--config`` names no file (exit 2, a usage error).
    """
    obj = ctx.ensure_object(dict)
    obj.setdefault("json", False)
    obj.setdefault("db", None)
    obj.setdefault("config", None)
    if db is not None:
        os.environ[_env.LLMGUARD_DB] = str(db)
        obj["db"] = db
    if config is not None:
        if not config.is_file():
            typer.echo(f"error: --config {config}: no such file", err=True)
            raise typer.Exit(2)
        os.environ[_env.LLMGUARD_CONFIG] = str(config)
        obj["config"] = config
    if json_output:
        obj["json"] = True


def _on_db(ctx: typer.Context, value: str | None) -> None:
    apply_shared(ctx, db=value, config=None, json_output=False)


def _on_config(ctx: typer.Context, value: Path | None) -> None:
    apply_shared(ctx, db=None, config=value, json_output=False)


def _on_json(ctx: typer.Context, value: bool) -> None:
    apply_shared(ctx, db=None, config=None, json_output=value)


def _template(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            callback=_on_db,
            expose_value=False,
            help="Database: a SQLite file path or a postgresql:// URL.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", callback=_on_config, expose_value=False, help="Config file to read settings from."
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option("--json", callback=_on_json, expose_value=False, help="Machine-readable JSON output."),
    ] = False,
) -> None:
    """Carries the shared options (never run)."""


_TEMPLATE = typer.Typer(add_completion=False)
_TEMPLATE.command()(_template)
_SHARED = frozenset({"--db", "--config", "--json"})


def _shared_options() -> list[Any]:
    """Fresh option objects (one set per command) that apply themselves and pass no value on."""
    return [p for p in typer.main.get_command(_TEMPLATE).params if set(p.opts) & _SHARED]


def _add_shared(command: Any) -> None:
    taken = {opt for param in command.params for opt in param.opts}
    command.params.extend(o for o in _shared_options() if not taken & set(o.opts))
    for sub in (getattr(command, "commands", None) or {}).values():
        _add_shared(sub)


class SharedOptionsGroup(TyperGroup):
    """The root group: gives every sub-group and command the shared options too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            _add_shared(command)


@contextmanager
def typed_errors() -> Iterator[None]:
    """Inside it, a `llmguard.LLMGuardError` prints ``error: <message>`` on stderr and exits 2."""
    from rich.console import Console

    from llmguard.exceptions import LLMGuardError

    try:
        yield
    except LLMGuardError as exc:
        Console(stderr=True, highlight=False).print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
