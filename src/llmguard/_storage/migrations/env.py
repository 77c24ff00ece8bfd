"""Alembic environment for llmguard's schema: runs on the connection handed in by `_migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from llmguard._storage._schema import METADATA, VERSION_TABLE

_ADVISORY_KEY = 7_310_442_019_311  # llmguard's advisory-lock key: one migration at a time per database


def run() -> None:
    """Run the migrations online, on the given connection."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        context.run_migrations()


run()
