"""Guard-metric samples per arm, read from the data llmguard already stores (SQLAlchemy Core).

The ledger (``cost_ledger``: errors, refusals, cost, latency), judgments (``llmguard_judgments``:
judge scores) and feedback (``llmguard_feedback``: thumbs-down) all carry the prompt name and
version of the call. The stored rows have no arm column: the arm is derived from
``prompt_version``, which always differs between stable and candidate (a model rollout serves a
derived candidate version, see `Rollouts.start`). Queries are portable SQL over lightweight
table clauses, so the same code reads SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol, runtime_checkable

from ._stats import Samples

__all__ = ["MetricSource", "SQLMetrics"]

_NANOS = 1_000_000_000


@runtime_checkable
class MetricSource(Protocol):
    """Where a check reads its samples."""

    def samples(self, name: str, stable: str, candidate: str, since: float, until: float) -> Samples:
        """Per metric key, (stable values, candidate values) of calls in ``[since, until)`` (UNIX seconds)."""
        ...


def _table(name: str, *columns: str) -> Any:
    import sqlalchemy as sa

    return sa.table(name, *(sa.column(c) for c in columns))


class SQLMetrics:
    """Samples from the shared database.

    Args:
        engine: A `sqlalchemy.engine.Engine` or a URL (``sqlite:///.llmguard/llmguard.db``).
    """

    def __init__(self, engine: Any) -> None:
        from ._sql import engine_for

        self.engine = engine_for(engine)
        self._ledger = _table(
            "cost_ledger",
            "prompt_name",
            "prompt_version",
            "ts_ns",
            "status",
            "refused",
            "cost_nanos",
            "duration_s",
        )
        self._judgments = _table(
            "llmguard_judgments",
            "prompt_name",
            "prompt_version",
            "created_ns",
            "judge",
            "status",
            "normalized",
            "score",
        )
        self._feedback = _table(
            "llmguard_feedback", "prompt_name", "prompt_version", "created_at", "negative"
        )

    def __repr__(self) -> str:
        return f"SQLMetrics({self.engine.url.render_as_string(hide_password=True)!r})"

    def samples(self, name: str, stable: str, candidate: str, since: float, until: float) -> Samples:
        """Per metric key, (stable values, candidate values) of calls in the window."""
        import sqlalchemy as sa

        arms = {stable: 0, candidate: 1}
        out: dict[str, tuple[list[float], list[float]]] = {}
        with self.engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            if "cost_ledger" in present:
                self._ledger_samples(conn, out, arms, name, since, until)
            if "llmguard_judgments" in present:
                self._judgment_samples(conn, out, arms, name, since, until)
            if "llmguard_feedback" in present:
                self._feedback_samples(conn, out, arms, name, since, until)
        return out

    def _ledger_samples(
        self, conn: Any, out: dict[str, Any], arms: dict[str, int], name: str, since: float, until: float
    ) -> None:
        import sqlalchemy as sa

        t = self._ledger
        query = sa.select(t.c.prompt_version, t.c.status, t.c.refused, t.c.cost_nanos, t.c.duration_s).where(
            t.c.prompt_name == name,
            t.c.prompt_version.in_(list(arms)),
            t.c.ts_ns >= int(since * _NANOS),
            t.c.ts_ns < int(until * _NANOS),
        )
        for version, status, refused, cost, duration in conn.execute(query):
            arm = arms[version]
            _add(out, "error_rate", arm, 1.0 if status != "ok" else 0.0)
            _add(out, "refusal_rate", arm, 1.0 if refused else 0.0)
            if cost is not None and status == "ok":
                _add(out, "cost_per_call", arm, cost / _NANOS)
            if duration is not None and status == "ok":
                _add(out, "latency_p95", arm, float(duration))

    def _judgment_samples(
        self, conn: Any, out: dict[str, Any], arms: dict[str, int], name: str, since: float, until: float
    ) -> None:
        import sqlalchemy as sa

        t = self._judgments
        query = sa.select(t.c.prompt_version, t.c.judge, t.c.normalized, t.c.score).where(
            t.c.prompt_name == name,
            t.c.prompt_version.in_(list(arms)),
            t.c.status == "ok",
            t.c.created_ns >= int(since * _NANOS),
            t.c.created_ns < int(until * _NANOS),
        )
        for version, judge, normalized, score in conn.execute(query):
            value = normalized if normalized is not None else score
            if value is not None:
                _add(out, f"judge_score:{judge}", arms[version], float(value))

    def _feedback_samples(
        self, conn: Any, out: dict[str, Any], arms: dict[str, int], name: str, since: float, until: float
    ) -> None:
        import sqlalchemy as sa

        t = self._feedback
        query = sa.select(t.c.prompt_version, t.c.negative).where(
            t.c.prompt_name == name,
            t.c.prompt_version.in_(list(arms)),
            t.c.created_at >= _iso(since),
            t.c.created_at < _iso(until),
        )
        for version, negative in conn.execute(query):
            _add(out, "thumbs_down_rate", arms[version], 1.0 if negative else 0.0)


def _add(out: dict[str, tuple[list[float], list[float]]], key: str, arm: int, value: float) -> None:
    out.setdefault(key, ([], []))[arm].append(value)


def _iso(seconds: float) -> str:
    """The feedback table's timestamp format (UTC, microseconds, ``+00:00``)."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="microseconds")
