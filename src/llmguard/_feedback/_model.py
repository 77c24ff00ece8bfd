"""The feedback entry every sink receives, and the validation of user input."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from llmguard.exceptions import FeedbackError

from ._ref import CallRef

__all__ = [
    "MAX_COMMENT",
    "MAX_METADATA",
    "NEGATIVE_LABELS",
    "FeedbackEntry",
    "FeedbackValue",
    "ValueType",
    "check_name",
    "check_value",
    "is_negative",
    "make_entry",
]

FeedbackValue = bool | int | float | str
"""A rating (number), a thumb (bool) or a category (string)."""

ValueType = Literal["boolean", "numeric", "categorical"]

MAX_NAME = 64
MAX_CATEGORY = 256
MAX_COMMENT = 4096
MAX_USER_ID = 256
MAX_METADATA = 8192
"""Limits, in characters (metadata: of its compact JSON)."""

NEGATIVE_LABELS = frozenset({"bad", "negative", "thumbs_down", "down", "wrong", "incorrect", "unhelpful"})
"""Categories that count as negative feedback (compared case-insensitively)."""

_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedbackEntry:
    """One piece of feedback on one call, as sinks receive it.

    Attributes:
        ref: The call it is about (with prompt name/version and served model).
        name: What is rated (``thumbs``, ``rating``, ``category``...).
        value: The value as given.
        value_type: ``boolean``, ``numeric`` or ``categorical``.
        score: The numeric value (1.0/0.0 for booleans), ``None`` for categories.
        label: The category or ``true``/``false``, ``None`` for numbers.
        comment: Free text from the user (content: exported to OTel only with content capture on).
        user_id: Who gave it; ``(call, name, user)`` is unique, re-sending updates. Defaults to
            the call context's user (`llmguard.context`).
        session_id: The session it belongs to; defaults to the call context's session.
        metadata: JSON-serialisable extra fields.
        created_at: When it was recorded (UTC).
        source: ``api`` (backend) or ``token`` (browser, through a signed token).
        negative: Whether it counts as negative feedback.
        judging: What happened about judging the call (set by `llmguard.feedback`).
        content: The call's input and output, when negative and still retained in memory.
    """

    ref: CallRef
    name: str
    value: FeedbackValue
    value_type: ValueType
    score: float | None
    label: str | None
    comment: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    source: str = "api"
    negative: bool = False
    judging: str | None = None
    content: Mapping[str, Any] | None = None


def check_name(name: object) -> str:
    """Validate a feedback name (1-64 of letters, digits, ``_.:-``)."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or not _NAME.match(name):
        raise FeedbackError(
            f"feedback name {name!r} is invalid: use 1-{MAX_NAME} characters among A-Z a-z 0-9 _ . : -"
        )
    return name


def check_value(value: object) -> tuple[ValueType, float | None, str | None]:
    """Classify a value: (value type, score, label); raise `FeedbackError` when invalid."""
    if isinstance(value, bool):
        return "boolean", 1.0 if value else 0.0, "true" if value else "false"
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise FeedbackError(
                f"feedback value {_short(value)} is not a finite number within the float range"
            )
        return "numeric", number, None
    if isinstance(value, str):
        if not 0 < len(value) <= MAX_CATEGORY or not value.strip():
            raise FeedbackError(f"feedback category must be 1-{MAX_CATEGORY} non-blank characters")
        return "categorical", None, _unicode(value, "category")
    raise FeedbackError(
        f"feedback value of type {type(value).__name__} is invalid: use a number (rating), a bool (thumbs) "
        "or a string (category)"
    )


def is_negative(value: FeedbackValue) -> bool:
    """Whether a value counts as negative: ``False``, a number <= 0 or a negative category."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value <= 0
    return value.strip().lower() in NEGATIVE_LABELS


def _short(value: object) -> str:
    text = (
        repr(value)
        if not isinstance(value, int) or value.bit_length() < 256
        else f"of {value.bit_length()} bits"
    )
    return text if len(text) <= 60 else text[:57] + "..."


def _unicode(value: str, what: str) -> str:
    """``value`` if it encodes as UTF-8 (no lone surrogates), else a `FeedbackError` naming the field."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FeedbackError(
            f"feedback {what} is not valid Unicode text (lone surrogate at position {exc.start})"
        ) from None
    return value


def _check_text(value: object, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise FeedbackError(f"feedback {what} must be a string of at most {limit} characters")
    return _unicode(value, what)


def _check_metadata(metadata: object) -> Mapping[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise FeedbackError("feedback metadata must be a mapping")
    try:
        encoded = json.dumps(metadata, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise FeedbackError("feedback metadata is nested too deeply") from None
    except (TypeError, ValueError) as exc:
        raise FeedbackError(f"feedback metadata must be JSON-serialisable: {exc}") from None
    if len(encoded) > MAX_METADATA:
        raise FeedbackError(
            f"feedback metadata is too large ({len(encoded)} > {MAX_METADATA} characters as JSON)"
        )
    return dict(metadata)


def make_entry(
    ref: CallRef,
    name: object,
    value: object,
    *,
    comment: object = None,
    user_id: object = None,
    metadata: object = None,
    source: str = "api",
    session_id: object = None,
) -> FeedbackEntry:
    """Validate user input and build the entry; raise `FeedbackError` when invalid."""
    value_type, score, label = check_value(value)
    checked: FeedbackValue = value  # type: ignore[assignment]  # check_value accepted it
    return FeedbackEntry(
        ref=ref,
        name=check_name(name),
        value=checked,
        value_type=value_type,
        score=score,
        label=label,
        comment=_check_text(comment, "comment", MAX_COMMENT),
        user_id=_check_text(ref.user_id if user_id is None else user_id, "user_id", MAX_USER_ID),
        session_id=_check_text(
            ref.session_id if session_id is None else session_id, "session_id", MAX_USER_ID
        ),
        metadata=_check_metadata(metadata),
        source=source,
        negative=is_negative(checked),
    )
