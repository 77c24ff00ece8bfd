"""The one schema of every llmguard table, in SQLAlchemy Core, for SQLite and PostgreSQL alike.

Alembic migrations (``migrations/versions``) create and evolve exactly these tables; a test checks
that a database migrated to head matches this metadata. Types are portable: text, integers (costs
are integer nano-USD, timestamps integer nanoseconds or ISO 8601 text), floats and bytes. JSON values
are stored as text, read back with the dialect's JSON functions (see `Database.json_*`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ._lite import VERSION_TABLE

__all__ = [
    "ALERTS",
    "DRIFT_ALERTS",
    "DRIFT_VECTORS",
    "FEEDBACK",
    "FEEDBACK_CONTENT",
    "JUDGMENTS",
    "LEDGER",
    "METADATA",
    "PROMPT_HISTORY",
    "PROMPT_LABELS",
    "PROMPT_VERSIONS",
    "REVIEW_QUEUE",
    "ROLLOUTS",
    "ROLLOUT_EVENTS",
    "VERSION_TABLE",
]

METADATA = MetaData()
"""Every llmguard table."""

# A 64-bit integer everywhere (SQLite's INTEGER already is); autoincrement ids stay SQLite's rowid alias.
BigInt = BigInteger().with_variant(Integer(), "sqlite")

LEDGER = Table(
    "cost_ledger",
    METADATA,
    Column("call_id", Text, primary_key=True),
    Column("ts_ns", BigInt, nullable=False),
    Column("day", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("environment", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("requested_model", Text),
    Column("model", Text),
    Column("response_model", Text),
    Column("prompt_name", Text),
    Column("prompt_version", Text),
    Column("input_tokens", BigInt),
    Column("output_tokens", BigInt),
    Column("cache_read_tokens", BigInt),
    Column("cache_write_tokens", BigInt),
    Column("reasoning_tokens", BigInt),
    Column("cost_nanos", BigInt),
    Column("duration_s", Float, nullable=False),
    Column("ttfc_s", Float),
    Column("status", Text, nullable=False),
    Column("error_type", Text),
    Column("refused", Integer, nullable=False, server_default="0"),
    Column("user_id", Text),
    Column("session_id", Text),
    Column("tags", Text),
    Column("metadata", Text),
    Index("cost_ledger_day_cost", "day", "cost_nanos"),  # budget totals read the index alone (0005)
    Index("cost_ledger_user", "user_id", "day"),
    sqlite_with_rowid=False,
)
"""One row per call (see `llmguard.cost._ledger.COLUMNS`)."""

ALERTS = Table(
    "cost_alerts",
    METADATA,
    Column("rule", Text, nullable=False),
    Column("window", Text, nullable=False),
    Column("fired_ns", BigInt, nullable=False),
    Column("message", Text, nullable=False),
    PrimaryKeyConstraint("rule", "window"),
)
"""Alerts delivered, one row per (rule, window): deduplication across processes and replicas."""

JUDGMENTS = Table(
    "llmguard_judgments",
    METADATA,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("created_ns", BigInt, nullable=False),
    Column("call_id", Text, nullable=False),
    Column("trace_id", Text),
    Column("span_id", Text),
    Column("response_id", Text),
    Column("prompt_name", Text),
    Column("prompt_version", Text),
    Column("judge", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("score", Float),
    Column("normalized", Float),
    Column("label", Text),
    Column("passed", Integer),
    Column("reason", Text),
    Column("fingerprint", Text),
    Column("error_type", Text),
    Column("latency_s", Float),
    Index("llmguard_judgments_call", "call_id"),
    Index("llmguard_judgments_created", "created_ns"),
    sqlite_autoincrement=True,
)
"""One row per (sampled call, judge) outcome."""

FEEDBACK = Table(
    "llmguard_feedback",
    METADATA,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("call_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("user_id", Text, nullable=False, server_default=""),
    Column("value_type", Text, nullable=False),
    Column("score", Float),
    Column("label", Text),
    Column("value_json", Text, nullable=False),
    Column("comment", Text),
    Column("metadata", Text),
    Column("trace_id", Text),
    Column("span_id", Text),
    Column("response_id", Text),
    Column("prompt_name", Text),
    Column("prompt_version", Text),
    Column("model", Text),
    Column("source", Text, nullable=False),
    Column("negative", Integer, nullable=False, server_default="0"),
    Column("judging", Text),
    Column("content", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("revisions", Integer, nullable=False, server_default="1"),
    Column("session_id", Text),
    UniqueConstraint("call_id", "name", "user_id", name="llmguard_feedback_key"),
    Index("llmguard_feedback_prompt", "prompt_name", "prompt_version", "model"),
    Index("llmguard_feedback_trace", "trace_id"),
)
"""One row per (call, feedback name, user): re-sending updates it."""

FEEDBACK_CONTENT = Table(
    "llmguard_feedback_content",
    METADATA,
    Column("call_id", Text, primary_key=True),
    Column("content", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)
"""A call's retained content (opt-in), stored once per call however many votes it gets."""

PROMPT_VERSIONS = Table(
    "prompt_versions",
    METADATA,
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created", Text),
    PrimaryKeyConstraint("kind", "name", "version"),
)
"""Prompt and config versions (the body is the version's JSON)."""

PROMPT_LABELS = Table(
    "prompt_labels",
    METADATA,
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("label", Text, nullable=False),
    Column("target", Text, nullable=False),
    PrimaryKeyConstraint("kind", "name", "label"),
)
"""Where each label points (a version, or a canary split as JSON)."""

PROMPT_HISTORY = Table(
    "prompt_label_history",
    METADATA,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("move", Text, nullable=False),
    Index("prompt_label_history_name", "kind", "name", "id"),
    sqlite_autoincrement=True,
)
"""Every label move, in order (the audit trail)."""

ROLLOUTS = Table(
    "llmguard_rollouts",
    METADATA,
    Column("name", String(200), primary_key=True),
    Column("label", String(64), primary_key=True),
    Column("rollout_id", String(64), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_ns", BigInt, nullable=False),
)
"""One row per (prompt or config name, label): its latest guarded rollout and the revision for compare-and-set."""

ROLLOUT_EVENTS = Table(
    "llmguard_rollout_events",
    METADATA,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, index=True),
    Column("label", String(64), nullable=False),
    Column("rollout_id", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_ns", BigInt, nullable=False),
    Column("body", Text, nullable=False),
    sqlite_autoincrement=True,
)
"""The rollouts' audit log: every start, step, pause, rollback and decision, in order."""

REVIEW_QUEUE = Table(
    "llmguard_review_queue",
    METADATA,
    Column("call_id", String(64), primary_key=True),
    Column("reason", String(64), nullable=False),
    Column("enqueued_ns", BigInt, nullable=False, index=True),
    Column("prompt_name", String(256)),
    Column("prompt_version", String(64)),
    Column("model", String(256)),
    Column("tags", Text, nullable=False, default="[]"),
    Column("content", Text, nullable=False),
)
"""One row per call routed to human review, with its retained (redacted, capped) content as JSON."""

DRIFT_VECTORS = Table(
    "llmguard_drift_vectors",
    METADATA,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("call_id", String(64), nullable=False),
    Column("created_ns", BigInt, nullable=False),
    Column("prompt_name", String(256)),
    Column("prompt_version", String(64)),
    Column("tags", Text),
    Column("model", String(256)),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("content", Text),
    Index("ix_llmguard_drift_vectors_created", "created_ns"),
    sqlite_autoincrement=True,
)
"""One row per embedded input (float32 vector bytes): personal-data-adjacent, pruned after its retention."""

DRIFT_ALERTS = Table(
    "llmguard_drift_alerts",
    METADATA,
    Column("rule", String(256), primary_key=True),
    Column("window", String(64), primary_key=True),
    Column("fired_ns", BigInt, nullable=False),
    Column("message", Text),
)
"""Drift alerts delivered, so each (rule, window) fires once across processes."""
