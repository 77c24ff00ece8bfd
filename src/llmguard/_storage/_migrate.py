"""Alembic, driven from code: the revisions of a database, and upgrading it to the newest.

Revisions live in ``migrations/versions`` inside the package; the revision table is
``llmguard_alembic_version``, so a database the host app also migrates with Alembic is fine.
Concurrent upgrades are serialised: a lock file beside a SQLite database, an advisory lock on
PostgreSQL (taken in ``migrations/env.py``).
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._schema import VERSION_TABLE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._database import Database

__all__ = ["head", "known", "revisions", "upgrade"]

_HERE = Path(__file__).parent


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
    return str(_script().get_current_head())


def known(revision: str) -> bool:
    """Whether ``revision`` is one of this llmguard's revisions."""
    from alembic.util import CommandError

    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


def current(db: Database) -> str | None:
    """The database's revision (``None``: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        rev = context.get_current_revision()
        return None if rev is None else str(rev)


def revisions(db: Database) -> tuple[str | None, str]:
    """(the database's revision, the newest revision)."""
    return current(db), head()


@contextmanager
def _file_lock(db: Database) -> Iterator[None]:
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
    from alembic import command

    with _file_lock(db):
        before = current(db)
        with db.engine.connect() as conn:
            command.upgrade(_config(conn), target)
            conn.commit()
        if db.dialect == "postgresql":
            _job_queue_schema(db)
        return before, current(db)


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
