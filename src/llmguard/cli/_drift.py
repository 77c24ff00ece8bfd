"""``llmguard drift``: window comparisons of stored input embeddings, and a rule check for cron and CI.

``report`` compares the current window with the baseline for all calls, each prompt and each tag
(a table, or JSON), prints the daily series of the distance over the last ``--days`` days and can
write it as an SVG chart (``--svg``). ``check`` evaluates the rules of ``[tool.llmguard.drift]``
(the default MMD and topic rules when it names none) and exits 0 when nothing fires, 1 when an
alert fires, 2 on a configuration error or a missing store.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from llmguard._settings import load_settings
from llmguard.exceptions import ConfigurationError

__all__ = ["drift_app", "svg_chart"]

drift_app = typer.Typer(help="Input drift: window comparisons and rule checks.", no_args_is_help=True)


class By(StrEnum):
    """Report scopes."""

    all = "all"
    prompt = "prompt"
    tag = "tag"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _config() -> tuple[Any, Any]:
    """(DriftConfig, DriftStore) from the config file (defaults when it has no drift table)."""
    from llmguard._storage._url import resolve_url, sqlite_path
    from llmguard.drift import DriftConfig, DriftStore

    settings = load_settings({})
    table = settings.file_settings.get("drift")
    config = DriftConfig.coerce(table if isinstance(table, dict) else True)
    target = config.store if config.store is not None else settings.db
    path = sqlite_path(resolve_url(target))
    if path is not None and not path.is_file():
        raise ConfigurationError(f"no drift store at {path} (enable drift: Guard(drift=...), or pass --db)")
    store = DriftStore(target, retention_days=None)
    if not store.exists():
        raise ConfigurationError(f"{target} has no drift vectors yet (enable drift: Guard(drift=...))")
    return config, store


def _today(now: str | None) -> date:
    if now is None:
        return datetime.now(UTC).date()
    try:
        return datetime.fromisoformat(now).date()
    except ValueError:
        raise ConfigurationError(f"--now {now!r}: use an ISO date or time (2025-03-20)") from None


def _num(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _row(c: Any) -> dict[str, Any]:
    topics = c.topics
    return {
        "scope": c.scope_label,
        "window": c.window,
        "n_baseline": c.n_baseline,
        "n_current": c.n_current,
        "enough": c.enough,
        "centroid_distance": c.centroid_distance,
        "mmd2": None if c.mmd is None else c.mmd.mmd2,
        "mmd_p": None if c.mmd is None else c.mmd.p_value,
        "topic_tvd": None if topics is None else topics.tvd,
        "topic_p": None if topics is None else topics.p_value,
        "k": None if topics is None else topics.k,
        "grew": [] if topics is None else [_cluster(x, topics.k) for x in topics.grew(2)],
        "shrank": [] if topics is None else [_cluster(x, topics.k) for x in topics.shrank(2)],
    }


def _cluster(shift: Any, k: int) -> dict[str, Any]:
    return {
        "cluster": "new" if shift.cluster == k else shift.cluster,
        "baseline_share": round(shift.baseline_share, 4),
        "current_share": round(shift.current_share, 4),
        "examples": list(shift.examples),
    }


def _moves(row: dict[str, Any]) -> str:
    parts = [
        f"{m['cluster']} {m['baseline_share']:.0%}->{m['current_share']:.0%}"
        for m in (*row["grew"], *row["shrank"])
    ]
    return ", ".join(parts) or "-"


def svg_chart(
    days: list[str], values: list[float | None], *, title: str, width: int = 640, height: int = 240
) -> str:
    """A small self-contained SVG line chart of ``values`` per day (gaps where None)."""
    left, right, top, bottom = 48, 12, 28, 36
    known = [v for v in values if v is not None]
    top_value = max([*known, 1e-9])
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(days) - 1, 1)

    def point(i: int, v: float) -> str:
        return f"{left + i * step:.1f},{top + plot_h - (v / top_value) * plot_h:.1f}"

    segments: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            segments.append([])
        else:
            segments[-1].append(point(i, v))
    lines = "".join(
        f'<polyline fill="none" stroke="#3f51b5" stroke-width="2" points="{" ".join(s)}"/>'
        for s in segments
        if s
    )
    dots = "".join(
        f'<circle cx="{point(i, v).split(",")[0]}" cy="{point(i, v).split(",")[1]}" r="3" fill="#3f51b5"/>'
        for i, v in enumerate(values)
        if v is not None
    )
    labels = "".join(
        f'<text x="{left + i * step:.1f}" y="{height - 12}" font-size="10" text-anchor="middle">{d[5:]}</text>'
        for i, d in enumerate(days)
    )
    axes = (
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>'
        f'<text x="{left - 4}" y="{top + 4}" font-size="10" text-anchor="end">{top_value:.3g}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{left}" y="18" font-size="13" font-family="sans-serif">{_escape(title)}</text>'
        f"{axes}{lines}{dots}{labels}</svg>\n"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@drift_app.command()
def report(
    ctx: typer.Context,
    by: Annotated[
        list[By] | None, typer.Option("--by", help="Scopes: all, prompt, tag (repeatable).")
    ] = None,
    days: Annotated[int, typer.Option("--days", min=0, help="Days of daily series (0: none).")] = 14,
    svg: Annotated[Path | None, typer.Option("--svg", help="Write the series as an SVG chart here.")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Report as of this UTC date.")] = None,
) -> None:
    """Compare the current window with the baseline per scope, with the distance over time."""
    from llmguard.drift import CompareOptions, drift_report

    try:
        config, store = _config()
        today = _today(now)
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None
    options = CompareOptions(
        permutations=config.permutations, max_samples=config.max_samples, seed=config.seed
    )
    result = drift_report(
        store,
        today,
        current_days=config.current_days,
        baseline_days=config.baseline_days,
        baseline=config.baseline_dates(),
        by=[b.value for b in by or list(By)],
        series_days=days,
        options=options,
    )
    store.close()
    rows = [_row(c) for c in result.comparisons]
    series = [_row(c) for c in result.series]
    series_days = [(today - timedelta(days=len(series) - 1 - i)).isoformat() for i in range(len(series))]
    if svg is not None and series:
        svg.write_text(
            svg_chart(
                series_days,
                [s["mmd2"] for s in series],
                title="llmguard input drift: MMD² per day vs baseline",
            ),
            encoding="utf-8",
        )
    if ctx.obj and ctx.obj.get("json"):
        payload = {
            "windows": _windows(result.windows),
            "rows": rows,
            "series": dict(zip(series_days, series, strict=True)),
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    _print(rows, series, series_days, result.windows)
    if svg is not None and series:
        typer.echo(f"chart written to {svg}")


def _windows(w: Any) -> dict[str, str]:
    return {
        "baseline": f"{w.baseline_start}..{w.baseline_end - timedelta(days=1)}",
        "current": f"{w.current_start}..{w.current_end - timedelta(days=1)}",
    }


def _print(rows: list[dict[str, Any]], series: list[dict[str, Any]], days: list[str], windows: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from ._cost import sparkline

    span = _windows(windows)
    table = Table(title=f"llmguard input drift: current {span['current']} vs baseline {span['baseline']}")
    for column in (
        "scope",
        "baseline",
        "current",
        "centroid dist",
        "MMD²",
        "p",
        "topic TVD",
        "p",
        "clusters moved",
    ):
        table.add_column(column, justify="left" if column in ("scope", "clusters moved") else "right")
    for r in rows:
        if not r["enough"]:
            table.add_row(
                r["scope"], str(r["n_baseline"]), str(r["n_current"]), "too few samples", "", "", "", "", ""
            )
            continue
        table.add_row(
            r["scope"], str(r["n_baseline"]), str(r["n_current"]), _num(r["centroid_distance"]),
            _num(r["mmd2"]), _num(r["mmd_p"], ".3g"), _num(r["topic_tvd"], ".3f"), _num(r["topic_p"], ".3g"),
            _moves(r),
        )  # fmt: skip
    console = Console()
    console.print(table)
    if series:
        values = [s["mmd2"] for s in series]
        known = [max(v, 0.0) if v is not None else 0.0 for v in values]
        console.print(
            f"MMD² per day {sparkline(known)}  ({days[0]}..{days[-1]}; blank days had too few samples)"
        )


@drift_app.command()
def check(
    ctx: typer.Context,
    now: Annotated[str | None, typer.Option("--now", help="Evaluate as of this UTC date.")] = None,
) -> None:
    """Evaluate the drift rules: exit 0 ok, 1 alert, 2 configuration error or no store."""
    from llmguard.drift import CompareOptions, evaluate_drift

    try:
        config, store = _config()
        today = _today(now)
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None
    moment = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    alerts = evaluate_drift(
        store,
        config.rules,
        now=moment,
        current_days=config.current_days,
        baseline_days=config.baseline_days,
        baseline=config.baseline_dates(),
        options=CompareOptions(
            permutations=config.permutations, max_samples=config.max_samples, seed=config.seed
        ),
    )
    store.close()
    if ctx.obj and ctx.obj.get("json"):
        from ._cost import _alert_json

        typer.echo(json.dumps({"ok": not alerts, "alerts": [_alert_json(a) for a in alerts]}, indent=2))
    else:
        for alert in alerts:
            typer.echo(f"ALERT [{alert.severity}] {alert.message}")
        if not alerts:
            typer.echo(f"ok: {len(config.rules)} drift rules checked, nothing fired")
    raise typer.Exit(1 if alerts else 0)
