"""The shared local SQLite database: location, connection settings and per-store migrations.

Judging, feedback and the cost ledger each own their tables and migrate them through one shared
``llmguard_schema`` table (component -> version). Connections use WAL mode and a busy timeout, so
several threads and processes can write safely. Nothing is created until a storing feature runs.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from .exceptions import ConfigurationError

__all__ = ["BUSY_TIMEOUT_MS", "connect", "migrate"]

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's lock before giving up."""

_migrate_lock = threading.Lock()


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
                conn.execute("ROLLBACK")
                raise
            version = number
        return max(version, len(migrations)) if migrations else version


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
