"""User feedback linked to the exact call: call references, ``feedback()``, tokens, sinks, ASGI app.

This package is private (``llmguard.feedback`` is the public *function*); everything public is
re-exported from `llmguard`.
"""

from __future__ import annotations

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
