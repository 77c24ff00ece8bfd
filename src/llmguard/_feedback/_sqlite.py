"""The default feedback sink: the llmguard database (SQLite file or PostgreSQL URL).

Writes are UPSERTs on ``(call_id, name, user_id)``, so re-sending updates the row and never
duplicates it. Concurrent writers are batched by group commit: the first writer to take the lock
commits every entry queued meanwhile in one transaction, and each `write` returns only once
its own entry is committed (durable semantics per call, one transaction per batch). Several
processes and replicas share one database (SQLite: WAL and a busy timeout; PostgreSQL: row locks).
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmguard._db import after_fork
from llmguard._storage import Database, open_database

from ._model import FeedbackEntry

__all__ = [
    "COMPONENT",
    "CONTENT_TABLE",
    "TABLE",
    "SQLFeedbackSink",
    "SQLiteFeedbackSink",
    "content_row",
    "entry_row",
    "rows_source",
]

COMPONENT = "feedback"
TABLE = "llmguard_feedback"
CONTENT_TABLE = f"{TABLE}_content"
"""A call's retained content, stored once per call however many votes it gets (rows' ``content`` stays NULL)."""
COLUMNS = (
    "call_id", "name", "user_id", "value_type", "score", "label", "value_json", "comment", "metadata",
    "trace_id", "span_id", "response_id", "prompt_name", "prompt_version", "model", "source", "negative",
    "judging", "content", "created_at", "updated_at", "session_id",
)  # fmt: skip
_UPDATED = [c for c in COLUMNS if c not in ("call_id", "name", "user_id", "created_at")]


def rows_source() -> str:
    """A FROM clause of feedback rows with each call's retained content filled in."""
    columns = ", ".join(f"f.{c}" for c in ("id", *COLUMNS, "revisions") if c != "content")
    return (
        f"(SELECT {columns}, COALESCE(f.content, c.content) AS content FROM {TABLE} f "
        f"LEFT JOIN {CONTENT_TABLE} c ON c.call_id = f.call_id) AS rows"
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


class SQLFeedbackSink:
    """Feedback in the llmguard database (table ``llmguard_feedback``; SQLite file or PostgreSQL URL).

    Safe with many threads (group commit under a lock) and many processes and replicas (one
    database). ``fork()`` waits for a commit in flight, and the child opens its own connections
    with fresh locks.

    Args:
        db: The database: a file path, a ``sqlite:///`` or ``postgresql://`` URL, or a `Database`.
    """

    def __init__(self, db: str | os.PathLike[str] | Database) -> None:
        from llmguard._storage._schema import FEEDBACK, FEEDBACK_CONTENT

        self.db = open_database(db)
        self._lock = threading.Lock()
        self._queue: deque[_Pending] = deque()
        self._queue_lock = threading.Lock()
        insert = self.db.insert(FEEDBACK)
        excluded = insert.excluded
        self._upsert = insert.on_conflict_do_update(
            index_elements=["call_id", "name", "user_id"],
            set_={**{c: excluded[c] for c in _UPDATED}, "revisions": FEEDBACK.c.revisions + 1},
        )
        self._insert_content = self.db.insert(FEEDBACK_CONTENT).on_conflict_do_nothing()
        after_fork(self)

    @property
    def path(self) -> Path | None:
        """The SQLite file (``None`` on PostgreSQL)."""
        return self.db.path

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue = deque()  # entries of the parent's threads: the parent commits them

    def write(self, entries: Sequence[FeedbackEntry], /) -> None:
        """Store ``entries`` (UPSERT); returns once they are committed."""
        pendings = [_Pending(entry_row(entry), content_row(entry)) for entry in entries]
        with self._queue_lock:
            self._queue.extend(pendings)
        with self._lock:
            if not all(p.done for p in pendings):
                self._commit_batch()
        for pending in pendings:
            if pending.error is not None:
                raise pending.error

    def _commit_batch(self) -> None:
        with self._queue_lock:
            batch = list(self._queue)
            self._queue.clear()
        if not batch:
            return
        try:
            rows = [dict(zip(COLUMNS, p.row, strict=True)) for p in batch]
            contents = [
                dict(zip(("call_id", "content", "created_at"), p.content, strict=True))
                for p in batch
                if p.content is not None
            ]
            with self.db.write() as conn:
                for row in rows:  # one statement per row: a batch may update one key twice
                    conn.execute(self._upsert, row)
                if contents:
                    conn.execute(self._insert_content, contents)
        except Exception as exc:
            for pending in batch:
                pending.error = exc
        for pending in batch:
            pending.done = True

    def close(self) -> None:
        """Release the database's connections (a later write reconnects)."""
        self.db.dispose()

    def __repr__(self) -> str:
        return f"SQLFeedbackSink({self.db.display!r})"


SQLiteFeedbackSink = SQLFeedbackSink
"""The former name of `SQLFeedbackSink` (it takes a path or any database URL)."""
