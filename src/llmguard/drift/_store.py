"""Where sampled input embeddings live: one SQLAlchemy Core table, on any engine.

The vectors of app inputs are **personal-data-adjacent**: an embedding can be inverted to
approximate the text it came from, so they are retained for a bounded window only
(``retention_days``, 30 by default) and pruned in the background; the input text itself is
stored only when ``retain_content=True`` (off by default), capped and redacted like span content.

Portable types only (SQLite by default, PostgreSQL by URL): the vector is float32 bytes
(little-endian) in a ``LargeBinary`` column plus its ``dim``; tags are a JSON text array.
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

__all__ = ["ALERTS_TABLE", "METADATA", "TABLE", "DriftRow", "DriftStore", "engine_for"]

from llmguard._storage._schema import DRIFT_ALERTS as ALERTS_TABLE
from llmguard._storage._schema import DRIFT_VECTORS as TABLE
from llmguard._storage._schema import METADATA

NANOS_PER_DAY = 86_400 * 10**9


def engine_for(target: sa.engine.Engine | str | Path) -> sa.engine.Engine:
    """The engine of a database path or URL, or an Engine as given.

    A path or URL shares the process's one pool per database (fork-safe, schema checked); a bare
    Engine gets the two drift tables created if they are missing.
    """
    from llmguard._storage import open_database

    if isinstance(target, sa.engine.Engine):
        METADATA.create_all(target, tables=[TABLE, ALERTS_TABLE])
        return target
    db = open_database(target)
    db.ensure_schema()
    return db.engine


@dataclass(frozen=True, slots=True)
class DriftRow:
    """One stored embedding.

    Attributes:
        call_id: The embedded call.
        created_ns: The call's start, ns since the epoch.
        vector: The embedding (float32 values).
        prompt_name: The registry prompt, if any.
        prompt_version: Its version.
        tags: The call context's and prompt's tags.
        model: The embedding model.
        content: The input text, only when content retention is on.
    """

    call_id: str
    created_ns: int
    vector: Sequence[float]
    prompt_name: str | None = None
    prompt_version: str | None = None
    tags: tuple[str, ...] = ()
    model: str | None = None
    content: str | None = field(default=None, repr=False)


def _pack(vector: Sequence[float]) -> bytes:
    import struct

    return struct.pack(f"<{len(vector)}f", *vector)


class DriftStore:
    """Embeddings with their call id, prompt, tags and time, on a SQLAlchemy engine.

    Args:
        target: An `sqlalchemy.engine.Engine`, a database URL, or a SQLite file path.
        retention_days: Rows older than this are pruned by `prune` (None keeps everything).
    """

    def __init__(
        self,
        target: sa.engine.Engine | str | Path,
        *,
        retention_days: float | None = 30.0,
    ) -> None:
        self.engine = engine_for(target)
        self.retention_days = retention_days
        self._lock = threading.Lock()
        _live.add(self)

    def __repr__(self) -> str:
        return f"DriftStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def exists(self) -> bool:
        """Whether any vector is stored."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(TABLE.c.id).limit(1)).first() is not None

    def write(self, rows: Sequence[DriftRow]) -> None:
        """Insert ``rows`` in one transaction."""
        if not rows:
            return
        values = [
            {
                "call_id": r.call_id,
                "created_ns": r.created_ns,
                "prompt_name": r.prompt_name,
                "prompt_version": r.prompt_version,
                "tags": json.dumps(list(r.tags)) if r.tags else None,
                "model": r.model,
                "dim": len(r.vector),
                "vector": _pack(r.vector),
                "content": r.content,
            }
            for r in rows
        ]
        with self.engine.begin() as conn:
            conn.execute(TABLE.insert(), values)

    def load(
        self,
        start_ns: int,
        end_ns: int,
        *,
        prompt: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> tuple[Any, list[DriftRow]]:
        """Rows with ``start_ns <= created_ns < end_ns`` (of ``prompt``, carrying ``tag``), oldest first.

        Returns:
            A float32 matrix (rows x dim; rows of another dimension than the first are skipped) and
            the rows' metadata (``vector`` left empty; read the matrix).
        """
        from ._deps import require_drift_extra

        np = require_drift_extra()["numpy"]
        query = sa.select(TABLE).where(TABLE.c.created_ns >= start_ns, TABLE.c.created_ns < end_ns)
        if prompt is not None:
            query = query.where(TABLE.c.prompt_name == prompt)
        if tag is not None:
            query = query.where(TABLE.c.tags.like(f"%{json.dumps(tag)}%"))
        query = query.order_by(TABLE.c.created_ns, TABLE.c.id)
        vectors: list[Any] = []
        meta: list[DriftRow] = []
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                tags = tuple(json.loads(row.tags)) if row.tags else ()
                if tag is not None and tag not in tags:
                    continue
                if vectors and row.dim != len(vectors[0]):
                    continue
                vectors.append(np.frombuffer(row.vector, dtype="<f4", count=row.dim))
                meta.append(
                    DriftRow(
                        row.call_id,
                        row.created_ns,
                        (),
                        row.prompt_name,
                        row.prompt_version,
                        tags,
                        row.model,
                        row.content,
                    )
                )
                if limit is not None and len(meta) >= limit:
                    break
        matrix = np.vstack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
        return matrix, meta

    def groups(self, start_ns: int, end_ns: int) -> tuple[list[str], list[str]]:
        """The prompt names and tags seen in the window (sorted)."""
        prompts: set[str] = set()
        tags: set[str] = set()
        query = sa.select(TABLE.c.prompt_name, TABLE.c.tags).where(
            TABLE.c.created_ns >= start_ns, TABLE.c.created_ns < end_ns
        )
        with self.engine.connect() as conn:
            for name, tag_text in conn.execute(query):
                if name:
                    prompts.add(name)
                if tag_text:
                    tags.update(json.loads(tag_text))
        return sorted(prompts), sorted(tags)

    def span(self) -> tuple[int, int] | None:
        """The first and last ``created_ns`` stored, or None when empty."""
        query = sa.select(sa.func.min(TABLE.c.created_ns), sa.func.max(TABLE.c.created_ns))
        with self.engine.connect() as conn:
            first, last = conn.execute(query).one()
        return None if first is None else (int(first), int(last))

    def count(self) -> int:
        """Rows stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(TABLE)).scalar_one())

    def prune(self, now_ns: int | None = None) -> int:
        """Delete rows older than the retention window; return how many."""
        if self.retention_days is None:
            return 0
        now_ns = time.time_ns() if now_ns is None else now_ns
        cutoff = now_ns - int(self.retention_days * NANOS_PER_DAY)
        with self.engine.begin() as conn:
            return int(conn.execute(TABLE.delete().where(TABLE.c.created_ns < cutoff)).rowcount or 0)

    def claim_alert(self, rule: str, window: str, message: str) -> bool:
        """Record that (rule, window) fired; False when some process recorded it before."""
        with self._lock:
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        ALERTS_TABLE.insert().values(
                            rule=rule, window=window, fired_ns=time.time_ns(), message=message
                        )
                    )
            except sa.exc.IntegrityError:
                return False
        return True

    def close(self) -> None:
        """Dispose of the engine's pooled connections."""
        self.engine.dispose()


_live: weakref.WeakSet[DriftStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_live):
        store._lock = threading.Lock()
        store.engine.dispose(close=False)  # the parent's pooled connections stay the parent's


os.register_at_fork(after_in_child=_after_fork_in_child)
