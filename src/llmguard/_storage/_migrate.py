"""Alembic, driven from code: the revisions of a database, and upgrading it to the newest.

Revisions live in ``migrations/versions`` inside the package; the revision table is
``llmguard_alembic_version``, so a database the host app also migrates with Alembic is fine.
Concurrent upgrades are serialised: a lock file beside a SQLite database, an advisory lock on
PostgreSQL (taken in ``migrations/env.py``).

Alembic (with Mako and Pygments, about 10 MiB resident) is imported only when a database must be
migrated: the revision check reads the version table against `REVISIONS` (a test holds them equal
to the scripts'), and a new, empty SQLite database is created from the declared schema
(`llmguard._storage._schema.METADATA`, which a test holds equal, statement for statement, to what
the migrations build) and stamped with the newest revision. The creation runs SQLAlchemy's
compilation of that schema, snapshotted in `llmguard._storage._sqlite_sql` (a test holds it
current), on the stdlib ``sqlite3`` module (`llmguard._storage._lite`): on a SQLite file neither
the check nor the creation imports SQLAlchemy. This module imports neither at import time.

Adding a revision: its script in ``migrations/versions``, the same change in ``_schema.py``, its
id at the end of `REVISIONS`, then ``python -m llmguard._storage._gen`` (tests fail until all
four agree).
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._lite import VERSION_TABLE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._database import Database

__all__ = ["REVISIONS", "file_lock", "head", "known", "revisions", "upgrade"]

_HERE = Path(__file__).parent

REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005")
"""This llmguard's revisions, oldest first (``migrations/versions``; a test holds them equal)."""


def _config(connection: Any = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE / "migrations"))
    config.set_main_option("version_table", VERSION_TABLE)
    config.attributes["connection"] = connection
    return config


@cache
def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this llmguard knows."""
    return REVISIONS[-1]


def known(revision: str) -> bool:
    """Whether ``revision`` is one of this llmguard's revisions."""
    return revision in REVISIONS


def current(db: Database) -> str | None:
    """The database's revision (``None``: never migrated)."""
    from sqlalchemy import column, inspect, select, table

    with db.engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rev = conn.execute(select(column("version_num")).select_from(table(VERSION_TABLE))).scalar()
        return None if rev is None else str(rev)


def revisions(db: Database) -> tuple[str | None, str]:
    """(the database's revision, the newest revision)."""
    return current(db), head()


@contextmanager
def file_lock(db: Database) -> Iterator[None]:
    """Serialise creations and migrations of a SQLite file across processes (a lock file beside it)."""
    path = db.path
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".migrate.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(db: Database, target: str = "head") -> tuple[str | None, str | None]:
    """Migrate ``db`` to ``target``; return (revision before, revision after)."""
    with file_lock(db):
        before = current(db)
        if target == "head" and before == head() and db.dialect == "sqlite":
            return before, before  # another process migrated it while this one waited for the lock
        if before is None and target == "head" and db.dialect == "sqlite" and _create_empty(db):
            return before, current(db)
        from alembic import command

        with db.engine.connect() as conn:
            command.upgrade(_config(conn), target)
            conn.commit()
        if db.dialect == "postgresql":
            _job_queue_schema(db)
        return before, current(db)


def _create_empty(db: Database) -> bool:
    """Create the newest schema in a SQLite database with no tables at all; False when it has any.

    (A database with tables, llmguard's from before Alembic or the app's own, goes through the
    migrations, which adopt what exists.) The caller holds the migration lock. The statements are
    the snapshot of `llmguard._storage._sqlite_sql`, the ones a process on the stdlib path runs.
    """
    from ._lite import create_if_empty

    raw = db.engine.raw_connection()
    try:
        return create_if_empty(raw.dbapi_connection, head())  # type: ignore[arg-type]
    finally:
        raw.close()


def _job_queue_schema(db: Database) -> None:
    """Create the judging job queue's tables (procrastinate's schema) once, when the extra is installed."""
    try:
        import procrastinate  # noqa: F401
    except ImportError:
        return
    if "procrastinate_jobs" in db.tables():
        return
    from llmguard.judging._jobs import make_app

    app = make_app(db.url)
    with app.open():
        app.schema_manager.apply_schema()
