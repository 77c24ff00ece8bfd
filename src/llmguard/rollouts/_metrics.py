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
        max_rows: Rows read per arm and source, the newest first (bounds memory on busy windows).
    """

    def __init__(self, engine: Any, *, max_rows: int = 200_000) -> None:
        from ._sql import engine_for

        self.engine = engine_for(engine)
        self.max_rows = max_rows
        """Rows read per arm and source (the newest): memory stays bounded however busy the window."""
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
        """Per metric key, (stable values, candidate values) of calls in the window (newest `max_rows` per arm)."""
        import sqlalchemy as sa

        out: dict[str, tuple[list[float], list[float]]] = {}
        lo, hi = int(since * _NANOS), int(until * _NANOS)
        with self.engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            for arm, version in enumerate((stable, candidate)):
                if "cost_ledger" in present:
                    self._ledger_samples(conn, out, arm, (name, version), lo, hi)
                if "llmguard_judgments" in present:
                    self._judgment_samples(conn, out, arm, (name, version), lo, hi)
                if "llmguard_feedback" in present:
                    self._feedback_samples(conn, out, arm, (name, version), _iso(since), _iso(until))
        return out

    def _rows(self, conn: Any, table: Any, columns: tuple[str, ...], when: str, key: tuple[str, str],
              lo: Any, hi: Any, *extra: Any) -> Any:  # fmt: skip
        """The newest `max_rows` rows of one arm in ``[lo, hi)`` (portable SQL)."""
        import sqlalchemy as sa

        stamp = table.c[when]
        query = sa.select(*(table.c[c] for c in columns)).where(
            table.c.prompt_name == key[0], table.c.prompt_version == key[1], stamp >= lo, stamp < hi, *extra
        )
        return conn.execute(query.order_by(stamp.desc()).limit(self.max_rows))

    def _ledger_samples(
        self, conn: Any, out: dict[str, Any], arm: int, key: tuple[str, str], lo: int, hi: int
    ) -> None:
        columns = ("status", "refused", "cost_nanos", "duration_s")
        for status, refused, cost, duration in self._rows(conn, self._ledger, columns, "ts_ns", key, lo, hi):
            _add(out, "error_rate", arm, 1.0 if status != "ok" else 0.0)
            _add(out, "refusal_rate", arm, 1.0 if refused else 0.0)
            if cost is not None and status == "ok":
                _add(out, "cost_per_call", arm, cost / _NANOS)
            if duration is not None and status == "ok":
                _add(out, "latency_p95", arm, float(duration))

    def _judgment_samples(
        self, conn: Any, out: dict[str, Any], arm: int, key: tuple[str, str], lo: int, hi: int
    ) -> None:
        t = self._judgments
        columns = ("judge", "normalized", "score")
        for judge, normalized, score in self._rows(
            conn, t, columns, "created_ns", key, lo, hi, t.c.status == "ok"
        ):
            value = normalized if normalized is not None else score
            if value is not None:
                _add(out, f"judge_score:{judge}", arm, float(value))

    def _feedback_samples(
        self, conn: Any, out: dict[str, Any], arm: int, key: tuple[str, str], lo: str, hi: str
    ) -> None:
        for (negative,) in self._rows(conn, self._feedback, ("negative",), "created_at", key, lo, hi):
            _add(out, "thumbs_down_rate", arm, 1.0 if negative else 0.0)


def _add(out: dict[str, tuple[list[float], list[float]]], key: str, arm: int, value: float) -> None:
    out.setdefault(key, ([], []))[arm].append(value)


def _iso(seconds: float) -> str:
    """The feedback table's timestamp format (UTC, microseconds, ``+00:00``)."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="microseconds")
