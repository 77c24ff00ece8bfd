"""What of a call's content feedback may keep at rest: nothing unless content capture is on.

With capture on, every text of the retained input and output passes the guard's ``redact`` hook
(`llmguard.telemetry.TelemetryOptions.redact`) and one shared cap of ``content_max_bytes`` UTF-8
bytes, as telemetry does. Comments pass the same hook whenever one is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmguard._options import TelemetryFeatureOptions

if TYPE_CHECKING:
    from llmguard._guard import Guard
    from llmguard.telemetry._content import Budget
    from llmguard.telemetry._options import TelemetryOptions

__all__ = ["redact_comment", "stored_content"]

_MAX_DEPTH = 32


def _options(guard: Guard) -> TelemetryOptions:
    """The content cap and redaction hook, as telemetry resolves them."""
    return TelemetryFeatureOptions.resolve(guard).telemetry


def _texts(value: Any, budget: Budget, depth: int = 0) -> Any:
    if isinstance(value, str):
        return budget.text(value)
    if depth >= _MAX_DEPTH:
        return None
    if isinstance(value, Mapping):
        return {str(k): _texts(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_texts(v, budget, depth + 1) for v in value]
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def stored_content(guard: Guard, content: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``content`` as it may be stored: ``None`` without content capture, else redacted and byte-capped."""
    if content is None or not guard.settings.capture_content:
        return None
    from llmguard.telemetry._content import Budget

    options = _options(guard)
    budget = Budget(options.content_max_bytes, options.redact)
    kept: dict[str, Any] = _texts(dict(content), budget)
    if budget.truncated:
        kept["truncated"] = True
    return kept


def redact_comment(guard: Guard, comment: str | None) -> str | None:
    """The comment through the guard's ``redact`` hook, when one is configured."""
    if comment is None:
        return None
    redact = _options(guard).redact
    return comment if redact is None else str(redact(comment))
