"""A SQL store for registries edited at runtime: versions, labels and history in three tables.

The tables live in the llmguard database: the embedded SQLite file, or a PostgreSQL database
shared by every replica (so a label promoted on one machine is seen by all). A label move runs in
one transaction (read, compare, write, record): ``BEGIN IMMEDIATE`` on SQLite, and a transaction
advisory lock per (kind, name) on PostgreSQL, so concurrent promotions from many processes are
safe and every move is in the history exactly once.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmguard._storage import Database, open_database
from llmguard._storage._schema import PROMPT_HISTORY, PROMPT_LABELS, PROMPT_VERSIONS
from llmguard.exceptions import PromptFormatError, PromptNotFoundError, StorageError

from ._labels import LabelMove, LabelTarget, check_label, parse_target
from ._loader import check_parts
from ._model import ArtifactKind, PromptVersion, check_name
from ._store import PromptEntry, check_move, check_new_version

__all__ = ["SQLStore", "SQLiteStore"]

_ROW_ERRORS = (ValueError, TypeError, KeyError, RecursionError)
"""What decoding a damaged row raises (JSON, label targets, history moves)."""


@contextmanager
def _typed_errors(where: object) -> Iterator[None]:
    """A damaged, truncated or foreign database becomes a `PromptFormatError` naming it."""
    try:
        yield
    except StorageError as exc:
        raise PromptFormatError(f"{where}: cannot use the prompt store: {exc}") from exc


class SQLStore:
    """Versions and labels in the llmguard database (SQLite file or PostgreSQL URL).

    Args:
        db: A file path, a ``sqlite:///`` or ``postgresql://`` URL (``":memory:"`` for a private one),
            or a `Database`.
        kind: ``prompt`` or ``config``.
    """

    def __init__(self, db: str | os.PathLike[str] | Database, *, kind: ArtifactKind = "prompt") -> None:
        self.db = open_database(db)
        self.kind: ArtifactKind = kind
        self._lock = threading.RLock()
        with _typed_errors(self.db.display):
            self.db.ensure_schema()

    @property
    def path(self) -> Path | str:
        """The SQLite file, or the database URL (password masked)."""
        return self.db.path or self.db.display

    def __repr__(self) -> str:
        return f"SQLStore({self.db.display!r}, kind={self.kind!r})"

    def close(self) -> None:
        """Release the database's connections."""
        self.db.dispose()

    def _rows(self, statement: Any) -> list[Any]:
        with self._lock, _typed_errors(self.path), self.db.read() as conn:
            return list(conn.execute(statement))

    def names(self) -> list[str]:
        """Every name with at least one version, sorted."""
        from sqlalchemy import select

        t = PROMPT_VERSIONS
        rows = self._rows(select(t.c.name).where(t.c.kind == self.kind).distinct().order_by(t.c.name))
        return [str(r[0]) for r in rows]

    def _versions(self, name: str, conn: Any = None) -> dict[str, PromptVersion]:
        from sqlalchemy import select

        t = PROMPT_VERSIONS
        query = select(t.c.version, t.c.body).where(t.c.kind == self.kind, t.c.name == name)
        rows = list(conn.execute(query)) if conn is not None else self._rows(query)
        out: dict[str, PromptVersion] = {}
        for version, body in rows:
            try:
                out[version] = PromptVersion.model_validate_json(body)
            except _ROW_ERRORS as exc:
                raise PromptFormatError(f"{self.path}: {name}@{version}: malformed row: {exc}") from None
        return out

    def _labels(self, name: str) -> dict[str, LabelTarget]:
        from sqlalchemy import select

        t = PROMPT_LABELS
        rows = self._rows(select(t.c.label, t.c.target).where(t.c.kind == self.kind, t.c.name == name))
        try:
            return {
                check_label(label, str(self.path)): parse_target(
                    json.loads(target), f"{self.path}: label {label}"
                )
                for label, target in rows
            }
        except _ROW_ERRORS as exc:
            raise PromptFormatError(f"{self.path}: {name}: malformed label row: {exc}") from None

    def load(self, name: str) -> PromptEntry:
        """One name's versions and labels."""
        check_name(name)
        versions = self._versions(name)
        if not versions:
            raise PromptNotFoundError(f"no {self.kind} named {name!r} in {self.path}")
        return PromptEntry(name, versions, self._labels(name))

    @contextmanager
    def _locked(self, name: str) -> Iterator[Any]:
        """A write transaction holding this (kind, name)'s lock until commit."""
        from sqlalchemy import text

        with self._lock, _typed_errors(self.path), self.db.write() as conn:
            if self.db.dialect == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"{self.kind}:{name}"}
                )
            yield conn

    def save(self, version: PromptVersion) -> None:
        """Add a version (idempotent for identical content; different content under one version is an error)."""
        from sqlalchemy import select

        if version.kind != self.kind:
            raise PromptFormatError(
                f"{version.name}@{version.version}: a {version.kind} in a {self.kind} store"
            )
        check_parts(version, version.source or f"{version.name}@{version.version}")
        t = PROMPT_VERSIONS
        with self._locked(version.name) as conn:
            row = conn.execute(
                select(t.c.body).where(
                    t.c.kind == self.kind, t.c.name == version.name, t.c.version == version.version
                )
            ).first()
            existing = PromptVersion.model_validate_json(row[0]) if row else None
            if check_new_version(existing, version, str(self.path)):
                conn.execute(
                    t.insert().values(
                        kind=self.kind,
                        name=version.name,
                        version=version.version,
                        content_hash=version.content_hash,
                        body=_body(version),
                        created=_now(),
                    )
                )

    def move_label(self, move: LabelMove, target: LabelTarget, expect: object) -> LabelMove:
        """Compare-and-set a label and record the move, in one locked transaction."""
        from sqlalchemy import select

        labels = PROMPT_LABELS
        with self._locked(move.name) as conn:
            row = conn.execute(
                select(labels.c.target).where(
                    labels.c.kind == self.kind, labels.c.name == move.name, labels.c.label == move.label
                )
            ).first()
            current = parse_target(json.loads(row[0]), f"{self.path}: label {move.label}") if row else None
            move = check_move(self._versions(move.name, conn), current, move, target, expect)
            encoded = json.dumps(target if isinstance(target, str) else dict(target))
            upsert = self.db.insert(labels).values(
                kind=self.kind, name=move.name, label=move.label, target=encoded
            )
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["kind", "name", "label"], set_={"target": encoded}
                )
            )
            conn.execute(
                PROMPT_HISTORY.insert().values(
                    kind=self.kind, name=move.name, move=json.dumps(move.to_json(), sort_keys=True)
                )
            )
        return move

    def history(self, name: str) -> list[LabelMove]:
        """Every recorded label move of ``name``, oldest first."""
        from sqlalchemy import select

        t = PROMPT_HISTORY
        rows = self._rows(select(t.c.move).where(t.c.kind == self.kind, t.c.name == name).order_by(t.c.id))
        try:
            return [LabelMove.from_json(json.loads(r[0])) for r in rows]
        except _ROW_ERRORS as exc:
            raise PromptFormatError(f"{self.path}: {name}: malformed history row: {exc}") from None


SQLiteStore = SQLStore
"""The former name of `SQLStore` (it takes a path or any database URL)."""


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _body(version: PromptVersion) -> str:
    return version.model_dump_json(by_alias=True, exclude={"label"})
