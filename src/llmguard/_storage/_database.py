"""One database handle per URL and process: engine, schema check, portable queries, fork safety.

Every store (ledger, judgments, feedback, prompts) goes through a `Database`. SQLite is the
embedded default: WAL mode, a busy timeout, and write transactions that take the write lock up
front (``BEGIN IMMEDIATE``) so two writers never deadlock upgrading a read lock. PostgreSQL is
selected by URL (``postgresql://...``, psycopg 3 with a connection pool).

Schema: a SQLite database is created and migrated to the newest revision on first use (it is
embedded: one app owns it). A PostgreSQL database is shared by replicas, so it is never migrated
behind their backs: until ``llmguard db upgrade`` has run, its stores raise `SchemaVersionError`
naming that command (observers log it; hard budgets refuse calls).

SQLite file, without SQLAlchemy: the per-call work of a process whose database is a SQLite file
(`write_rows`, `read_rows`, `query`, `execute`, the schema check and creating a new database) runs
on the standard ``sqlite3`` module (`llmguard._storage._lite`), on one connection this process
holds, with the engine's settings and SQL compiled from the one schema
(`llmguard._storage._sqlite_sql`). SQLAlchemy (about 12 MiB resident) is imported only by what
needs it: `engine` (PostgreSQL, in-memory SQLite, the other stores), `write`/`read`, and migrating
an older database with Alembic.

Fork safety: a forked child disposes of the parent's pool without closing its connections
(SQLAlchemy's documented recipe), drops the parent's held SQLite connection unclosed, and opens
its own.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmguard.exceptions import ConfigurationError, SchemaVersionError, StorageError

from . import _lite
from ._lite import BUSY_TIMEOUT_MS
from ._url import display_url, is_postgres, resolve_url, sqlite_path

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["BUSY_TIMEOUT_MS", "Database", "open_database", "reset_databases"]

_QMARK = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")

_databases: dict[str, Database] = {}
_registry_lock = threading.Lock()
_live: weakref.WeakSet[Database] = weakref.WeakSet()
_orphans: list[sqlite3.Connection] = []  # a forked child's copies of the parent's connections: never closed


def open_database(value: str | os.PathLike[str] | Database) -> Database:
    """The process's `Database` for a path or URL (one engine and pool per URL, shared by the stores)."""
    if isinstance(value, Database):
        return value
    url = resolve_url(value)
    if url == "sqlite:///:memory:":
        return Database(url)  # private: every in-memory handle is its own database
    with _registry_lock:
        db = _databases.get(url)
        if db is None:
            db = _databases[url] = Database(url)
        return db


def reset_databases() -> None:
    """Forget the cached handles and close every live handle's connections (tests; a later use reconnects)."""
    with _registry_lock:
        _databases.clear()
    for db in list(_live):
        db.dispose()


def _qmark_to_named(sql: str, params: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """Rewrite ``?`` placeholders (outside quotes) as ``:p0, :p1...`` for SQLAlchemy's ``text()``."""
    values = list(params)
    out: dict[str, Any] = {}

    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token != "?":
            return token
        index = len(out)
        if index >= len(values):
            raise ValueError(f"SQL has more placeholders than the {len(values)} parameters given")
        out[f"p{index}"] = values[index]
        return f":p{index}"

    rewritten = _QMARK.sub(sub, sql)
    if len(out) != len(values):
        raise ValueError(f"SQL has {len(out)} placeholders but {len(values)} parameters were given")
    return rewritten, out


def _named(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``sql`` and its binds for SQLAlchemy's ``text()``: ``:name`` placeholders (``?`` ones renamed)."""
    return (sql, dict(params)) if isinstance(params, Mapping) else _qmark_to_named(sql, params)


class Database:
    """A database URL with its engine (created lazily, per process) and its schema check.

    Args:
        url: A resolved SQLAlchemy URL (see `resolve_url`).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "postgresql" if is_postgres(url) else "sqlite"
        self._engine: Engine | None = None
        self._current: list[Engine] = []  # the live engine, for the finalizer (which must not hold self)
        self._lock = threading.Lock()
        self._schema_ok = False
        self._file = sqlite_path(url) if self.dialect == "sqlite" else None
        self._writer: sqlite3.Connection | None = None  # SQLite file: the connection this process holds
        self._writer_lock = threading.Lock()
        _live.add(self)
        weakref.finalize(self, _dispose_all, self._current)  # a dropped handle closes its connections

    def __repr__(self) -> str:
        return f"Database({display_url(self.url)!r})"

    @property
    def display(self) -> str:
        """The URL with any password masked."""
        return display_url(self.url)

    @property
    def path(self) -> Path | None:
        """The SQLite file (``None`` for PostgreSQL and in-memory databases)."""
        return self._file

    @property
    def sqlite_file(self) -> bool:
        """Whether this is a SQLite file: its per-call work runs on the stdlib ``sqlite3`` module."""
        return self._file is not None

    # -- engine ------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (created on first use; a forked child makes its own)."""
        engine = self._engine
        if engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._create_engine()
                    self._current[:] = [self._engine]
                engine = self._engine
        return engine

    def _create_engine(self) -> Engine:
        from sqlalchemy import create_engine, event

        if self.dialect == "postgresql":
            try:
                import psycopg  # noqa: F401
            except ImportError as exc:
                raise ConfigurationError(
                    f"db {self.display}: PostgreSQL needs the postgres extra: pip install 'llmguard[postgres]'"
                ) from exc
            return create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        path = self.path
        if path is not None:
            self._make_folder(path)
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        }
        if path is None:
            from sqlalchemy.pool import StaticPool

            kwargs["poolclass"] = StaticPool
        engine = create_engine(self.url, **kwargs)
        wal = path is not None

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            _lite.configure(dbapi_conn, wal=wal)  # the settings of the stdlib path's connection

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = not conn.get_execution_options().get("llmguard_read", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @staticmethod
    def _make_folder(path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"database {path}: cannot create its folder: {exc}") from exc

    def _after_fork(self) -> None:  # pragma: no cover - runs in forked children (tested there)
        self._lock = threading.Lock()
        self._writer_lock = threading.Lock()
        if self._writer is not None:
            _orphans.append(self._writer)  # the parent's connection: never used (nor closed) here
        self._writer = None
        if self._engine is not None:
            self._engine.dispose(close=False)

    def dispose(self) -> None:
        """Close the held connection and the pool's connections (a later use reconnects)."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            with suppress(sqlite3.Error):  # best effort: the handle is dropped either way
                writer.close()
        with self._lock:
            engine, self._engine = self._engine, None
            self._current.clear()
        if engine is not None:
            engine.dispose()

    # -- schema ------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Check (SQLite: create or migrate) the schema once per process.

        Raises:
            SchemaVersionError: A PostgreSQL database not at the newest revision, or any database
                at a revision this llmguard does not know (made by a newer release).
        """
        if self._schema_ok:
            return
        from . import _migrate

        if self._file is not None:
            with self._writer_lock:
                if not self._schema_ok:
                    self._ensure_file_schema()
                    self._schema_ok = True
            return
        with self._storage_errors():
            current, head = _migrate.revisions(self)
            if current != head:
                self._refuse_unknown(current, head)
                if self.dialect == "postgresql":
                    raise SchemaVersionError(
                        f"database {self.display} is at schema revision {current or '(none)'}, this llmguard "
                        f"needs {head}: run `llmguard db upgrade --db URL` once (from one machine), then restart"
                    )
                _migrate.upgrade(self)
        self._schema_ok = True

    def _refuse_unknown(self, current: str | None, head: str) -> None:
        from . import _migrate

        if current is not None and not _migrate.known(current):
            raise SchemaVersionError(
                f"database {self.display} has schema revision {current}, unknown to this llmguard "
                f"(which needs {head}): it was migrated by a newer llmguard; upgrade llmguard"
            )

    def _ensure_file_schema(self) -> None:
        """The SQLite file's schema check on the held connection; a new database is created from the snapshot.

        An older database is migrated by Alembic (SQLAlchemy is imported then), under the same
        file lock as a creation. Call with ``_writer_lock``.
        """
        from . import _migrate

        head = _migrate.head()
        try:
            conn = self._held()
            current = _lite.revision(conn)
            if current == head:
                return
            self._refuse_unknown(current, head)
            if current is None:
                with _migrate.file_lock(self):
                    if _lite.create_if_empty(conn, head):
                        return
        except sqlite3.Error as exc:
            raise self._driver_error(exc) from exc
        with self._storage_errors():
            _migrate.upgrade(self)

    # -- access ------------------------------------------------------------------------------
    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            yield
        except SQLAlchemyError as exc:
            raise StorageError(f"database {self.display}: {type(exc).__name__}: {_first_line(exc)}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on success (SQLite: ``BEGIN IMMEDIATE``)."""
        self.ensure_schema()
        with self._storage_errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading (SQLite: a deferred transaction, never blocking writers)."""
        self.ensure_schema()
        with self._storage_errors(), self.engine.connect() as conn:
            conn = conn.execution_options(llmguard_read=True)
            yield conn

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (``?`` or ``:name`` placeholders) and return all rows as tuples."""
        if self._file is not None:
            return self._run(sql, params)
        from sqlalchemy import text

        statement, binds = _named(sql, params)
        with self.read() as conn:
            return [tuple(row) for row in conn.execute(text(statement), binds)]

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> int:
        """Run one writing statement in its own transaction; return the number of rows it changed."""
        if self._file is not None:
            return self._write_file(sql, params if isinstance(params, Mapping) else tuple(params))
        from sqlalchemy import text

        statement, binds = _named(sql, params)
        with self.write() as conn:
            return int(conn.execute(text(statement), binds).rowcount)

    def write_rows(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` with the driver-level one-row ``sql`` (``INSERT ... VALUES (?, ...) ...``), atomically.

        On a SQLite file this runs on the stdlib connection this process holds (no SQLAlchemy), in
        multi-row statements (`many_rows`) of power-of-two sizes up to `ROWS_PER_STATEMENT`: a batch
        that is one such statement runs in autocommit mode, a larger one as ``BEGIN IMMEDIATE``, its
        statements, ``COMMIT`` (500 rows: 10 statements). Each statement releases the GIL once.
        ``executemany`` would release it once per row, and a background writer then waits for it
        behind every busy caller thread each time (about 200 rows a second under one CPU-bound
        thread), so its queue, and the rows a ``kill -9`` loses, grow. Elsewhere (PostgreSQL,
        in-memory SQLite) it is ``write()``.

        Raises:
            StorageError: The database refused the batch (nothing of it is stored).
        """
        if self._file is None:
            with self.write() as conn:
                conn.exec_driver_sql(sql, list(rows))
            return
        if rows:
            self._write_chunks(sql, rows)

    def read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only query with ``?`` placeholders; on a SQLite file, on the connection `write_rows` holds.

        The ledger's budget refresh runs every second on the writer thread: this spares it a pool
        checkout per query. Elsewhere (PostgreSQL, in-memory SQLite) it is `query`.
        """
        if self._file is None:
            return self.query(sql, params)
        return self._run(sql, tuple(params))

    def _run(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """SQLite file: a read on the held connection (``?`` or ``:name`` placeholders)."""
        self.ensure_schema()
        binds = params if isinstance(params, Mapping) else tuple(params)
        with self._writer_lock:
            try:
                return list(self._held().execute(sql, binds).fetchall())
            except sqlite3.Error as exc:
                raise self._driver_error(exc) from exc

    def _write_file(self, sql: str, params: Any) -> int:
        """SQLite file: ``sql`` once with ``params``, in a write transaction on the held connection.

        The transaction is ``BEGIN IMMEDIATE``; returns the number of rows the statement changed.
        """
        with self._file_cursor() as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(sql, params)
            changed = cursor.rowcount
            cursor.execute("COMMIT")
            return int(changed)

    def _write_chunks(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """SQLite file: ``rows`` through `many_rows` statements, one transaction for the whole batch."""
        with self._file_cursor() as cursor:
            if len(rows) == 1:  # the usual batch of a quiet app: the one-row statement as it is
                cursor.execute(sql, rows[0])
                return
            most = max(1, min(ROWS_PER_STATEMENT, _MAX_VARIABLES // len(rows[0])))
            most = 1 << (most.bit_length() - 1)  # a power of two
            chunked = len(rows) & (len(rows) - 1) != 0 or len(rows) > most  # more than one statement
            if chunked:
                cursor.execute("BEGIN IMMEDIATE")
            start, left = 0, len(rows)
            while left:
                size = min(most, 1 << (left.bit_length() - 1))  # statements of few sizes: few cached
                chunk = rows[start : start + size]
                cursor.execute(many_rows(sql, size), tuple(chain.from_iterable(chunk)))
                start, left = start + size, left - size
            if chunked:
                cursor.execute("COMMIT")

    @contextmanager
    def _file_cursor(self) -> Iterator[sqlite3.Cursor]:
        """SQLite file: a cursor on the held connection, under the writer lock, for one write.

        A ``sqlite3.Error`` rolls the transaction back and is raised as a `StorageError`.
        """
        self.ensure_schema()
        with self._writer_lock:
            try:
                writer = self._held()
            except sqlite3.Error as exc:
                raise self._driver_error(exc) from exc
            cursor = writer.cursor()
            try:
                yield cursor
            except sqlite3.Error as exc:
                self._abort_writes(writer)
                raise self._driver_error(exc) from exc
            finally:
                cursor.close()

    def _held(self) -> sqlite3.Connection:
        """The stdlib connection this process holds to the SQLite file (call with ``_writer_lock``).

        Raises:
            sqlite3.Error: The file cannot be opened as a database.
            ConfigurationError: Its folder cannot be created.
        """
        writer = self._writer
        if writer is None:
            assert self._file is not None
            self._make_folder(self._file)
            writer = self._writer = _lite.connect(self._file)
        return writer

    def _driver_error(self, exc: BaseException) -> StorageError:
        return StorageError(f"database {self.display}: {type(exc).__name__}: {_first_line(exc)}")

    def _abort_writes(self, writer: sqlite3.Connection) -> None:
        """Roll back a failed batch; a connection that cannot roll back is closed (the next use reopens)."""
        try:
            if writer.in_transaction:
                writer.execute("ROLLBACK")
        except Exception:
            self._writer = None
            with suppress(sqlite3.Error):
                writer.close()

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT construct for ``table`` (it has ``on_conflict_do_nothing/update``)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def tables(self) -> set[str]:
        """Names of the tables in the database."""
        from sqlalchemy import inspect

        with self._storage_errors(), self.engine.connect() as conn:
            return set(inspect(conn).get_table_names())

    def columns(self, table: str) -> set[str]:
        """Column names of ``table`` (empty when it does not exist)."""
        from sqlalchemy import inspect

        with self._storage_errors(), self.engine.connect() as conn:
            inspector = inspect(conn)
            if not inspector.has_table(table):
                return set()
            return {str(c["name"]) for c in inspector.get_columns(table)}

    def json_elements(self, column: str, alias: str) -> str:
        """A FROM item with one row per element of the JSON array in ``column`` (see `_sql.json_elements`)."""
        from ._sql import json_elements

        return json_elements("postgresql" if self.dialect == "postgresql" else "sqlite", column, alias)


def _dispose_all(engines: list[Engine]) -> None:
    for engine in engines:
        engine.dispose()


ROWS_PER_STATEMENT = 64
"""Rows per multi-row INSERT on a SQLite file at most (fewer where the columns would pass SQLite's
variable limit). A batch goes in statements of power-of-two sizes up to it, so a connection caches
a handful of prepared statements: the seven ledger inserts of 1 to 64 rows hold about 0.1 MiB
together, where one 500-row insert holds 2.4 MiB and one per batch size would hold hundreds of MiB."""

_MAX_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999

_VALUES = re.compile(r"\sVALUES\s*(\((?:\?\s*,\s*)*\?\))")


@lru_cache(maxsize=64)
def many_rows(sql: str, count: int) -> str:
    """The one-row ``INSERT ... VALUES (?, ...) [ON CONFLICT ...]`` ``sql`` as one statement for ``count`` rows.

    Raises:
        ValueError: ``sql`` has no ``VALUES (?, ...)`` clause of plain placeholders (a bug in the caller).
    """
    match = _VALUES.search(sql)
    if match is None:
        raise ValueError(f"not a one-row INSERT with ? placeholders: {sql[:80]!r}")
    row = match.group(1)
    return f"{sql[: match.start(1)]}{', '.join([row] * count)}{sql[match.end(1) :]}"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def connection_locks() -> list[threading.Lock]:
    """The locks of the held SQLite connections (`llmguard._db` takes them, last, before ``fork()``)."""
    return [db._writer_lock for db in list(_live) if db._writer is not None]


def _reinit_in_child() -> None:  # pragma: no cover - runs in forked children (tested there)
    global _registry_lock
    _registry_lock = threading.Lock()
    for db in list(_live):
        db._after_fork()


os.register_at_fork(after_in_child=_reinit_in_child)
