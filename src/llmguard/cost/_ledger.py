"""The call ledger: one row per call in the shared SQLite database, behind a small Protocol.

A row is a plain tuple in `COLUMNS` order, built on the caller's thread and written in
batches by a background writer. Cost is stored as integer nano-USD (``cost_nanos``), so sums are
exact; ``NULL`` means the call was unpriced (never zero). Days are UTC calendar days.

A Postgres ledger is a small addition: implement `Ledger` (``write``, ``query``,
``prune``, ``close``) with the same columns.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from llmguard._db import after_fork, open_store, park

__all__ = ["COLUMNS", "NANOS", "TABLE", "Ledger", "LedgerRow", "SQLiteLedger"]

TABLE = "cost_ledger"
"""The ledger's table in the shared database."""

NANOS = 1_000_000_000
"""Nano-USD per USD: ledger costs are stored as integers of this unit."""

COLUMNS: tuple[str, ...] = (
    "call_id",
    "ts_ns",
    "day",
    "kind",
    "service",
    "environment",
    "provider",
    "requested_model",
    "model",
    "response_model",
    "prompt_name",
    "prompt_version",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_nanos",
    "duration_s",
    "ttfc_s",
    "status",
    "error_type",
    "refused",
    "user_id",
    "session_id",
    "tags",
    "metadata",
)
"""Ledger columns, in row-tuple order. ``model`` is the model sent; ``status`` is ``ok`` or ``error``.

``user_id``, ``session_id``, ``tags`` (a JSON array) and ``metadata`` (a JSON object) hold the call
context (`llmguard.context`); ``NULL`` when the call had none (schema version 2).
"""

LedgerRow = tuple[Any, ...]
"""One ledger row: values in `COLUMNS` order."""

_MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        call_id TEXT PRIMARY KEY,
        ts_ns INTEGER NOT NULL,
        day TEXT NOT NULL,
        kind TEXT NOT NULL,
        service TEXT NOT NULL,
        environment TEXT NOT NULL,
        provider TEXT NOT NULL,
        requested_model TEXT,
        model TEXT,
        response_model TEXT,
        prompt_name TEXT,
        prompt_version TEXT,
        input_tokens INTEGER,
        output_tokens INTEGER,
        cache_read_tokens INTEGER,
        cache_write_tokens INTEGER,
        reasoning_tokens INTEGER,
        cost_nanos INTEGER,
        duration_s REAL NOT NULL,
        ttfc_s REAL,
        status TEXT NOT NULL,
        error_type TEXT,
        refused INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS {TABLE}_day ON {TABLE} (day);
    CREATE TABLE IF NOT EXISTS cost_alerts (
        rule TEXT NOT NULL,
        window TEXT NOT NULL,
        fired_ns INTEGER NOT NULL,
        message TEXT NOT NULL,
        PRIMARY KEY (rule, window)
    )
    """,
    f"""
    ALTER TABLE {TABLE} ADD COLUMN user_id TEXT;
    ALTER TABLE {TABLE} ADD COLUMN session_id TEXT;
    ALTER TABLE {TABLE} ADD COLUMN tags TEXT;
    ALTER TABLE {TABLE} ADD COLUMN metadata TEXT;
    CREATE INDEX IF NOT EXISTS {TABLE}_user ON {TABLE} (user_id, day)
    """,
)
"""Schema versions of the ``cost_ledger`` component: 1 the table, 2 the call-context columns."""

_ROW = f"({', '.join('?' * len(COLUMNS))})"
_MAX_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
CHUNK_ROWS = min(500, _MAX_VARIABLES // len(COLUMNS))
"""Rows per INSERT statement (and the writer's batch size): one statement per batch, not per row."""


def _insert(rows: int) -> str:
    return f"INSERT OR IGNORE INTO {TABLE} ({', '.join(COLUMNS)}) VALUES {', '.join([_ROW] * rows)}"


_INSERT_CHUNK = _insert(CHUNK_ROWS)


@runtime_checkable
class Ledger(Protocol):
    """Where ledger rows go. Implementations must be safe to call from a background thread."""

    def write(self, rows: Sequence[LedgerRow]) -> None:
        """Append ``rows`` (atomically per batch of the writer); raise on failure (logged and counted)."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query over the ledger's tables and return all rows."""

    def prune(self, before_ns: int) -> int:
        """Delete rows older than ``before_ns`` (retention); return how many were deleted."""

    def close(self) -> None:
        """Release connections."""


class SQLiteLedger:
    """The default ledger: a table in the shared local SQLite database (WAL, busy timeout).

    One connection per ledger and process, guarded by a lock: the background writer and readers
    (alert evaluation, reports) take turns. A write inserts `CHUNK_ROWS` rows per statement, each
    statement one transaction: it releases the GIL once, so the writer keeps up with many busy
    caller threads (``executemany`` would hand the GIL back and forth once per row, and the writer
    waits for it each time behind every caller thread).
    A forked child opens its own connection.

    Args:
        path: The database file (``":memory:"`` for tests).
        retention_days: Rows older than this are pruned by the writer (``None`` keeps everything).
    """

    def __init__(self, path: str | Path, *, retention_days: float | None = 90.0) -> None:
        self.path = path
        self.retention_days = retention_days
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        after_fork(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # the parent's writer may have held it at fork time
        park(self._conn)
        self._conn = None

    def __repr__(self) -> str:
        return f"SQLiteLedger({str(self.path)!r}, retention_days={self.retention_days!r})"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_store(self.path, "cost_ledger", _MIGRATIONS)
        return self._conn

    def write(self, rows: Sequence[LedgerRow]) -> None:
        """Insert ``rows``, `CHUNK_ROWS` per statement (a row whose ``call_id`` exists is ignored).

        Each statement is its own transaction (the connection is in autocommit mode): no separate
        ``BEGIN``/``COMMIT`` round trips, each of which would make the writer wait for the GIL again.
        """
        with self._lock:
            conn = self._connection()
            for start in range(0, len(rows), CHUNK_ROWS):
                chunk = rows[start : start + CHUNK_ROWS]
                sql = _INSERT_CHUNK if len(chunk) == CHUNK_ROWS else _insert(len(chunk))
                conn.execute(sql, tuple(chain.from_iterable(chunk)))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` and return every row."""
        with self._lock:
            return list(self._connection().execute(sql, tuple(params)).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one writing statement; return the number of rows it changed."""
        with self._lock:
            return self._connection().execute(sql, tuple(params)).rowcount

    def prune(self, before_ns: int) -> int:
        """Delete ledger rows that started before ``before_ns``."""
        day = datetime.fromtimestamp(before_ns / 1e9, UTC).strftime("%Y-%m-%d")
        return self.execute(f"DELETE FROM {TABLE} WHERE day <= ? AND ts_ns < ?", (day, before_ns))

    def tables(self) -> set[str]:
        """Names of the tables in the database (to find the judging and feedback stores)."""
        return {str(row[0]) for row in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(self, table: str) -> set[str]:
        """Column names of ``table`` (empty when it does not exist)."""
        return {str(row[1]) for row in self.query(f"PRAGMA table_info({_quote(table)})")}

    def close(self) -> None:
        """Close the connection (a later use reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def count_rows(ledger: Ledger, where: str = "", params: Iterable[Any] = ()) -> int:
    """Number of ledger rows matching an optional SQL ``where`` clause."""
    clause = f" WHERE {where}" if where else ""
    return int(ledger.query(f"SELECT COUNT(*) FROM {TABLE}{clause}", tuple(params))[0][0])
