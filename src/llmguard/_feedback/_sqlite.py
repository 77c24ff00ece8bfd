"""The default feedback sink: the shared local SQLite database.

Writes are UPSERTs on ``(call_id, name, user_id)``, so re-sending updates the row and never
duplicates it. Concurrent writers are batched by group commit: the first writer to take the lock
commits every entry queued meanwhile in one transaction, and each `write` returns only once
its own entry is committed (durable semantics per call, one transaction per batch). Several
processes share the file through WAL mode and the busy timeout.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import deque
from pathlib import Path
from typing import Any

from llmguard._db import after_fork, open_store, park

from ._model import FeedbackEntry

__all__ = [
    "COMPONENT",
    "CONTENT_TABLE",
    "MIGRATIONS",
    "TABLE",
    "SQLiteFeedbackSink",
    "content_row",
    "entry_row",
    "rows_source",
]

COMPONENT = "feedback"
TABLE = "llmguard_feedback"
CONTENT_TABLE = f"{TABLE}_content"
"""A call's retained content, stored once per call however many votes it gets (rows' ``content`` stays NULL)."""
MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL,
        name TEXT NOT NULL,
        user_id TEXT NOT NULL DEFAULT '',
        value_type TEXT NOT NULL,
        score REAL,
        label TEXT,
        value_json TEXT NOT NULL,
        comment TEXT,
        metadata TEXT,
        trace_id TEXT,
        span_id TEXT,
        response_id TEXT,
        prompt_name TEXT,
        prompt_version TEXT,
        model TEXT,
        source TEXT NOT NULL,
        negative INTEGER NOT NULL DEFAULT 0,
        judging TEXT,
        content TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        revisions INTEGER NOT NULL DEFAULT 1,
        UNIQUE (call_id, name, user_id)
    );
    CREATE INDEX IF NOT EXISTS {TABLE}_prompt ON {TABLE} (prompt_name, prompt_version, model);
    CREATE INDEX IF NOT EXISTS {TABLE}_trace ON {TABLE} (trace_id)
    """,
    f"ALTER TABLE {TABLE} ADD COLUMN session_id TEXT",
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE}_content (
        call_id TEXT PRIMARY KEY,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL
    )
    """,
)
"""Schema migrations of the feedback table (applied in order, tracked in ``llmguard_schema``)."""

COLUMNS = (
    "call_id", "name", "user_id", "value_type", "score", "label", "value_json", "comment", "metadata",
    "trace_id", "span_id", "response_id", "prompt_name", "prompt_version", "model", "source", "negative",
    "judging", "content", "created_at", "updated_at", "session_id",
)  # fmt: skip
_UPDATED = [c for c in COLUMNS if c not in ("call_id", "name", "user_id", "created_at")]
UPSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    f"ON CONFLICT (call_id, name, user_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _UPDATED)
    + ", revisions = revisions + 1"
)


INSERT_CONTENT = f"INSERT OR IGNORE INTO {CONTENT_TABLE} (call_id, content, created_at) VALUES (?, ?, ?)"


def rows_source(conn: sqlite3.Connection) -> str:
    """A FROM clause of feedback rows with each call's content filled in (older databases: the table)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (CONTENT_TABLE,)).fetchone() is None:
        return TABLE
    columns = ", ".join(f"f.{c}" for c in ("id", *COLUMNS, "revisions") if c != "content")
    return (
        f"(SELECT {columns}, COALESCE(f.content, c.content) AS content FROM {TABLE} f "
        f"LEFT JOIN {CONTENT_TABLE} c ON c.call_id = f.call_id)"
    )


def content_row(entry: FeedbackEntry) -> tuple[str, str, str] | None:
    """The (call id, content JSON, time) to keep once for ``entry``'s call, if it carries content."""
    if entry.content is None:
        return None
    stamp = entry.created_at.isoformat(timespec="microseconds")
    return entry.ref.call_id, json.dumps(dict(entry.content), default=str), stamp


def entry_row(entry: FeedbackEntry) -> tuple[Any, ...]:
    """The column values of ``entry``, in `COLUMNS` order (timestamps ISO 8601 UTC; content kept apart)."""
    ref = entry.ref
    stamp = entry.created_at.isoformat(timespec="microseconds")
    return (
        ref.call_id, entry.name, entry.user_id or "", entry.value_type, entry.score, entry.label,
        json.dumps(entry.value), entry.comment, json.dumps(dict(entry.metadata)) if entry.metadata else None,
        ref.trace_id, ref.span_id, ref.response_id, ref.prompt_name, ref.prompt_version, ref.model,
        entry.source, int(entry.negative), entry.judging,
        None, stamp, stamp,
        entry.session_id,
    )  # fmt: skip


class _Pending:
    __slots__ = ("content", "done", "error", "row")

    def __init__(self, row: tuple[Any, ...], content: tuple[str, str, str] | None) -> None:
        self.row = row
        self.content = content
        self.done = False
        self.error: BaseException | None = None


class SQLiteFeedbackSink:
    """Feedback in the shared local SQLite database (table ``llmguard_feedback``).

    Safe with many threads (one connection per process, group commit under a lock) and several
    processes (WAL, busy timeout). The connection opens on first write; ``fork()`` waits for a commit
    in flight, and the child opens its own connection with fresh locks.

    Args:
        path: The database file (default: the guard's ``db_path``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._queue: deque[_Pending] = deque()
        self._queue_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        after_fork(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue = deque()  # entries of the parent's threads: the parent commits them
        park(self._conn)
        self._conn = None

    def write(self, entry: FeedbackEntry) -> None:
        """Store ``entry`` (UPSERT); returns once it is committed."""
        pending = _Pending(entry_row(entry), content_row(entry))
        with self._queue_lock:
            self._queue.append(pending)
        with self._lock:
            if not pending.done:
                self._commit_batch()
        if pending.error is not None:
            raise pending.error

    def _commit_batch(self) -> None:
        with self._queue_lock:
            batch = list(self._queue)
            self._queue.clear()
        if not batch:
            return
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(UPSERT, [p.row for p in batch])
                conn.executemany(INSERT_CONTENT, [p.content for p in batch if p.content is not None])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite already rolled back on a full disk
                    conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            for pending in batch:
                pending.error = exc
        for pending in batch:
            pending.done = True

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_store(self.path, COMPONENT, MIGRATIONS)
        return self._conn

    def close(self) -> None:
        """Close the connection (a later write reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = None

    def __repr__(self) -> str:
        return f"SQLiteFeedbackSink({self.path!r})"
