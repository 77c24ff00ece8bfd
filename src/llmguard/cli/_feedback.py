"""``llmguard feedback``: export, summarise, and turn negative feedback into dataset candidates.

``export`` writes every row as CSV or JSONL; ``summary`` groups by prompt version and model;
``export --candidates`` writes negatively rated calls as golden-dataset cases for human review.

Exit codes: 0 ok, 2 usage or data error (no database, unknown format).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from llmguard._feedback._sqlite import COLUMNS, TABLE, rows_source

from ._db import open_cli_database

__all__ = ["candidate_case", "feedback_app", "summary_rows"]

feedback_app = typer.Typer(help="Export and summarise user feedback.", no_args_is_help=True)

EXPORT_COLUMNS = ("id", *COLUMNS, "revisions")
SUMMARY_SQL = f"""
SELECT prompt_name, prompt_version, model, COUNT(*) AS count,
       AVG(CASE WHEN value_type = 'numeric' THEN score END) AS mean_rating,
       SUM(CASE WHEN value_type = 'numeric' THEN 1 ELSE 0 END) AS ratings,
       AVG(CASE WHEN value_type = 'boolean' THEN score END) AS thumbs_up_rate,
       SUM(CASE WHEN value_type = 'boolean' THEN 1 ELSE 0 END) AS thumbs,
       SUM(negative) AS negative
FROM {TABLE}
GROUP BY prompt_name, prompt_version, model
ORDER BY prompt_name, prompt_version, model
"""


@contextmanager
def _open_db() -> Iterator[Any]:
    db = open_cli_database("feedback")
    with db.read() as conn:
        yield conn


def _rows(conn: Any, sql: str, **params: Any) -> Iterator[dict[str, Any]]:
    from sqlalchemy import text

    for row in conn.execute(text(sql), params).mappings():
        yield dict(row)


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle


def summary_rows(conn: Any) -> list[dict[str, Any]]:
    """Counts, mean rating and thumbs-up rate per (prompt name, prompt version, model)."""
    return list(_rows(conn, SUMMARY_SQL))


def _last_user_text(inputs: Any) -> str | None:
    messages = inputs.get("messages") if isinstance(inputs, dict) else None
    if isinstance(inputs, dict) and isinstance(inputs.get("input"), str):
        return str(inputs["input"])
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return None


def candidate_case(row: dict[str, Any]) -> dict[str, Any]:
    """A golden-dataset candidate (``id``, ``input``, ``expected_output`` left empty, ``tags``) from a feedback row."""
    data = dict(row)
    content = json.loads(data["content"]) if data.get("content") else None
    inputs = content.get("input") if content else None
    tags = ["user_feedback", "negative", f"feedback:{data['name']}"]
    if data.get("prompt_name"):
        tags.append(f"prompt:{data['prompt_name']}@{data.get('prompt_version')}")
    if data.get("model"):
        tags.append(f"model:{data['model']}")
    if content is None:
        tags.append("content_unavailable")
    return {
        "id": f"feedback-{data['call_id']}-{data['name']}",
        "input": _last_user_text(inputs) if inputs else None,
        "expected_output": "",
        "tags": tags,
        "metadata": {
            "call_id": data["call_id"],
            "trace_id": data.get("trace_id"),
            "request": inputs,
            "output": content.get("output") if content else None,
            "feedback_value": json.loads(data["value_json"]),
            "comment": data.get("comment"),
        },
    }


@feedback_app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or jsonl.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default stdout).")
    ] = None,
    candidates: Annotated[
        bool,
        typer.Option(
            "--candidates", help="Write negatively rated calls as golden-dataset candidates (JSONL)."
        ),
    ] = False,
    max_rating: Annotated[
        float | None,
        typer.Option("--max-rating", help="With --candidates, also count ratings <= this value as negative."),
    ] = None,
) -> None:
    """Export every feedback row (CSV or JSONL), or golden-dataset candidates with --candidates.

    Negative means a thumbs-down, a rating <= 0 or a negative category (``bad``, ``wrong``...);
    ``--max-rating 2`` also takes ratings of 2 or less.
    """
    if fmt not in ("csv", "jsonl"):
        typer.echo(f"error: --format {fmt!r}: use csv or jsonl", err=True)
        raise typer.Exit(2)
    with _open_db() as conn, _output(output) as out:
        if candidates:
            rows = _rows(
                conn,
                f"SELECT * FROM {rows_source()} WHERE source <> 'review' "  # reviews: `llmguard eval refresh`
                "AND (negative = 1 OR (value_type = 'numeric' AND score <= :top)) "
                "ORDER BY id",
                top=max_rating if max_rating is not None else float("-inf"),
            )
            for row in rows:
                out.write(json.dumps(candidate_case(row), ensure_ascii=False) + "\n")
            return
        cursor = _rows(conn, f"SELECT {', '.join(EXPORT_COLUMNS)} FROM {rows_source()} ORDER BY id")
        if fmt == "csv":
            writer = csv.writer(out)
            writer.writerow(EXPORT_COLUMNS)
            writer.writerows(tuple(row[c] for c in EXPORT_COLUMNS) for row in cursor)
        else:
            for row in cursor:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")


@feedback_app.command("summary")
def summary(ctx: typer.Context) -> None:
    """Feedback counts, mean rating and thumbs-up rate by prompt version and model."""
    with _open_db() as conn:
        rows = summary_rows(conn)
    if ctx.obj and ctx.obj.get("json"):
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="llmguard feedback")
    for column in ("prompt", "version", "model", "count", "mean rating", "thumbs-up rate", "negative"):
        table.add_column(column, justify="right" if column not in ("prompt", "version", "model") else "left")
    for row in rows:
        rating = "-" if row["mean_rating"] is None else f"{row['mean_rating']:.2f} (n={row['ratings']})"
        thumbs = "-" if row["thumbs_up_rate"] is None else f"{row['thumbs_up_rate']:.0%} (n={row['thumbs']})"
        table.add_row(
            row["prompt_name"] or "-", row["prompt_version"] or "-", row["model"] or "-",
            str(row["count"]), rating, thumbs, str(row["negative"]),
        )  # fmt: skip
    Console(width=120).print(table)
