"""A SQLite store for registries edited at runtime: versions, labels and history in three tables.

Label moves run in one ``BEGIN IMMEDIATE`` transaction (read, compare, write, record), so
concurrent promotions from several processes are safe. The SQL is plain enough that a Postgres
store is the same class with another connection and ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmguard._db import connect, migrate
from llmguard.exceptions import PromptFormatError, PromptNotFoundError

from ._labels import LabelMove, LabelTarget, check_label, parse_target
from ._loader import check_parts
from ._model import ArtifactKind, PromptVersion, check_name
from ._store import PromptEntry, check_move, check_new_version

__all__ = ["SQLiteStore"]

_ROW_ERRORS = (ValueError, TypeError, KeyError, RecursionError)
"""What decoding a damaged row raises (JSON, label targets, history moves)."""


@contextmanager
def _typed_errors(path: object) -> Iterator[None]:
    """A damaged, truncated or foreign database file becomes a `PromptFormatError` naming it."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise PromptFormatError(
            f"{path}: cannot use the prompt store: {exc} (a damaged, truncated or non-SQLite file?)"
        ) from exc


MIGRATIONS = [
    """
    CREATE TABLE IF NOT EXISTS prompt_versions (
        kind TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
        content_hash TEXT NOT NULL, body TEXT NOT NULL, created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
        PRIMARY KEY (kind, name, version)
    );
    CREATE TABLE IF NOT EXISTS prompt_labels (
        kind TEXT NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, target TEXT NOT NULL,
        PRIMARY KEY (kind, name, label)
    );
    CREATE TABLE IF NOT EXISTS prompt_label_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, name TEXT NOT NULL, move TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS prompt_label_history_name ON prompt_label_history (kind, name, id)
    """
]


class SQLiteStore:
    """Versions and labels in the shared llmguard SQLite database (WAL, busy timeout).

    Args:
        path: The database file (``":memory:"`` for a private one).
        kind: ``prompt`` or ``config``.
    """

    def __init__(self, path: str | Path, *, kind: ArtifactKind = "prompt") -> None:
        self.path = path
        self.kind: ArtifactKind = kind
        self._lock = threading.RLock()
        with _typed_errors(path):
            self._conn = connect(path)
            try:
                migrate(self._conn, "prompts", MIGRATIONS)
            except BaseException:
                self._conn.close()
                raise

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, kind={self.kind!r})"

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _rows(self, sql: str, *args: Any) -> list[Any]:
        with self._lock, _typed_errors(self.path):
            return self._conn.execute(sql, args).fetchall()

    def names(self) -> list[str]:
        """Every name with at least one version, sorted."""
        rows = self._rows("SELECT DISTINCT name FROM prompt_versions WHERE kind = ? ORDER BY name", self.kind)
        return [str(r[0]) for r in rows]

    def _versions(self, name: str) -> dict[str, PromptVersion]:
        rows = self._rows(
            "SELECT version, body FROM prompt_versions WHERE kind = ? AND name = ?", self.kind, name
        )
        out: dict[str, PromptVersion] = {}
        for version, body in rows:
            try:
                out[version] = PromptVersion.model_validate_json(body)
            except _ROW_ERRORS as exc:
                raise PromptFormatError(f"{self.path}: {name}@{version}: malformed row: {exc}") from None
        return out

    def _labels(self, name: str) -> dict[str, LabelTarget]:
        rows = self._rows(
            "SELECT label, target FROM prompt_labels WHERE kind = ? AND name = ?", self.kind, name
        )
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

    def save(self, version: PromptVersion) -> None:
        """Add a version (idempotent for identical content; different content under one version is an error)."""
        if version.kind != self.kind:
            raise PromptFormatError(
                f"{version.name}@{version.version}: a {version.kind} in a {self.kind} store"
            )
        check_parts(version, version.source or f"{version.name}@{version.version}")
        with self._lock, _typed_errors(self.path), self._transaction():
            row = self._conn.execute(
                "SELECT body FROM prompt_versions WHERE kind = ? AND name = ? AND version = ?",
                (self.kind, version.name, version.version),
            ).fetchone()
            existing = PromptVersion.model_validate_json(row[0]) if row else None
            if check_new_version(existing, version, str(self.path)):
                self._conn.execute(
                    "INSERT INTO prompt_versions (kind, name, version, content_hash, body) VALUES (?, ?, ?, ?, ?)",
                    (self.kind, version.name, version.version, version.content_hash, _body(version)),
                )

    def move_label(self, move: LabelMove, target: LabelTarget, expect: object) -> LabelMove:
        """Compare-and-set a label and record the move, in one immediate transaction."""
        with self._lock, _typed_errors(self.path), self._transaction():
            row = self._conn.execute(
                "SELECT target FROM prompt_labels WHERE kind = ? AND name = ? AND label = ?",
                (self.kind, move.name, move.label),
            ).fetchone()
            current = parse_target(json.loads(row[0]), f"{self.path}: label {move.label}") if row else None
            move = check_move(self._versions(move.name), current, move, target, expect)
            self._conn.execute(
                "INSERT INTO prompt_labels (kind, name, label, target) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, name, label) DO UPDATE SET target = excluded.target",
                (
                    self.kind,
                    move.name,
                    move.label,
                    json.dumps(target if isinstance(target, str) else dict(target)),
                ),
            )
            self._conn.execute(
                "INSERT INTO prompt_label_history (kind, name, move) VALUES (?, ?, ?)",
                (self.kind, move.name, json.dumps(move.to_json(), sort_keys=True)),
            )
        return move

    def history(self, name: str) -> list[LabelMove]:
        """Every recorded label move of ``name``, oldest first."""
        rows = self._rows(
            "SELECT move FROM prompt_label_history WHERE kind = ? AND name = ? ORDER BY id", self.kind, name
        )
        try:
            return [LabelMove.from_json(json.loads(r[0])) for r in rows]
        except _ROW_ERRORS as exc:
            raise PromptFormatError(f"{self.path}: {name}: malformed history row: {exc}") from None

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _body(version: PromptVersion) -> str:
    return version.model_dump_json(by_alias=True, exclude={"label"})
