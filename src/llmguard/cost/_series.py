"""Daily series read from the ledger and, when present, the judging and feedback tables.

Ledger series: ``cost`` (USD), ``calls``, ``tokens`` (input + output), ``p95_latency``
(seconds), ``error_rate`` and ``refusal_rate`` (provider-reported refusals and content
filters). Quality series: ``judge_score`` (mean normalized score, any judge or ``where={"judge":
...}``), ``judge_refusal_rate`` (failed ``no_refusal`` judgments) and ``thumbs_down_rate``
(negative ``thumbs`` feedback). A table that does not exist yields an empty series.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from llmguard._storage._sql import Dialect, dialect_of, json_array_has, json_get, json_key_param

from ._ledger import NANOS, TABLE, Ledger, SQLiteLedger
from ._rules import Series

__all__ = [
    "LEDGER_SERIES",
    "METADATA_PREFIX",
    "QUALITY_SERIES",
    "SERIES",
    "load_series",
    "metadata_path",
    "where_sql",
]

_AGGREGATES: dict[str, tuple[str, bool]] = {
    "cost": (f"SUM(cost_nanos) / {float(NANOS)}, COUNT(cost_nanos)", True),
    "calls": ("COUNT(*), COUNT(*)", True),
    "tokens": ("SUM(COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)), COUNT(*)", True),
    "error_rate": ("AVG(status = 'error'), COUNT(*)", False),
    "refusal_rate": ("AVG(refused), COUNT(*)", False),
}
LEDGER_SERIES: tuple[str, ...] = (*_AGGREGATES, "p95_latency")
"""Series read from the ledger alone."""
QUALITY_SERIES: tuple[str, ...] = ("judge_score", "judge_refusal_rate", "thumbs_down_rate")
"""Series read from the judging and feedback tables (empty when they do not exist)."""
DRIFT_SERIES: tuple[str, ...] = ("drift_centroid_distance",)
"""Series read from the drift store: each day's inputs against the trailing 7 days (empty without it)."""
SERIES: tuple[str, ...] = LEDGER_SERIES + QUALITY_SERIES + DRIFT_SERIES
"""Every series name a rule can watch."""

_LEDGER_KEYS = {"service", "environment", "provider", "model", "requested_model", "response_model", "kind"}
_LEDGER_KEYS |= {"prompt", "prompt_version", "status", "user", "session"}
METADATA_PREFIX = "metadata."
"""Ledger filter keys ``metadata.<key>`` match the call context's metadata."""

JUDGMENT_TABLES = ("llmguard_judgments", "judgments")
FEEDBACK_TABLES = ("llmguard_feedback", "feedback")


def where_sql(
    where: Mapping[str, str], alias: str = "", dialect: Dialect = "sqlite"
) -> tuple[str, list[Any]]:
    """SQL conditions (joined with AND, leading ``AND``) for a ledger ``where`` mapping.

    Besides the ledger's columns, ``user`` and ``session`` match the call context's ids, ``tag``
    matches a call carrying that tag, and ``metadata.<key>`` a call whose metadata has that value.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in sorted(where.items()):
        if key == "model":
            clauses.append(f"({alias}model = ? OR {alias}requested_model = ?)")
            params += [value, value]
        elif key == "tag":
            clause, bind = json_array_has(dialect, f"{alias}tags")
            clauses.append(clause)
            params.append(bind(value))
        elif key.startswith(METADATA_PREFIX) and len(key) > len(METADATA_PREFIX):
            clauses.append(f"{json_get(dialect, alias + 'metadata')} = ?")
            params += [json_key_param(dialect, key[len(METADATA_PREFIX) :]), value]
        elif key in _LEDGER_KEYS:
            column = {"prompt": "prompt_name", "user": "user_id", "session": "session_id"}.get(key, key)
            clauses.append(f"{alias}{column} = ?")
            params.append(value)
        else:
            valid = ", ".join(sorted({*_LEDGER_KEYS, "tag", "metadata.<key>"}))
            raise ValueError(f"unknown ledger filter {key!r}; valid: {valid}")
    return "".join(f" AND {c}" for c in clauses), params


def metadata_path(key: str) -> str:
    """The JSON path of a metadata key (keys are restricted to letters, digits, ``_ . -``)."""
    return '$."' + key.replace('"', "") + '"'


def load_series(ledger: Ledger, name: str, since: date, where: Mapping[str, str] | None = None) -> Series:
    """The daily series ``name`` from ``since`` on, filtered by ``where``."""
    where = dict(where or {})
    if name in _AGGREGATES:
        return _aggregate(ledger, name, since, where)
    if name == "p95_latency":
        return _p95(ledger, since, where)
    if name in DRIFT_SERIES:
        return _drift(ledger, name, since, where)
    if name in QUALITY_SERIES:
        return _quality(ledger, name, since, where)
    raise ValueError(f"unknown series {name!r}; valid: {', '.join(SERIES)}")


def _first_day(ledger: Ledger, where: Mapping[str, str]) -> date | None:
    cond, params = where_sql(where, dialect=dialect_of(ledger))
    row = ledger.query(f"SELECT MIN(day) FROM {TABLE} WHERE 1 = 1{cond}", params)
    return date.fromisoformat(row[0][0]) if row and row[0][0] else None


def _aggregate(ledger: Ledger, name: str, since: date, where: Mapping[str, str]) -> Series:
    select, additive = _AGGREGATES[name]
    cond, params = where_sql(where, dialect=dialect_of(ledger))
    rows = ledger.query(
        f"SELECT day, {select} FROM {TABLE} WHERE day >= ?{cond} GROUP BY day", [since.isoformat(), *params]
    )
    values = {date.fromisoformat(d): float(v) for d, v, _ in rows if v is not None}
    counts = {date.fromisoformat(d): int(c) for d, _, c in rows}
    return Series(name, values, counts, additive, _first_day(ledger, where))


def _p95(ledger: Ledger, since: date, where: Mapping[str, str]) -> Series:
    cond, params = where_sql(where, dialect=dialect_of(ledger))
    rows = ledger.query(
        f"SELECT day, duration_s FROM {TABLE} WHERE day >= ?{cond}", [since.isoformat(), *params]
    )
    by_day: dict[date, list[float]] = defaultdict(list)
    for day, duration in rows:
        by_day[date.fromisoformat(day)].append(float(duration))
    values = {day: percentile(xs, 0.95) for day, xs in by_day.items()}
    counts = {day: len(xs) for day, xs in by_day.items()}
    return Series("p95_latency", values, counts, False, _first_day(ledger, where))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def _columns(ledger: Ledger, table: str) -> set[str]:
    if isinstance(ledger, SQLiteLedger):
        return ledger.columns(table)
    return set()


def _find_table(ledger: Ledger, candidates: tuple[str, ...]) -> tuple[str, set[str]] | None:
    for table in candidates:
        columns = _columns(ledger, table)
        if columns:
            return table, columns
    return None


def _pick(columns: set[str], *candidates: str) -> str | None:
    return next((c for c in candidates if c in columns), None)


def _quality(ledger: Ledger, name: str, since: date, where: Mapping[str, str]) -> Series:
    empty = Series(name, {}, {}, False, None)
    if name == "thumbs_down_rate":
        found = _find_table(ledger, FEEDBACK_TABLES)
        if found is None or "call_id" not in found[1]:
            return empty
        table, cols = found
        value = (
            "q.negative"
            if "negative" in cols
            else "LOWER(CAST(q.value AS TEXT)) IN ('0', '-1', 'false', 'down')"
        )
        filters, fparams = (" AND q.name = ?", [where.get("name", "thumbs")])
    else:
        found = _find_table(ledger, JUDGMENT_TABLES)
        if found is None or "call_id" not in found[1]:
            return empty
        table, cols = found
        judge = _pick(cols, "judge", "judge_name", "name")
        if name == "judge_score":
            value = f"q.{_pick(cols, 'normalized', 'score')}"
            filters, fparams = (
                (f" AND q.{judge} = ?", [where["judge"]]) if "judge" in where and judge else ("", [])
            )
        else:
            value = "CASE WHEN q.passed THEN 0 ELSE 1 END" if "passed" in cols else "1 - q.score"
            filters, fparams = (
                (f" AND q.{judge} = ?", [where.get("judge", "no_refusal")]) if judge else ("", [])
            )
    ledger_where = {k: v for k, v in where.items() if k not in ("judge", "name")}
    cond, params = where_sql(ledger_where, "l.", dialect_of(ledger))
    sql = (
        f"SELECT l.day, AVG({value}), COUNT(*) FROM {table} q JOIN {TABLE} l ON l.call_id = q.call_id "
        f"WHERE l.day >= ?{filters}{cond} GROUP BY l.day"
    )
    rows = ledger.query(sql, [since.isoformat(), *fparams, *params])
    values = {date.fromisoformat(d): float(v) for d, v, _ in rows if v is not None}
    counts = {date.fromisoformat(d): int(c) for d, _, c in rows}
    return Series(name, values, counts, False, min(values) if values else None)


def _drift(ledger: Ledger, name: str, since: date, where: Mapping[str, str]) -> Series:
    """The cosine distance of each day's input centroid from the trailing 7 days' (``prompt``/``tag`` filters).

    Empty when the drift extra is not installed or the ledger's database holds no vectors.
    """
    empty = Series(name, {}, {}, False, None)
    unknown = set(where) - {"prompt", "tag"}
    if unknown:
        raise ValueError(f"drift series filter {sorted(unknown)[0]!r}: use prompt or tag")
    db = getattr(ledger, "db", None)
    if db is None:
        return empty
    from llmguard.drift._deps import require_drift_extra
    from llmguard.exceptions import ConfigurationError

    try:
        require_drift_extra()
    except ConfigurationError:
        return empty
    from llmguard.drift._compare import CompareOptions
    from llmguard.drift._report import drift_series
    from llmguard.drift._store import DriftStore

    store = DriftStore(db, retention_days=None)
    if not store.exists():
        return empty
    today = datetime.now(UTC).date()
    days = [since + timedelta(days=i) for i in range((today - since).days + 1)]
    options = CompareOptions(mmd=False, topics=False)
    found = drift_series(store, days, prompt=where.get("prompt"), tag=where.get("tag"), options=options)
    values = {
        d: c.centroid_distance for d, c in zip(days, found, strict=True) if c.centroid_distance is not None
    }
    counts = {d: c.n_current for d, c in zip(days, found, strict=True)}
    return Series(name, values, counts, False, min(values) if values else None)
