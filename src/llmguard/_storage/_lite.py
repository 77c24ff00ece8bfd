"""SQLite on the standard ``sqlite3`` module: the connection settings, the revision check, a new database.

A process whose stores live in a SQLite file runs its per-call storage (ledger batches, budget
reads, judgments, the schema check, creating a new database) here, without SQLAlchemy (about
12 MiB resident). The SQL it runs is SQLAlchemy's own output for the one schema, snapshotted in
`llmguard._storage._sqlite_sql`; SQLAlchemy's engine uses the same settings (`configure`) for the
other stores, and Alembic still migrates an older database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from . import _sqlite_sql

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CACHE_KIB",
    "VERSION_TABLE",
    "configure",
    "connect",
    "create_if_empty",
    "revision",
    "table_names",
]

BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another process's lock before giving up."""

CACHE_KIB = 512
"""SQLite's page cache per connection, in KiB (SQLite's default is 2,000 KiB).

The held connection appends ledger rows and judgments at the B-trees' right edges and sums one
window's covering index per budget refresh; a quarter of the default holds those pages, and what
does not fit is read again from the operating system's file cache, not from disk. Each
connection's cache is resident for the life of the process: `benchmarks/memory.py` counts it.
"""

VERSION_TABLE = "llmguard_alembic_version"
"""Alembic's revision table, named so it never collides with the host app's own migrations."""


_NULL_KEY = (type(None), sqlite3.PrepareProtocol)
_NOTHING: dict[object, None] = {}


def bind_nulls_directly() -> None:
    """Register an adapter for ``None`` that returns ``None``, unless the process already has one.

    CPython's ``sqlite3`` adapts every parameter that is not an exact ``int``, ``float``, ``str``
    or ``bytearray``, ``None`` included: with no adapter registered for it, it looks for
    ``__adapt__`` on its protocol type, and on 3.11 that failed look-up builds an ``AttributeError``
    message each time. A ledger row has a dozen ``NULL`` columns, so this was about 23,000
    instructions a row (a 10-row ledger batch: 854k before, 619k after, `benchmarks/RESULTS.md`). The
    adapter (``{}.get``, a C function returning ``None``) is found in the registry instead, and
    ``None`` is bound as ``NULL`` exactly as before, for the app's own ``sqlite3`` use too. An
    adapter the app registered first is kept; one it registers later replaces this one.
    """
    adapters = getattr(sqlite3, "adapters", None)
    if isinstance(adapters, dict) and _NULL_KEY not in adapters:
        sqlite3.register_adapter(type(None), _NOTHING.get)


def configure(conn: sqlite3.Connection, *, wal: bool) -> None:
    """Set a new connection up: transactions begun explicitly, the busy timeout, the page cache, WAL for a file."""
    bind_nulls_directly()
    conn.isolation_level = None  # transactions are begun explicitly (BEGIN IMMEDIATE for writes)
    cursor = conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")  # negative: KiB, not pages
        if wal:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file ``path``, set up as the engine's are (usable from any thread).

    Raises:
        sqlite3.Error: The file cannot be opened as a database.
    """
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    try:
        configure(conn, wal=True)
    except BaseException:
        conn.close()
        raise
    return conn


def table_names(conn: sqlite3.Connection) -> list[str]:
    """The database's tables, without SQLite's own (as SQLAlchemy's inspector lists them)."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite~_%' ESCAPE '~' "
        "ORDER BY name"
    ).fetchall()
    return [str(name) for (name,) in rows]


def revision(conn: sqlite3.Connection) -> str | None:
    """The database's schema revision (``None``: never migrated)."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)
    ).fetchone()
    if found is None:
        return None
    row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    return None if row is None or row[0] is None else str(row[0])


def create_if_empty(conn: sqlite3.Connection, head: str) -> bool:
    """Create the schema at revision ``head`` in a database with no tables; False when that is not this.

    One write transaction (``BEGIN IMMEDIATE``): the snapshot's ``CREATE`` statements and the
    revision stamp. False, with nothing changed, when the database has tables (llmguard's from
    before Alembic, or the app's own: the migrations adopt them) or when the snapshot is not of
    ``head`` (then the migrations build it). True when it is already at ``head`` (another process
    created it first). The caller holds the migration lock; ``conn`` is in autocommit mode.
    """
    if head != _sqlite_sql.REVISION:
        return False
    cursor = conn.cursor()
    try:
        cursor.execute("BEGIN IMMEDIATE")
        try:
            if table_names(conn):
                done = revision(conn) == head
                cursor.execute("ROLLBACK")
                return done
            for statement in _sqlite_sql.CREATE:
                cursor.execute(statement)
            cursor.execute(_sqlite_sql.STAMP, (head,))
            cursor.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                cursor.execute("ROLLBACK")
            raise
    finally:
        cursor.close()
    return True
