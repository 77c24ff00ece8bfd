"""Recording a reviewer's label: a feedback row with ``source=review``, one per (call, reviewer).

The label goes to the guard's feedback store under the name ``review``; the feedback store's key
``(call_id, name, user_id)`` makes a second label by the same reviewer replace the first. The
comment and the corrected answer pass the guard's ``redact`` hook. A failed write raises: the
reviewer must know the label was not kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmguard._feedback._model import _check_text as check_text
from llmguard._feedback._model import check_value, make_entry
from llmguard._feedback._privacy import redact_comment
from llmguard._feedback._ref import CallRef
from llmguard._feedback._sinks import OTelFeedbackSink, as_sink, safe_write
from llmguard._feedback._sqlite import SQLiteFeedbackSink
from llmguard.exceptions import FeedbackError

from ._store import LABEL_NAME, REVIEW_SOURCE, Label, ReviewStore

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["MAX_CORRECTED", "record_label"]

MAX_CORRECTED = 6000
"""Longest corrected answer kept, in characters (it travels in the feedback metadata)."""
MAX_REVIEWER = 256


def _check(reviewer: object, passed: object, score: object, corrected: object) -> None:
    if not isinstance(reviewer, str) or not reviewer.strip() or len(reviewer) > MAX_REVIEWER:
        raise FeedbackError(f"reviewer {reviewer!r} is invalid: use 1-{MAX_REVIEWER} non-blank characters")
    if not isinstance(passed, bool):
        raise FeedbackError(f"review label passed={passed!r} is invalid: use true (pass) or false (fail)")
    if score is not None and check_value(score)[0] != "numeric":  # check_value refuses non-finite numbers
        raise FeedbackError(f"review score {score!r} is invalid: use a finite number on the judge's scale")
    if corrected is not None and (not isinstance(corrected, str) or len(corrected) > MAX_CORRECTED):
        raise FeedbackError(f"corrected answer must be a string of at most {MAX_CORRECTED} characters")
    if isinstance(corrected, str):
        check_text(corrected, "corrected answer", MAX_CORRECTED)


def record_label(
    guard: Guard,
    store: ReviewStore,
    call_id: str,
    reviewer: str,
    passed: bool,
    *,
    score: float | None = None,
    corrected: str | None = None,
    comment: str | None = None,
) -> Label:
    """Store ``reviewer``'s label on the queued call ``call_id`` (replacing their earlier one).

    Raises:
        FeedbackError: The call is not in the review queue, a field is invalid, or the store failed.
    """
    _check(reviewer, passed, score, corrected)
    item = store.item(call_id) if isinstance(call_id, str) else None
    if item is None:
        raise FeedbackError(f"call {call_id!r} is not in the review queue: see `llmguard review next`")
    if corrected is not None:
        corrected = redact_comment(guard, corrected)
    meta: dict[str, Any] = {"reason": item.reason}
    if score is not None:
        meta["score"] = float(score)
    if corrected:
        meta["corrected"] = corrected
    ref = CallRef(
        call_id=call_id, prompt_name=item.prompt_name, prompt_version=item.prompt_version, model=item.model
    )
    entry = make_entry(
        ref, LABEL_NAME, passed, comment=comment, user_id=reviewer, metadata=meta, source=REVIEW_SOURCE
    )
    if entry.comment is not None:
        entry = _with_comment(entry, redact_comment(guard, entry.comment))
    _write(guard, entry)
    return Label(call_id, reviewer, passed, meta.get("score"), meta.get("corrected"), entry.comment)


def _with_comment(entry: Any, comment: str | None) -> Any:
    from dataclasses import replace

    return replace(entry, comment=comment)


def _write(guard: Guard, entry: Any) -> None:
    try:
        if guard.feedback_sink is not None:
            as_sink(guard.feedback_sink).write([entry])
            return
        SQLiteFeedbackSink(guard.db).write([entry])  # the process's one pool for that database
        otel = OTelFeedbackSink(guard.logger_provider, capture_content=guard.settings.capture_content)
        safe_write(otel, entry)  # the event (user_feedback.review) is best effort; the row is the record
    except FeedbackError:
        raise
    except Exception as exc:
        raise FeedbackError(
            f"the label on call {entry.ref.call_id!r} by {entry.user_id!r} was not stored: {exc}"
        ) from exc
