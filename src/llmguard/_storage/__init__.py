"""One storage layer: one SQLAlchemy Core schema, Alembic migrations, SQLite embedded or PostgreSQL.

Imported only when a storing feature runs; ``import llmguard`` stays cheap. On a SQLite file the
per-call work runs on the stdlib ``sqlite3`` module (`llmguard._storage._lite`) and SQLAlchemy is
imported only by what needs it (PostgreSQL, migrations, the engine-based stores and commands).
"""

from __future__ import annotations

from ._database import BUSY_TIMEOUT_MS, Database, open_database, reset_databases
from ._url import DEFAULT_PATH, display_url, is_postgres, resolve_url

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
