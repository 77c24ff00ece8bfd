"""The call ledger: one row per call in the llmguard database, behind a small Protocol.

A row is a plain tuple in `COLUMNS` order, built on the caller's thread and written in
batches by a background writer. Cost is stored as integer nano-USD (``cost_nanos``), so sums are
exact; ``NULL`` means the call was unpriced (never zero). Days are UTC calendar days.

`SQLLedger` keeps the rows in the llmguard database: the embedded SQLite file by default, or a
shared PostgreSQL database (``db="postgresql://..."``), through one schema (`llmguard._storage`).
A row is written once: its ``call_id`` is the key, and a second insert of it is ignored.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from llmguard._db import after_fork
from llmguard._storage import Database, open_database
from llmguard._storage._sink import Sink
from llmguard._storage._sqlite_sql import LEDGER_INSERT

__all__ = ["COLUMNS", "NANOS", "TABLE", "Ledger", "LedgerRow", "SQLLedger", "SQLiteLedger"]

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

CHUNK_ROWS = 500
"""The writer's batch size: rows per write (one transaction)."""


@runtime_checkable
class Ledger(Sink[LedgerRow], Protocol):
    """Where ledger rows go (a `llmguard._storage.Sink` that can also be queried and pruned).

    Implementations must be safe to call from a background thread.
    """

    def write(self, rows: Sequence[LedgerRow]) -> None:
        """Append ``rows`` (atomically per batch of the writer); raise on failure (logged and counted)."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query over the ledger's tables and return all rows."""

    def prune(self, before_ns: int) -> int:
        """Delete rows older than ``before_ns`` (retention); return how many were deleted."""

    def close(self) -> None:
        """Release connections."""


class SQLLedger:
    """The default ledger: a table in the llmguard database (SQLite file or PostgreSQL URL).

    A write inserts its rows in one transaction, ignoring a row whose ``call_id`` is already
    stored. On a SQLite file it inserts many rows per statement (`Database.write_rows`): it
    releases the GIL once per statement, not once per row, so the writer keeps up with many busy
    caller threads. ``fork()`` waits for a write in flight; the child opens its own
    connections.

    Args:
        db: The database: a file path, a ``sqlite:///`` or ``postgresql://`` URL, or a `Database`.
        retention_days: Rows older than this are pruned by the writer (``None`` keeps everything).
    """

    def __init__(self, db: str | os.PathLike[str] | Database, *, retention_days: float | None = 90.0) -> None:
        self.db = open_database(db)
        self.retention_days = retention_days
        self._sqlite_insert = LEDGER_INSERT  # SQLAlchemy's compilation of the schema's INSERT (snapshot)
        self._insert: Any = None  # PostgreSQL: the SQLAlchemy statement, built on first write
        self._lock = threading.Lock()
        after_fork(self)

    @property
    def path(self) -> Path | None:
        """The SQLite file (``None`` on PostgreSQL)."""
        return self.db.path

    def __repr__(self) -> str:
        return f"SQLLedger({self.db.display!r}, retention_days={self.retention_days!r})"

    def write(self, rows: Sequence[LedgerRow]) -> None:
        """Insert ``rows``, `CHUNK_ROWS` per statement, in one transaction (known ``call_id``s are ignored)."""
        if not rows:
            return
        with self._lock:
            if self.db.dialect == "sqlite":  # the statement compiled once; rows go to the driver as tuples
                self.db.write_rows(self._sqlite_insert, rows)
                return
            if self._insert is None:
                from llmguard._storage._schema import LEDGER

                self._insert = self.db.insert(LEDGER).on_conflict_do_nothing()
            with self.db.write() as conn:
                conn.execute(self._insert, [dict(zip(COLUMNS, row, strict=True)) for row in rows])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (``?`` placeholders) and return every row."""
        return self.db.read_rows(sql, params)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one writing statement; return the number of rows it changed."""
        with self._lock:
            return self.db.execute(sql, params)

    def prune(self, before_ns: int) -> int:
        """Delete ledger rows that started before ``before_ns``."""
        day = datetime.fromtimestamp(before_ns / 1e9, UTC).strftime("%Y-%m-%d")
        return self.execute(f"DELETE FROM {TABLE} WHERE day <= ? AND ts_ns < ?", (day, before_ns))

    def tables(self) -> set[str]:
        """Names of the tables in the database (to find the judging and feedback stores)."""
        return self.db.tables()

    def columns(self, table: str) -> set[str]:
        """Column names of ``table`` (empty when it does not exist)."""
        return self.db.columns(table)

    def close(self) -> None:
        """Release the database's connections (a later use reconnects)."""
        self.db.dispose()


SQLiteLedger = SQLLedger
"""The former name of `SQLLedger` (it takes a path or any database URL)."""


def count_rows(ledger: Ledger, where: str = "", params: Iterable[Any] = ()) -> int:
    """Number of ledger rows matching an optional SQL ``where`` clause."""
    clause = f" WHERE {where}" if where else ""
    return int(ledger.query(f"SELECT COUNT(*) FROM {TABLE}{clause}", tuple(params))[0][0])
