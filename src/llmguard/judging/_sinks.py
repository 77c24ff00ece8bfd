"""Where judgments go: the ``JudgmentSink`` Protocol, and SQLite, callback and in-memory sinks."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from llmguard._db import after_fork
from llmguard._storage import Database, open_database
from llmguard._storage._sink import Sink
from llmguard._storage._sqlite_sql import JUDGMENTS_INSERT

from ._types import Judgment

__all__ = [
    "COLUMNS",
    "CallbackSink",
    "InMemorySink",
    "JudgmentSink",
    "RedactingSink",
    "SQLJudgmentSink",
    "SQLiteSink",
    "as_sink",
    "judgment_row",
    "redacted",
]

COLUMNS: tuple[str, ...] = (
    "created_ns",
    "call_id",
    "trace_id",
    "span_id",
    "response_id",
    "prompt_name",
    "prompt_version",
    "judge",
    "status",
    "score",
    "normalized",
    "label",
    "passed",
    "reason",
    "fingerprint",
    "error_type",
    "latency_s",
)
"""The stored columns of a judgment, in table order (after the autoincrement ``id``)."""


@runtime_checkable
class JudgmentSink(Sink[Judgment], Protocol):
    """Receives judgments on the judging worker thread (never on the caller's): a `llmguard._storage.Sink`."""

    def write(self, judgments: Sequence[Judgment], /) -> None:
        """Store a batch of judgments."""


def redacted(judgment: Judgment, redact: Callable[[str], str] | None) -> Judgment:
    """``judgment`` with its result's reason passed through ``redact`` (a reason quotes content)."""
    result = judgment.result
    if redact is None or result is None or not result.reason:
        return judgment
    return replace(judgment, result=replace(result, reason=str(redact(result.reason))))


class RedactingSink:
    """Applies the guard's ``redact`` hook to judge reasons before they reach ``sink``."""

    def __init__(self, sink: JudgmentSink, redact: Callable[[str], str]) -> None:
        self.sink = sink
        self.redact = redact

    def write(self, judgments: Iterable[Judgment]) -> None:
        """Redact, then hand the batch on."""
        self.sink.write([redacted(j, self.redact) for j in judgments])

    def close(self) -> None:
        """Close the wrapped sink, if it closes."""
        close = getattr(self.sink, "close", None)
        if callable(close):
            close()


def judgment_row(j: Judgment) -> dict[str, Any]:
    """A judgment flattened to the stored columns."""
    r = j.result
    return {
        "created_ns": j.created_ns,
        "call_id": j.call_id,
        "trace_id": j.trace_id,
        "span_id": j.span_id,
        "response_id": j.response_id,
        "prompt_name": j.prompt_name,
        "prompt_version": j.prompt_version,
        "judge": j.judge,
        "status": j.status,
        "score": r.score if r else None,
        "normalized": r.normalized if r else None,
        "label": r.label if r else None,
        "passed": None if r is None or r.passed is None else int(r.passed),
        "reason": r.reason if r else None,
        "fingerprint": r.fingerprint if r else None,
        "error_type": j.error_type,
        "latency_s": j.latency_s,
    }


class SQLJudgmentSink:
    """Judgments in the llmguard database (table ``llmguard_judgments``; SQLite file or PostgreSQL URL).

    ``fork()`` waits for a write in flight, and the child opens its own connections.

    Args:
        db: The database: a file path, a ``sqlite:///`` or ``postgresql://`` URL, or a `Database`.
    """

    def __init__(self, db: str | os.PathLike[str] | Database) -> None:
        self.db = open_database(db)
        self._lock = threading.Lock()
        after_fork(self)

    @property
    def path(self) -> Path | None:
        """The SQLite file (``None`` on PostgreSQL)."""
        return self.db.path

    def write(self, judgments: Iterable[Judgment]) -> None:
        """Insert the batch in one transaction (a SQLite file: on the stdlib ``sqlite3`` module)."""
        rows = [judgment_row(j) for j in judgments]
        if not rows:
            return
        with self._lock:
            if self.db.sqlite_file:
                self.db.write_rows(JUDGMENTS_INSERT, [tuple(row[c] for c in COLUMNS) for row in rows])
                return
            from llmguard._storage._schema import JUDGMENTS

            with self.db.write() as conn:
                conn.execute(JUDGMENTS.insert(), rows)

    def rows(self, limit: int = 100) -> list[dict[str, Any]]:
        """The most recent judgments, newest first."""
        from sqlalchemy import select

        from llmguard._storage._schema import JUDGMENTS

        table = JUDGMENTS
        query = select(*(table.c[c] for c in COLUMNS)).order_by(table.c.id.desc()).limit(limit)
        with self.db.read() as conn:
            return [dict(zip(COLUMNS, row, strict=True)) for row in conn.execute(query)]

    def close(self) -> None:
        """Release the database's connections (reopened on the next write)."""
        self.db.dispose()


SQLiteSink = SQLJudgmentSink
"""The former name of `SQLJudgmentSink` (it takes a path or any database URL)."""


class CallbackSink:
    """Calls ``fn(judgment)`` for every judgment."""

    def __init__(self, fn: Callable[[Judgment], Any]) -> None:
        self.fn = fn

    def write(self, judgments: Iterable[Judgment]) -> None:
        """Call the function once per judgment."""
        for judgment in judgments:
            self.fn(judgment)


class InMemorySink:
    """Keeps judgments in a list (for tests and notebooks)."""

    def __init__(self) -> None:
        self._items: list[Judgment] = []
        self._lock = threading.Lock()

    def write(self, judgments: Iterable[Judgment]) -> None:
        """Append the batch."""
        with self._lock:
            self._items.extend(judgments)

    @property
    def judgments(self) -> list[Judgment]:
        """A copy of everything written so far."""
        with self._lock:
            return list(self._items)

    def by_judge(self) -> Mapping[str, list[Judgment]]:
        """Judgments grouped by judge name."""
        groups: dict[str, list[Judgment]] = {}
        for judgment in self.judgments:
            groups.setdefault(judgment.judge, []).append(judgment)
        return groups

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()


def as_sink(value: Any, db: str | os.PathLike[str] | Database) -> JudgmentSink:
    """The guard's ``judgment_sink`` slot as a sink: ``None`` -> the guard's database, a callable -> callback."""
    if value is None:
        return SQLJudgmentSink(db)
    if hasattr(value, "write"):
        sink: JudgmentSink = value
        return sink
    if callable(value):
        return CallbackSink(value)
    raise TypeError(f"judgment_sink: expected a JudgmentSink or a callable, got {value!r}")
