"""Baseline: the ledger, alerts, judgments, feedback and prompt store tables.

Databases made by llmguard before Alembic (tracked in ``llmguard_schema``) are adopted: tables
that exist keep their rows and get any missing column and index; missing tables are created.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tables(md: sa.MetaData) -> list[sa.Table]:
    text, flt = sa.Text, sa.Float
    return [
        sa.Table(
            "cost_ledger", md,
            sa.Column("call_id", text, primary_key=True),
            sa.Column("ts_ns", _big, nullable=False),
            sa.Column("day", text, nullable=False),
            sa.Column("kind", text, nullable=False),
            sa.Column("service", text, nullable=False),
            sa.Column("environment", text, nullable=False),
            sa.Column("provider", text, nullable=False),
            *(sa.Column(c, text) for c in ("requested_model", "model", "response_model", "prompt_name", "prompt_version")),
            *(sa.Column(c, _big) for c in (
                "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
                "cost_nanos",
            )),
            sa.Column("duration_s", flt, nullable=False),
            sa.Column("ttfc_s", flt),
            sa.Column("status", text, nullable=False),
            sa.Column("error_type", text),
            sa.Column("refused", sa.Integer, nullable=False, server_default="0"),
            *(sa.Column(c, text) for c in ("user_id", "session_id", "tags", "metadata")),
            sa.Index("cost_ledger_day", "day"),
            sa.Index("cost_ledger_user", "user_id", "day"),
            sqlite_with_rowid=False,
        ),
        sa.Table(
            "cost_alerts", md,
            sa.Column("rule", text, nullable=False),
            sa.Column("window", text, nullable=False),
            sa.Column("fired_ns", _big, nullable=False),
            sa.Column("message", text, nullable=False),
            sa.PrimaryKeyConstraint("rule", "window"),
        ),
        sa.Table(
            "llmguard_judgments", md,
            sa.Column("id", _big, primary_key=True, autoincrement=True),
            sa.Column("created_ns", _big, nullable=False),
            sa.Column("call_id", text, nullable=False),
            *(sa.Column(c, text) for c in ("trace_id", "span_id", "response_id", "prompt_name", "prompt_version")),
            sa.Column("judge", text, nullable=False),
            sa.Column("status", text, nullable=False),
            sa.Column("score", flt),
            sa.Column("normalized", flt),
            sa.Column("label", text),
            sa.Column("passed", sa.Integer),
            sa.Column("reason", text),
            sa.Column("fingerprint", text),
            sa.Column("error_type", text),
            sa.Column("latency_s", flt),
            sa.Index("llmguard_judgments_call", "call_id"),
            sa.Index("llmguard_judgments_created", "created_ns"),
            sqlite_autoincrement=True,
        ),
        sa.Table(
            "llmguard_feedback", md,
            sa.Column("id", _big, primary_key=True, autoincrement=True),
            sa.Column("call_id", text, nullable=False),
            sa.Column("name", text, nullable=False),
            sa.Column("user_id", text, nullable=False, server_default=""),
            sa.Column("value_type", text, nullable=False),
            sa.Column("score", flt),
            sa.Column("label", text),
            sa.Column("value_json", text, nullable=False),
            *(sa.Column(c, text) for c in (
                "comment", "metadata", "trace_id", "span_id", "response_id", "prompt_name", "prompt_version", "model",
            )),
            sa.Column("source", text, nullable=False),
            sa.Column("negative", sa.Integer, nullable=False, server_default="0"),
            sa.Column("judging", text),
            sa.Column("content", text),
            sa.Column("created_at", text, nullable=False),
            sa.Column("updated_at", text, nullable=False),
            sa.Column("revisions", sa.Integer, nullable=False, server_default="1"),
            sa.Column("session_id", text),
            sa.UniqueConstraint("call_id", "name", "user_id", name="llmguard_feedback_key"),
            sa.Index("llmguard_feedback_prompt", "prompt_name", "prompt_version", "model"),
            sa.Index("llmguard_feedback_trace", "trace_id"),
        ),
        sa.Table(
            "llmguard_feedback_content", md,
            sa.Column("call_id", text, primary_key=True),
            sa.Column("content", text, nullable=False),
            sa.Column("created_at", text, nullable=False),
        ),
        sa.Table(
            "prompt_versions", md,
            sa.Column("kind", text, nullable=False),
            sa.Column("name", text, nullable=False),
            sa.Column("version", text, nullable=False),
            sa.Column("content_hash", text, nullable=False),
            sa.Column("body", text, nullable=False),
            sa.Column("created", text),
            sa.PrimaryKeyConstraint("kind", "name", "version"),
        ),
        sa.Table(
            "prompt_labels", md,
            sa.Column("kind", text, nullable=False),
            sa.Column("name", text, nullable=False),
            sa.Column("label", text, nullable=False),
            sa.Column("target", text, nullable=False),
            sa.PrimaryKeyConstraint("kind", "name", "label"),
        ),
        sa.Table(
            "prompt_label_history", md,
            sa.Column("id", _big, primary_key=True, autoincrement=True),
            sa.Column("kind", text, nullable=False),
            sa.Column("name", text, nullable=False),
            sa.Column("move", text, nullable=False),
            sa.Index("prompt_label_history_name", "kind", "name", "id"),
            sqlite_autoincrement=True,
        ),
    ]  # fmt: skip


def upgrade() -> None:
    """Create the tables, or adopt the ones an older llmguard made (adding what they lack)."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in _tables(sa.MetaData()):
        if not inspector.has_table(table.name):
            table.create(bind)
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                op.add_column(
                    table.name, sa.Column(column.name, column.type, server_default=column.server_default)
                )
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(bind)
    if inspector.has_table("llmguard_schema"):
        op.drop_table("llmguard_schema")


def downgrade() -> None:
    """Drop every llmguard table."""
    for table in reversed(_tables(sa.MetaData())):
        op.drop_table(table.name)
