"""Guarded rollouts: the rollout state per (name, label) and its audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "llmguard_rollouts",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("label", sa.String(64), primary_key=True),
        sa.Column("rollout_id", sa.String(64), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_ns", _big, nullable=False),
    )
    op.create_table(
        "llmguard_rollout_events",
        sa.Column("id", _big, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("rollout_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_ns", _big, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_llmguard_rollout_events_name", "llmguard_rollout_events", ["name"])


def downgrade() -> None:
    """Drop them."""
    op.drop_table("llmguard_rollout_events")
    op.drop_table("llmguard_rollouts")
