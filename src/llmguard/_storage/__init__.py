"""One storage layer: one SQLAlchemy Core schema, Alembic migrations, SQLite embedded or PostgreSQL.

Imported only when a storing feature runs; ``import llmguard`` stays cheap. On a SQLite file the
per-call work runs on the stdlib ``sqlite3`` module (`llmguard._storage._lite`) and SQLAlchemy is
imported only by what needs it (PostgreSQL, migrations, the engine-based stores and commands).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._url import DEFAULT_PATH, display_url, is_postgres, resolve_url

if TYPE_CHECKING:
    from ._database import BUSY_TIMEOUT_MS, Database, open_database, reset_databases

_LAZY = frozenset({"BUSY_TIMEOUT_MS", "Database", "open_database", "reset_databases"})


def __getattr__(name: str) -> Any:
    """The database handle's names, imported on first use (`llmguard._settings` needs only `_url`)."""
    if name in _LAZY:
        from . import _database

        value = globals()[name] = getattr(_database, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUSY_TIMEOUT_MS",
    "DEFAULT_PATH",
    "Database",
    "display_url",
    "is_postgres",
    "open_database",
    "reset_databases",
    "resolve_url",
]
