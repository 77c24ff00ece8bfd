"""Feedback sinks: the Protocol, and the callback, fan-out and OpenTelemetry sinks.

A sink is anything with ``write(entry)``. Sinks may raise: `llmguard.feedback` logs and
counts the failure and never lets it reach the caller. A fan-out isolates its sinks, so one
failing sink does not stop the others. A Postgres sink is one class with ``write`` doing an
``INSERT ... ON CONFLICT (call_id, name, user_id) DO UPDATE``, like the SQLite one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from llmguard._db import WRITE_ERRORS, after_fork
from llmguard._internal import advise_once, logger
from llmguard._storage._sink import Sink

from ._model import FeedbackEntry

__all__ = ["CallbackFeedbackSink", "FanOutFeedbackSink", "FeedbackSink", "OTelFeedbackSink", "SinkErrors"]

EVENT_NAME = "gen_ai.evaluation.result"


@runtime_checkable
class FeedbackSink(Sink[FeedbackEntry], Protocol):
    """Where feedback goes: a `llmguard._storage.Sink` of entries (one per `llmguard.feedback` call).

    Writes must be idempotent per ``(entry.ref.call_id, entry.name, entry.user_id)``: a second
    write with the same key replaces the first.
    """

    def write(self, entries: Sequence[FeedbackEntry], /) -> None:
        """Store or forward ``entries``; may raise (the caller logs and counts it)."""


class SinkErrors:
    """A thread-safe counter of sink failures (by sink class name)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        after_fork(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def add(self, sink: object) -> None:
        """Count one failure of ``sink``."""
        with self._lock:
            key = type(sink).__name__
            self._counts[key] = self._counts.get(key, 0) + 1

    @property
    def total(self) -> int:
        """All failures counted so far."""
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        """Failures by sink class name."""
        with self._lock:
            return dict(self._counts)


ERRORS = SinkErrors()
"""Process-wide count of feedback sink failures (see `llmguard._feedback.sink_errors`)."""


def safe_write(sink: FeedbackSink, entry: FeedbackEntry) -> bool:
    """Write to ``sink``; log and count a failure instead of raising. Returns whether it worked."""
    try:
        sink.write([entry])
    except WRITE_ERRORS as exc:  # the store failed (full disk, read-only file): count it, say it once
        ERRORS.add(sink)
        name = type(sink).__name__
        advise_once(
            "feedback-sink",
            name,
            f"llmguard: feedback sink {name} cannot store feedback ({type(exc).__name__}: {exc}); "
            "each failure is counted, your app is unaffected",
        )
        return False
    except Exception:
        ERRORS.add(sink)
        logger.exception(
            "llmguard: feedback sink %s failed (feedback %r not stored there)",
            type(sink).__name__,
            entry.name,
        )
        return False
    return True


class CallbackFeedbackSink:
    """Hands every entry to a callable (e.g. to forward it to your own store or queue).

    Args:
        callback: Called with each `FeedbackEntry`.
    """

    def __init__(self, callback: Callable[[FeedbackEntry], Any]) -> None:
        self.callback = callback

    def write(self, entries: Sequence[FeedbackEntry], /) -> None:
        """Call the callback once per entry."""
        for entry in entries:
            self.callback(entry)


class FanOutFeedbackSink:
    """Writes every entry to several sinks; a failing sink is logged and counted, the others still run.

    Args:
        sinks: The sinks (or bare callables, wrapped in `CallbackFeedbackSink`).
    """

    def __init__(self, *sinks: FeedbackSink | Callable[[FeedbackEntry], Any]) -> None:
        self.sinks: tuple[FeedbackSink, ...] = tuple(as_sink(sink) for sink in sinks)

    def write(self, entries: Sequence[FeedbackEntry], /) -> None:
        """Write to every sink."""
        for entry in entries:
            for sink in self.sinks:
                safe_write(sink, entry)

    def close(self) -> None:
        """Close the sinks that can be closed."""
        close_all(self.sinks)


def as_sink(value: object) -> FeedbackSink:
    """Accept a sink, a bare callable, or a list of them (a fan-out)."""
    if isinstance(value, FeedbackSink):
        return value
    if callable(value):
        return CallbackFeedbackSink(value)
    if isinstance(value, list | tuple):
        return FanOutFeedbackSink(*value)
    raise TypeError(f"feedback_sink must have write(entry) or be a callable, got {type(value).__name__}")


def close_all(sinks: Iterable[object]) -> None:
    """Call ``close()`` on every sink that has one (errors logged)."""
    for sink in sinks:
        close = getattr(sink, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                logger.exception("llmguard: closing feedback sink %s failed", type(sink).__name__)


class OTelFeedbackSink:
    """Emits a ``gen_ai.evaluation.result`` event per entry through the OpenTelemetry Logs API.

    The evaluation name is ``user_feedback.<name>``; the event carries the call's trace and span
    ids (so backends attach it to the call's span) and ``gen_ai.response.id``. Comments are
    content: they are exported only when ``capture_content`` is on.

    Args:
        logger_provider: The OTel logger provider (default: the global one; a no-op until configured).
        capture_content: Export comments as ``gen_ai.evaluation.explanation``.
    """

    def __init__(self, logger_provider: Any = None, *, capture_content: bool = False) -> None:
        from opentelemetry._logs import get_logger

        from llmguard._version import __version__

        self._logger = get_logger("llmguard.feedback", __version__, logger_provider=logger_provider)
        self.capture_content = capture_content

    def write(self, entries: Sequence[FeedbackEntry], /) -> None:
        """Emit one event per entry."""
        for entry in entries:
            self._logger.emit(
                event_name=EVENT_NAME,
                context=_call_context(entry),
                body=None,
                attributes=self.attributes(entry),
            )

    def attributes(self, entry: FeedbackEntry) -> dict[str, Any]:
        """The event's attributes."""
        ref = entry.ref
        attrs: dict[str, Any] = {
            "gen_ai.evaluation.name": f"user_feedback.{entry.name}",
            "llmguard.call_id": ref.call_id,
            "llmguard.feedback.source": entry.source,
            "llmguard.feedback.value_type": entry.value_type,
        }
        optional = {
            "gen_ai.evaluation.score.value": entry.score,
            "gen_ai.evaluation.score.label": entry.label,
            "gen_ai.response.id": ref.response_id,
            "gen_ai.response.model": ref.model,
            "gen_ai.prompt.name": ref.prompt_name,
            "llmguard.prompt.version": ref.prompt_version,
            "gen_ai.conversation.id": entry.session_id,
            "gen_ai.evaluation.explanation": entry.comment if self.capture_content else None,
        }
        attrs.update({key: value for key, value in optional.items() if value is not None})
        return attrs


def _call_context(entry: FeedbackEntry) -> Any:
    """An OTel context whose current span is the evaluated call's span (when its ids are known)."""
    from opentelemetry import trace
    from opentelemetry.context import Context

    ref = entry.ref
    if not ref.trace_id or not ref.span_id:
        return Context()  # not the caller's current span: the feedback is about another call
    try:
        span_context = trace.SpanContext(
            trace_id=int(ref.trace_id, 16),
            span_id=int(ref.span_id, 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
    except ValueError:
        return Context()
    return trace.set_span_in_context(trace.NonRecordingSpan(span_context))
