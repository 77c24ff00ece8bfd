"""Input drift: embedded input vectors and the drift alerts delivered.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "llmguard_drift_vectors",
        sa.Column("id", _big, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("created_ns", _big, nullable=False),
        sa.Column("prompt_name", sa.String(256)),
        sa.Column("prompt_version", sa.String(64)),
        sa.Column("tags", sa.Text),
        sa.Column("model", sa.String(256)),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("content", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_llmguard_drift_vectors_created", "llmguard_drift_vectors", ["created_ns"])
    op.create_table(
        "llmguard_drift_alerts",
        sa.Column("rule", sa.String(256), primary_key=True),
        sa.Column("window", sa.String(64), primary_key=True),
        sa.Column("fired_ns", _big, nullable=False),
        sa.Column("message", sa.Text),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("llmguard_drift_alerts")
    op.drop_table("llmguard_drift_vectors")
