"""The shared local SQLite database: location, connection settings and per-store migrations.

Judging, feedback and the cost ledger each own their tables and migrate them through one shared
``llmguard_schema`` table (component -> version). Connections use WAL mode and a busy timeout, so
several threads and processes can write safely. Nothing is created until a storing feature runs.

Fork safety: SQLite connections and Python locks must not cross ``fork()`` mid-use. `after_fork`
registers an object whose ``_lock`` (the lock around all its SQLite use, if it has one) is taken
before ``fork()`` and released after it in the parent, so no transaction is in flight when the
process is copied (SQLite's per-process lock bookkeeping would otherwise make the child's own
connection wait forever); in the child its ``_after_fork()`` runs, to replace its locks and forget
its connection. `park` keeps the parent's connection object alive, unused, so the child never
closes the parent's file handles behind its back.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path

from .exceptions import ConfigurationError, LLMGuardError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "FORK_WAIT_S",
    "WRITE_ERRORS",
    "after_fork",
    "connect",
    "migrate",
    "open_store",
    "park",
]

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's lock before giving up."""

WRITE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, LLMGuardError)
"""Failures of a store (read-only file, full disk, unusable path): logged once and counted, never raised."""

FORK_WAIT_S = 5.0
"""How long ``fork()`` waits for each store's transaction in flight to finish."""

_migrate_lock = threading.Lock()
_forkable: weakref.WeakSet[object] = weakref.WeakSet()
_parked: list[object] = []


_held: list[threading.Lock] = []


def after_fork(obj: object) -> None:
    """Quiesce ``obj._lock`` around ``fork()``; in the child call ``obj._after_fork()`` (held weakly).

    Without an ``_after_fork`` method, the child just gets a fresh ``obj._lock``.
    """
    _forkable.add(obj)


def _before_fork() -> None:
    locks = [getattr(obj, "_lock", None) for obj in list(_forkable)]
    for lock in [*locks, _migrate_lock]:  # store locks before the migrate lock: the order they nest in
        if lock is not None and lock.acquire(timeout=FORK_WAIT_S):
            _held.append(lock)


def _release_in_parent() -> None:
    while _held:
        _held.pop().release()


def park(conn: object) -> None:
    """Keep a connection inherited from the parent open and unused in this (child) process.

    Closing it here could checkpoint or unlink the WAL the parent still uses; its memory is small.
    """
    if conn is not None:
        _parked.append(conn)


def _reinit_in_child() -> None:  # pragma: no cover - runs in forked children (tested there)
    global _migrate_lock
    _held.clear()
    _migrate_lock = threading.Lock()
    for obj in list(_forkable):
        reinit = getattr(obj, "_after_fork", None)
        if callable(reinit):
            reinit()
        elif hasattr(obj, "_lock"):
            obj._lock = threading.Lock()


os.register_at_fork(before=_before_fork, after_in_parent=_release_in_parent, after_in_child=_reinit_in_child)


def connect(path: str | Path, *, check_same_thread: bool = False) -> sqlite3.Connection:
    """Open (creating folders as needed) the database at ``path`` in WAL mode with a busy timeout.

    ``":memory:"`` opens a private in-memory database (for tests).
    """
    target = str(path)
    if target != ":memory:":
        file = Path(target)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"database {file}: cannot create its folder: {exc}") from exc
    conn = sqlite3.connect(
        target, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=check_same_thread, isolation_level=None
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if target != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def open_store(path: str | Path, component: str, migrations: Sequence[str]) -> sqlite3.Connection:
    """`connect` to ``path`` and `migrate` ``component``'s tables (the connection is closed if that fails)."""
    conn = connect(path)
    try:
        migrate(conn, component, migrations)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[str]) -> int:
    """Apply the ``migrations`` (SQL scripts, in order) of ``component`` not yet applied.

    Each script runs in one transaction with the version bump, so a crash never leaves a half
    migration. Returns the component's schema version after migrating.
    """
    with _migrate_lock:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS llmguard_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        row = conn.execute("SELECT version FROM llmguard_schema WHERE component = ?", (component,)).fetchone()
        version = int(row[0]) if row else 0
        for number, script in enumerate(migrations[version:], start=version + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = conn.execute(
                    "SELECT version FROM llmguard_schema WHERE component = ?", (component,)
                ).fetchone()
                if current and int(current[0]) >= number:
                    conn.execute("COMMIT")
                    continue
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO llmguard_schema (component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (component, number),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite already rolled back on a full disk
                    conn.execute("ROLLBACK")
                raise
            version = number
        return max(version, len(migrations)) if migrations else version


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
