"""The human review queue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the queue table."""
    op.create_table(
        "llmguard_review_queue",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("enqueued_ns", _big, nullable=False),
        sa.Column("prompt_name", sa.String(256)),
        sa.Column("prompt_version", sa.String(64)),
        sa.Column("model", sa.String(256)),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_index("ix_llmguard_review_queue_enqueued_ns", "llmguard_review_queue", ["enqueued_ns"])


def downgrade() -> None:
    """Drop it."""
    op.drop_table("llmguard_review_queue")
