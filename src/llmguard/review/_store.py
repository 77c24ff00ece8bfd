"""The review queue table, and read access to the feedback and judgment tables it draws on.

The queue (``llmguard_review_queue``) is SQLAlchemy Core on portable types, so it runs on SQLite
and PostgreSQL alike. Each queued call keeps its content (already redacted and byte-capped when it
was retained): only calls whose content is retained can be reviewed. Labels are not stored here:
they are feedback rows (``source = review``) in the feedback table, one per (call, reviewer).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from llmguard._db import after_fork
from llmguard.exceptions import ConfigurationError, LLMGuardError

from ._rules import REASON_NEGATIVE, Routing

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmguard._storage import Database

__all__ = [
    "LABEL_NAME",
    "QUEUE",
    "REVIEW_SOURCE",
    "Label",
    "ReviewItem",
    "ReviewStore",
    "engine_for",
    "metadata",
]

LABEL_NAME = "review"
"""The feedback name of a review label (unique per call and reviewer, like all feedback)."""
REVIEW_SOURCE = "review"
"""The feedback ``source`` of a review label."""

from llmguard._storage._schema import FEEDBACK, FEEDBACK_CONTENT, JUDGMENTS  # noqa: E402
from llmguard._storage._schema import METADATA as metadata  # noqa: E402
from llmguard._storage._schema import REVIEW_QUEUE as QUEUE  # noqa: E402


def engine_for(target: str | Path | Database | Engine) -> Engine:
    """The engine of a database path or URL, or an Engine as given.

    A path or URL shares the process's one pool per database (schema checked); a bare Engine gets
    the queue table created if it is missing.
    """
    from llmguard._storage import open_database

    if isinstance(target, sa.engine.Engine):
        metadata.create_all(target, tables=[QUEUE])
        return target
    db = open_database(target)
    db.ensure_schema()
    return db.engine


@dataclass(frozen=True, slots=True)
class Label:
    """A reviewer's label on one call (stored as feedback with ``source=review``).

    Attributes:
        call_id: The call.
        reviewer: Who labelled it.
        passed: The verdict.
        score: A score on the judge's scale, if given.
        corrected: A corrected answer, if given (a golden-set candidate).
        comment: Free text.
    """

    call_id: str
    reviewer: str
    passed: bool
    score: float | None = None
    corrected: str | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """What a reviewer sees of one queued call.

    Attributes:
        call_id: The call.
        reason: Why it was routed (``explicit``, ``random``, ``negative_feedback``, ``judge``).
        prompt_name: Its registry prompt, if any.
        prompt_version: The prompt's version.
        model: The served model.
        tags: The call's tags.
        content: Its retained input and output (``{"input": ..., "output": ...}``).
        judgments: The judges' results (judge, score, normalized, passed, reason, fingerprint).
        feedback: End-user feedback on it (name, value, comment, source).
        labels: Review labels already given.
    """

    call_id: str
    reason: str
    prompt_name: str | None
    prompt_version: str | None
    model: str | None
    tags: tuple[str, ...]
    content: Mapping[str, Any]
    judgments: tuple[Mapping[str, Any], ...] = ()
    feedback: tuple[Mapping[str, Any], ...] = ()
    labels: tuple[Label, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the CLI and the web page)."""
        return {
            "call_id": self.call_id,
            "reason": self.reason,
            "prompt_name": self.prompt_name,
            "prompt_version": self.prompt_version,
            "model": self.model,
            "tags": list(self.tags),
            "content": dict(self.content),
            "judgments": [dict(j) for j in self.judgments],
            "feedback": [dict(f) for f in self.feedback],
            "labels": [
                {"reviewer": x.reviewer, "passed": x.passed, "score": x.score, "corrected": x.corrected}
                for x in self.labels
            ],
        }


def _label(row: Any) -> Label:
    meta = json.loads(row.metadata) if row.metadata else {}
    score = meta.get("score")
    return Label(
        call_id=row.call_id,
        reviewer=row.user_id,
        passed=row.label == "true",
        score=float(score) if isinstance(score, int | float) else None,
        corrected=meta.get("corrected"),
        comment=row.comment,
    )


class ReviewStore:
    """The review queue on one database (SQLite file or URL), next to feedback and judgments.

    Args:
        target: A database URL (``sqlite:///.llmguard/llmguard.db``, ``postgresql+psycopg://...``), a
            SQLite file path, or an Engine.
    """

    def __init__(self, target: str | Path | Database | Engine) -> None:
        try:
            self.engine = engine_for(target)
        except (sa.exc.SQLAlchemyError, LLMGuardError) as exc:
            raise ConfigurationError(f"review store {target!r}: cannot open it: {exc}") from None
        after_fork(self)  # a forked child opens its own connections

    def _after_fork(self) -> None:
        self.engine.dispose(close=False)  # forget the parent's pooled connections without closing them

    def _has(self, table: sa.Table) -> bool:
        return sa.inspect(self.engine).has_table(table.name)

    def enqueue(
        self,
        call_id: str,
        reason: str,
        content: Mapping[str, Any] | None,
        *,
        prompt_name: str | None = None,
        prompt_version: str | None = None,
        model: str | None = None,
        tags: Sequence[str] = (),
    ) -> bool:
        """Queue a call with its retained content; False when it has none or is already queued."""
        row = {
            "call_id": call_id, "reason": reason, "enqueued_ns": time.time_ns(), "prompt_name": prompt_name,
            "prompt_version": prompt_version, "model": model, "tags": json.dumps(list(tags)),
            "content": json.dumps(dict(content), default=str) if content is not None else None,
        }  # fmt: skip
        return self.enqueue_rows([row]) == 1

    def enqueue_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert the rows not queued yet (those without content are skipped); how many were added."""
        wanted = {row["call_id"]: dict(row) for row in rows if row.get("content")}
        for attempt in range(3):
            try:
                return self._insert_new(wanted) if wanted else 0
            except sa.exc.IntegrityError:  # a concurrent writer queued one of them first: look again
                if attempt == 2:
                    raise
        return 0  # pragma: no cover - the loop returns or raises

    def _insert_new(self, wanted: dict[str, dict[str, Any]]) -> int:
        with self.engine.begin() as conn:
            known = set(conn.scalars(sa.select(QUEUE.c.call_id).where(QUEUE.c.call_id.in_(list(wanted)))))
            fresh = [row for call_id, row in wanted.items() if call_id not in known]
            if fresh:
                conn.execute(sa.insert(QUEUE), fresh)
        return len(fresh)

    def sync(self, routing: Routing | None = None) -> int:
        """Queue what the stores route (negative feedback, low or failed judgments) with retained content."""
        routing = routing or Routing()
        if not self._has(FEEDBACK_CONTENT):
            return 0
        content = dict(self._rows(sa.select(FEEDBACK_CONTENT.c.call_id, FEEDBACK_CONTENT.c.content)))
        reasons: dict[str, tuple[str, Any]] = {}
        if routing.negative_feedback and self._has(FEEDBACK):
            query = sa.select(FEEDBACK).where(FEEDBACK.c.negative == 1, FEEDBACK.c.source != REVIEW_SOURCE)
            for row in self._rows(query):
                reasons.setdefault(row.call_id, (REASON_NEGATIVE, row))
        if self._has(JUDGMENTS):
            for row in self._rows(sa.select(JUDGMENTS).where(JUDGMENTS.c.status == "ok")):
                passed = None if row.passed is None else bool(row.passed)
                reason = routing.on_judgment(row.normalized, passed)
                if reason is not None:
                    reasons.setdefault(row.call_id, (reason, row))
        rows = [
            {"call_id": call_id, "reason": reason, "enqueued_ns": time.time_ns(), "tags": "[]",
             "prompt_name": row.prompt_name, "prompt_version": row.prompt_version,
             "model": getattr(row, "model", None), "content": content[call_id]}
            for call_id, (reason, row) in reasons.items() if call_id in content
        ]  # fmt: skip
        return self.enqueue_rows(rows)

    def _rows(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def labels(self, call_ids: Sequence[str] | None = None) -> list[Label]:
        """Review labels (all, or on ``call_ids``), oldest first."""
        if not self._has(FEEDBACK):
            return []
        query = sa.select(FEEDBACK).where(FEEDBACK.c.name == LABEL_NAME, FEEDBACK.c.source == REVIEW_SOURCE)
        if call_ids is not None:
            query = query.where(FEEDBACK.c.call_id.in_(list(call_ids)))
        return [_label(row) for row in self._rows(query.order_by(FEEDBACK.c.id))]

    def judgments(self, call_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Judgments with a result (all, or on ``call_ids``), oldest first."""
        if not self._has(JUDGMENTS):
            return []
        query = sa.select(JUDGMENTS).where(JUDGMENTS.c.status == "ok")
        if call_ids is not None:
            query = query.where(JUDGMENTS.c.call_id.in_(list(call_ids)))
        return [dict(row._mapping) for row in self._rows(query.order_by(JUDGMENTS.c.id))]

    def item(self, call_id: str) -> ReviewItem | None:
        """The queued call ``call_id`` with its judgments, feedback and labels, or ``None``."""
        rows = self._rows(sa.select(QUEUE).where(QUEUE.c.call_id == call_id))
        return self._item(rows[0]) if rows else None

    def _item(self, row: Any) -> ReviewItem:
        judgments = tuple(
            {k: j[k] for k in ("judge", "score", "normalized", "passed", "reason", "fingerprint")}
            for j in self.judgments([row.call_id])
        )
        feedback: list[dict[str, Any]] = []
        if self._has(FEEDBACK):
            query = sa.select(FEEDBACK).where(
                FEEDBACK.c.call_id == row.call_id, FEEDBACK.c.source != REVIEW_SOURCE
            )
            feedback = [
                {"name": f.name, "value": json.loads(f.value_json), "comment": f.comment, "source": f.source}
                for f in self._rows(query.order_by(FEEDBACK.c.id))
            ]
        return ReviewItem(
            call_id=row.call_id, reason=row.reason, prompt_name=row.prompt_name,
            prompt_version=row.prompt_version, model=row.model, tags=tuple(json.loads(row.tags or "[]")),
            content=json.loads(row.content), judgments=judgments, feedback=tuple(feedback),
            labels=tuple(self.labels([row.call_id])),
        )  # fmt: skip

    def next_item(self, reviewer: str, *, after: str | None = None) -> ReviewItem | None:
        """The oldest queued call ``reviewer`` has not labelled yet.

        With ``after`` (a skipped call), the next one after it in queue order, wrapping around to
        the oldest; ``None`` when nothing else is left.
        """
        query = sa.select(QUEUE).order_by(QUEUE.c.enqueued_ns, QUEUE.c.call_id).limit(1)
        if self._has(FEEDBACK):
            labelled = sa.select(FEEDBACK.c.call_id).where(
                FEEDBACK.c.name == LABEL_NAME,
                FEEDBACK.c.source == REVIEW_SOURCE,
                FEEDBACK.c.user_id == reviewer,
            )
            query = query.where(QUEUE.c.call_id.not_in(labelled))
        if after is not None:
            query = query.where(QUEUE.c.call_id != after)
            mark = self._rows(sa.select(QUEUE.c.enqueued_ns, QUEUE.c.call_id).where(QUEUE.c.call_id == after))
            if mark:
                position = sa.tuple_(QUEUE.c.enqueued_ns, QUEUE.c.call_id) > sa.tuple_(
                    sa.literal(mark[0].enqueued_ns), sa.literal(mark[0].call_id)
                )
                rows = self._rows(query.where(position))
                if rows:
                    return self._item(rows[0])
        rows = self._rows(query)
        return self._item(rows[0]) if rows else None

    def retained(self) -> dict[str, dict[str, Any]]:
        """Every retained content by call id: the review queue's, then the feedback store's."""
        found: dict[str, dict[str, Any]] = {}
        if self._has(FEEDBACK_CONTENT):
            for row in self._rows(sa.select(FEEDBACK_CONTENT.c.call_id, FEEDBACK_CONTENT.c.content)):
                found[row.call_id] = json.loads(row.content)
        for row in self._rows(sa.select(QUEUE.c.call_id, QUEUE.c.content)):
            found[row.call_id] = json.loads(row.content)
        return found

    def retained_since(self, since_ns: int) -> dict[str, dict[str, Any]]:
        """Retained content of calls queued or stored since ``since_ns`` (ns since the epoch), by call id."""
        import datetime as dt

        found: dict[str, dict[str, Any]] = {}
        if self._has(FEEDBACK_CONTENT):
            for row in self._rows(sa.select(FEEDBACK_CONTENT)):
                try:
                    stamp = dt.datetime.fromisoformat(row.created_at)
                except (TypeError, ValueError):
                    continue
                if stamp.tzinfo is not None and stamp.timestamp() * 1e9 >= since_ns:
                    found[row.call_id] = json.loads(row.content)
        query = sa.select(QUEUE.c.call_id, QUEUE.c.content).where(QUEUE.c.enqueued_ns >= since_ns)
        for row in self._rows(query):
            found[row.call_id] = json.loads(row.content)
        return found

    def negative_feedback(self) -> list[dict[str, Any]]:
        """End-user feedback rows counted as negative (review labels excluded), oldest first."""
        if not self._has(FEEDBACK):
            return []
        query = sa.select(FEEDBACK).where(FEEDBACK.c.negative == 1, FEEDBACK.c.source != REVIEW_SOURCE)
        return [dict(row._mapping) for row in self._rows(query.order_by(FEEDBACK.c.id))]

    def queued(self) -> list[str]:
        """Every queued call id, oldest first."""
        query = sa.select(QUEUE.c.call_id).order_by(QUEUE.c.enqueued_ns, QUEUE.c.call_id)
        return [row.call_id for row in self._rows(query)]

    def stats(self, reviewer: str | None = None) -> dict[str, Any]:
        """Queue size, labelled calls, labels per reviewer, pass rate, calls with two or more reviewers."""
        queued = self.queued()
        labels = [x for x in self.labels() if x.call_id in set(queued)]
        by_call: dict[str, set[str]] = {}
        for x in labels:
            by_call.setdefault(x.call_id, set()).add(x.reviewer)
        reviewers: dict[str, int] = {}
        for x in labels:
            reviewers[x.reviewer] = reviewers.get(x.reviewer, 0) + 1
        reasons: dict[str, int] = {}
        for row in self._rows(sa.select(QUEUE.c.reason)):
            reasons[row.reason] = reasons.get(row.reason, 0) + 1
        result: dict[str, Any] = {
            "queued": len(queued),
            "labelled": len(by_call),
            "unlabelled": len(queued) - len(by_call),
            "labels": len(labels),
            "pass_rate": sum(x.passed for x in labels) / len(labels) if labels else None,
            "multi_reviewed": sum(len(r) >= 2 for r in by_call.values()),
            "by_reviewer": dict(sorted(reviewers.items())),
            "by_reason": dict(sorted(reasons.items())),
        }
        if reviewer is not None:
            result["pending_for_reviewer"] = len(queued) - reviewers.get(reviewer, 0)
        return result
