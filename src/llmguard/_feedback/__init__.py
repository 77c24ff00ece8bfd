"""User feedback linked to the exact call: call references, ``feedback()``, tokens, sinks, ASGI app.

This package is private (``llmguard.feedback`` is the public *function*); everything public is
re-exported from `llmguard`. Its names are imported on first use: a guard imports the feature
module (`llmguard._feedback._observer`) on every runtime build, and an app that never sends
feedback need not hold the API, the ASGI app, the sinks and the tokens (about 0.3 MiB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmguard._lazy import lazy_names

if TYPE_CHECKING:
    from ._api import afeedback, close_sinks, feedback, sink_errors, sink_for
    from ._asgi import feedback_app
    from ._judging import JudgingHook, set_judging_hook
    from ._model import FeedbackEntry, FeedbackValue, is_negative
    from ._ref import CallRef, call_ref, current_call_ref
    from ._sinks import CallbackFeedbackSink, FanOutFeedbackSink, FeedbackSink, OTelFeedbackSink
    from ._sqlite import SQLFeedbackSink, SQLiteFeedbackSink
    from ._tokens import make_token, read_token

__all__ = [
    "CallRef",
    "CallbackFeedbackSink",
    "FanOutFeedbackSink",
    "FeedbackEntry",
    "FeedbackSink",
    "FeedbackValue",
    "JudgingHook",
    "OTelFeedbackSink",
    "SQLFeedbackSink",
    "SQLiteFeedbackSink",
    "afeedback",
    "call_ref",
    "close_sinks",
    "current_call_ref",
    "feedback",
    "feedback_app",
    "is_negative",
    "make_token",
    "read_token",
    "set_judging_hook",
    "sink_errors",
    "sink_for",
]

_LAZY: dict[str, str] = {
    "afeedback": "._api",
    "close_sinks": "._api",
    "feedback": "._api",
    "sink_errors": "._api",
    "sink_for": "._api",
    "feedback_app": "._asgi",
    "JudgingHook": "._judging",
    "set_judging_hook": "._judging",
    "FeedbackEntry": "._model",
    "FeedbackValue": "._model",
    "is_negative": "._model",
    "CallRef": "._ref",
    "call_ref": "._ref",
    "current_call_ref": "._ref",
    "CallbackFeedbackSink": "._sinks",
    "FanOutFeedbackSink": "._sinks",
    "FeedbackSink": "._sinks",
    "OTelFeedbackSink": "._sinks",
    "SQLFeedbackSink": "._sqlite",
    "SQLiteFeedbackSink": "._sqlite",
    "make_token": "._tokens",
    "read_token": "._tokens",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)
