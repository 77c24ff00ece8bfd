"""One storage layer: one SQLAlchemy Core schema, Alembic migrations, SQLite embedded or PostgreSQL.

Imported only when a storing feature runs (it imports SQLAlchemy); ``import llmguard`` stays cheap.
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
