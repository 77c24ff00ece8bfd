"""``llmguard db``: the database's schema revision, and migrating it (``upgrade``).

``--db`` (or ``LLMGUARD_DB``, or ``db`` in ``[tool.llmguard]``) selects the database: a SQLite
file (the default ``.llmguard/llmguard.db``) or a ``postgresql://`` URL. Exit codes: 0 ok,
1 ``current --check`` found the schema behind, 2 the database cannot be reached or used.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from llmguard._settings import load_settings
from llmguard.exceptions import LLMGuardError

__all__ = ["db_app", "open_cli_database"]

db_app = typer.Typer(help="The llmguard database: schema revision and migrations.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def open_cli_database(what: str, hint: str = "") -> Any:
    """The configured `Database`, ready to read; exits 2 (naming the fix) when it is missing or unusable.

    Args:
        what: What the command reads, for the message when there is no database yet ("judgments").
        hint: How to start recording it ("enable the ledger: Guard(ledger=True)").
    """
    from llmguard._storage import open_database

    try:
        db = open_database(load_settings({}).db)
    except LLMGuardError as exc:
        raise _fail(str(exc)) from exc
    if db.dialect == "sqlite" and (db.path is None or not db.path.is_file()):
        how = f" ({hint})" if hint else ""
        raise _fail(
            f"no llmguard database at {db.path}: no {what} recorded yet{how}; or pass --db PATH_OR_URL"
        )
    try:
        db.ensure_schema()
    except LLMGuardError as exc:
        raise _fail(str(exc)) from exc
    return db


@db_app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create the llmguard tables, or migrate them to this release's schema (safe to re-run)."""
    from llmguard._storage import _migrate, open_database

    try:
        db = open_database(load_settings({}).db)
        before, after = _migrate.upgrade(db)
    except LLMGuardError as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:  # a driver error: unreachable server, bad credentials
        raise _fail(
            f"database {_display()}: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        ) from exc
    if (ctx.obj or {}).get("json"):
        typer.echo(json.dumps({"database": db.display, "from": before, "to": after}))
    elif before == after:
        typer.echo(f"{db.display}: already at schema revision {after}")
    else:
        typer.echo(f"{db.display}: migrated from {before or '(empty)'} to {after}")


@db_app.command("current")
def current(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when the schema is behind this llmguard.")
    ] = False,
) -> None:
    """Show the database's schema revision and the one this llmguard needs."""
    from llmguard._storage import _migrate, open_database

    try:
        db = open_database(load_settings({}).db)
        rev, head = _migrate.revisions(db)
    except LLMGuardError as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        raise _fail(
            f"database {_display()}: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
        ) from exc
    if (ctx.obj or {}).get("json"):
        typer.echo(json.dumps({"database": db.display, "current": rev, "head": head}))
    else:
        state = "up to date" if rev == head else "behind: run `llmguard db upgrade`"
        typer.echo(f"{db.display}: revision {rev or '(none)'}, this llmguard needs {head} ({state})")
    if check and rev != head:
        raise typer.Exit(1)


def _display() -> str:
    from llmguard._storage import display_url

    try:
        return display_url(load_settings({}).db)
    except LLMGuardError:
        return "(unresolved)"
