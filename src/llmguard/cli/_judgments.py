"""``llmguard judgments``: recent judgment results and a summary by prompt version and judge.

Reads the judging sink's table in the llmguard database (``--db``, ``LLMGUARD_DB`` or the
configured ``db``: a SQLite file or a PostgreSQL URL). Exit codes: 0 ok, 2 when the database cannot be read.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from llmguard.exceptions import LLMGuardError

from ._db import open_cli_database

__all__ = ["judgments_app", "recent", "summary"]

judgments_app = typer.Typer(help="Inspect judgments of sampled calls.", no_args_is_help=True)

_SUMMARY_SQL = """
SELECT prompt_name, prompt_version, judge, COUNT(*) AS count,
       AVG(score) AS mean_score, AVG(normalized) AS mean_normalized,
       AVG(passed) AS pass_rate, SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END) AS errored
FROM llmguard_judgments {where}
GROUP BY prompt_name, prompt_version, judge
ORDER BY prompt_name, prompt_version, judge
"""


def _query(sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    from sqlalchemy import text

    db = open_cli_database("judgments")
    try:
        with db.read() as conn:
            result = conn.execute(text(sql), {f"p{i}": v for i, v in enumerate(params)})
            names = list(result.keys())
            return [dict(zip(names, row, strict=True)) for row in result]
    except LLMGuardError as exc:
        typer.echo(f"error: {db.display}: cannot read judgments ({exc})", err=True)
        raise typer.Exit(2) from exc


def _filters(judge: str | None, prompt: str | None) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if judge:
        clauses.append(f"judge = :p{len(params)}")
        params.append(judge)
    if prompt:
        clauses.append(f"prompt_name = :p{len(params)}")
        params.append(prompt)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def recent(limit: int = 20, judge: str | None = None, prompt: str | None = None) -> list[dict[str, Any]]:
    """The most recent judgments, newest first."""
    where, params = _filters(judge, prompt)
    sql = (
        "SELECT created_ns, call_id, prompt_name, prompt_version, judge, status, score, label, passed, "
        f"error_type, fingerprint FROM llmguard_judgments {where} ORDER BY id DESC LIMIT :p{len(params)}"
    )
    return _query(sql, (*params, limit))


def summary(judge: str | None = None, prompt: str | None = None) -> list[dict[str, Any]]:
    """Mean score, pass rate and count per (prompt name, prompt version, judge)."""
    where, params = _filters(judge, prompt)
    return _query(_SUMMARY_SQL.format(where=where), params)


def _show(ctx: typer.Context, rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    if (ctx.obj or {}).get("json"):
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


JudgeOpt = Annotated[str | None, typer.Option("--judge", help="Only this judge.")]
PromptOpt = Annotated[str | None, typer.Option("--prompt", help="Only this prompt name.")]


@judgments_app.command("list")
def list_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many results.")] = 20,
    judge: JudgeOpt = None,
    prompt: PromptOpt = None,
) -> None:
    """List recent judgment results, newest first."""
    rows = recent(limit, judge, prompt)
    columns = ["call_id", "prompt_name", "prompt_version", "judge", "status", "score", "label", "error_type"]
    _show(ctx, rows, columns, "Recent judgments")


@judgments_app.command("summary")
def summary_command(ctx: typer.Context, judge: JudgeOpt = None, prompt: PromptOpt = None) -> None:
    """Mean score, pass rate and count by prompt version and judge."""
    columns = ["prompt_name", "prompt_version", "judge", "count", "mean_score", "pass_rate", "errored"]
    _show(ctx, summary(judge, prompt), columns, "Judgments by prompt version and judge")
