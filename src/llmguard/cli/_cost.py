"""``llmguard cost``: reports over the call ledger and a budget/anomaly check for cron and CI.

``report`` groups the ledger by day, model, prompt, service, or the call context's user, session
or tag (a table with a sparkline of daily cost, or CSV/JSON). By tag, a call counts under each of
its tags (so the rows may add up to more than the total spend); calls without one show as ``-``. ``check`` evaluates the configured rules and budgets
(``[tool.llmguard.budgets]``) and exits 0 when nothing fires, 1 when an alert fires, 2 on a
configuration error or a missing ledger.

Unknown is never zero: a group whose calls all lack a price shows ``unpriced`` (JSON ``null``),
and the totals say how many calls were unpriced, so a sum of known costs is never read as the
whole bill.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from llmguard._settings import load_settings
from llmguard.cost._alerts import evaluate_alerts
from llmguard.cost._config import policy_from_table
from llmguard.cost._ledger import NANOS, TABLE, SQLiteLedger
from llmguard.exceptions import ConfigurationError

from ._db import open_cli_database

__all__ = ["cost_app", "sparkline"]

cost_app = typer.Typer(help="Cost ledger reports and budget/anomaly checks.", no_args_is_help=True)

_BARS = "▁▂▃▄▅▆▇█"
_GROUPS = {
    "day": "day",
    "model": "COALESCE(model, requested_model, '-')",
    "prompt": "COALESCE(prompt_name, '-')",
}
_GROUPS["service"] = "service"
_GROUPS["user"] = "COALESCE(user_id, '-')"
_GROUPS["session"] = "COALESCE(session_id, '-')"
_GROUPS["tag"] = "COALESCE(g.value, '-')"
_GROUPS["kind"] = "kind"


class By(StrEnum):
    """Report grouping."""

    day = "day"
    model = "model"
    prompt = "prompt"
    service = "service"
    user = "user"
    session = "session"
    tag = "tag"
    kind = "kind"


class Format(StrEnum):
    """Report output format."""

    table = "table"
    csv = "csv"
    json = "json"


def sparkline(values: list[float]) -> str:
    """A one-line bar chart of ``values`` (empty string for no values)."""
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(int(v / top * (len(_BARS) - 1) + 0.5), len(_BARS) - 1)] for v in values)


def _since(value: str | None) -> date:
    today = datetime.now(UTC).date()
    if value is None:
        return today - timedelta(days=29)
    match = re.fullmatch(r"(\d+)d", value.strip())
    if match:
        return today - timedelta(days=int(match.group(1)) - 1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(f"--since {value!r}: use a date (2025-03-01) or a day count (30d)") from None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _ledger() -> SQLiteLedger:
    db = open_cli_database("cost ledger rows", "enable the ledger: Guard(ledger=True)")
    return SQLiteLedger(db, retention_days=None)


def _rows(ledger: SQLiteLedger, by: By, since: date) -> list[dict[str, Any]]:
    key = _GROUPS[by.value]
    tag_join = f" LEFT JOIN {ledger.db.json_elements(TABLE + '.tags', 'g')} ON 1 = 1"
    sql = (
        f"SELECT {key} AS k, COUNT(*), COUNT(cost_nanos), COALESCE(SUM(cost_nanos), 0), "
        "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
        "SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) "
        f"FROM {TABLE}{tag_join if by is By.tag else ''} WHERE day >= ? GROUP BY k ORDER BY "
        + ("k" if by is By.day else "4 DESC, k")
    )
    out = []
    for k, calls, priced, nanos, tin, tout, errors in ledger.query(sql, [since.isoformat()]):
        out.append(
            {
                by.value: k,
                "calls": calls,
                "unpriced": calls - priced,
                "input_tokens": tin,
                "output_tokens": tout,
                "errors": errors,
                "cost_usd": round(nanos / NANOS, 6) if priced else None,
            }
        )
    return out


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Calls, unpriced calls and the known cost (None when no call was priced)."""
    calls = sum(r["calls"] for r in rows)
    unpriced = sum(r["unpriced"] for r in rows)
    known = [r["cost_usd"] for r in rows if r["cost_usd"] is not None]
    return {"calls": calls, "unpriced": unpriced, "cost_usd": round(sum(known), 6) if known else None}


def _usd(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.4f}"


def _daily(ledger: SQLiteLedger, since: date) -> list[float | None]:
    """Cost per day since the first day with calls: 0.0 for a day without calls, None when unpriced."""
    rows = dict(
        ledger.query(
            f"SELECT day, SUM(cost_nanos) FROM {TABLE} WHERE day >= ? GROUP BY day", [since.isoformat()]
        )
    )
    today = datetime.now(UTC).date()
    first = max(since, date.fromisoformat(min(rows))) if rows else today
    days = [(first + timedelta(days=i)).isoformat() for i in range((today - first).days + 1)]
    return [(None if rows[d] is None else rows[d] / NANOS) if d in rows else 0.0 for d in days]


def _print_table(rows: list[dict[str, Any]], by: By, daily: list[float | None]) -> None:
    console = Console()
    table = Table(title=f"llmguard cost by {by.value}")
    for column in (by.value, "calls", "unpriced", "input tokens", "output tokens", "errors", "cost (USD)"):
        table.add_column(column, justify="left" if column == by.value else "right")
    for row in rows:
        values = list(row.values())
        table.add_row(str(values[0]), *(f"{v:,}" for v in values[1:6]), _usd(row["cost_usd"]))
    totals = _totals(rows)
    table.add_section()
    table.add_row(
        "total", f"{totals['calls']:,}", f"{totals['unpriced']:,}", "", "", "", _usd(totals["cost_usd"])
    )
    console.print(table)
    if totals["unpriced"]:
        console.print(
            f"{totals['unpriced']:,} of {totals['calls']:,} calls unpriced (no known price for the model): "
            "their cost is unknown and not in the total; add prices with Guard(prices=...)"
        )
    if daily:
        known = [d or 0.0 for d in daily]
        console.print(f"daily cost {sparkline(known)}  (last {len(daily)} days, max ${max(known):,.2f}/day)")


@cost_app.command()
def report(
    ctx: typer.Context,
    by: Annotated[
        By,
        typer.Option(
            "--by",
            help="Group by day, model, prompt, service, user, session, tag or kind (app, judge, drift spend).",
        ),
    ] = By.day,
    since: Annotated[
        str | None, typer.Option("--since", help="Start date (2025-03-01) or days back (30d).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = Format.table,
) -> None:
    """Spend, calls and tokens from the ledger, grouped, with a sparkline of daily cost."""
    try:
        start = _since(since)
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None
    if ctx.obj and ctx.obj.get("json"):
        fmt = Format.json
    ledger = _ledger()
    try:
        rows = _rows(ledger, by, start)
        daily = _daily(ledger, start)
    finally:
        ledger.close()
    if fmt is Format.json:
        typer.echo(
            json.dumps(
                {
                    "by": by.value,
                    "since": start.isoformat(),
                    "rows": rows,
                    "totals": _totals(rows),
                    "daily_cost": daily,
                },
                indent=2,
            )
        )
    elif fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer,
            fieldnames=[by.value, "calls", "unpriced", "input_tokens", "output_tokens", "errors", "cost_usd"],
        )
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        _print_table(rows, by, daily)


@cost_app.command()
def check(
    ctx: typer.Context,
    now: Annotated[str | None, typer.Option("--now", help="Evaluate as of this UTC time (ISO 8601).")] = None,
) -> None:
    """Evaluate the configured budgets and anomaly rules: exit 0 ok, 1 alert, 2 configuration error."""
    try:
        settings = load_settings({})
        table = settings.file_settings.get("budgets")
        if not isinstance(table, dict):
            raise ConfigurationError("no [tool.llmguard.budgets] table with limits or rules to check")
        policy = policy_from_table(table)
        if policy.empty:
            raise ConfigurationError("[tool.llmguard.budgets] has no limits or rules to check")
        moment = datetime.fromisoformat(now).replace(tzinfo=UTC) if now else None
    except (ConfigurationError, ValueError) as exc:
        raise _fail(str(exc)) from None
    ledger = _ledger()
    try:
        alerts = evaluate_alerts(ledger, policy.rules, policy.budgets, now=moment)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        ledger.close()
    if ctx.obj and ctx.obj.get("json"):
        typer.echo(json.dumps({"ok": not alerts, "alerts": [_alert_json(a) for a in alerts]}, indent=2))
    else:
        for alert in alerts:
            typer.echo(f"ALERT [{alert.severity}] {alert.message}")
        if not alerts:
            typer.echo(
                f"ok: {len(policy.rules)} rules and {len(policy.budgets)} budgets checked, nothing fired"
            )
    raise typer.Exit(1 if alerts else 0)


def _alert_json(alert: Any) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "kind": alert.kind,
        "series": alert.series,
        "window": alert.window,
        "value": alert.value,
        "threshold": alert.threshold,
        "severity": alert.severity,
        "message": alert.message,
        "scope": dict(alert.scope),
    }
