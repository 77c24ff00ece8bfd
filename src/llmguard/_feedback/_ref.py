"""Call references: which call produced an object, as a small immutable value.

`call_ref` works on anything a guarded client returned (parsed responses, streams, raw
responses and their ``.parse()`` results), on the SDKs' stream helpers (through their inner raw
stream) and on objects rebuilt from a response (through the provider response id index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmguard import _context, _refs
from llmguard._streams import CALL_KEY
from llmguard.exceptions import FeedbackError

if TYPE_CHECKING:
    from llmguard._core import CallContext
    from llmguard._guard import Guard
    from llmguard._refs import KnownCall

__all__ = ["CallRef", "call_ref", "context_of", "current_call_ref", "guard_of", "ref_from_context"]

_INNER = ("_raw_stream", "_stream", "_iterator")
"""Attributes under which SDK stream helpers keep the raw stream they wrap."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CallRef:
    """A stable reference to one LLM call, safe to store, send to a browser or compare.

    Attributes:
        call_id: llmguard's call id (the join key of every store).
        trace_id: The OpenTelemetry trace id (32 hex), when telemetry traced the call.
        span_id: The OpenTelemetry span id (16 hex), when telemetry traced the call.
        response_id: The provider's response id, once the response (or stream) has been read.
        prompt_name: The registry prompt the call was built from, if any.
        prompt_version: That prompt's version.
        model: The model the provider served (the requested one until the call finished).
        user_id: The call context's user (`llmguard.context`); feedback inherits it unless given.
        session_id: The call context's session; feedback inherits it unless given.
    """

    call_id: str
    trace_id: str | None = None
    span_id: str | None = None
    response_id: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    user_id: str | None = None
    session_id: str | None = None


def ref_from_context(call: CallContext | KnownCall) -> CallRef:
    """Build the reference of an in-flight or finished call (or of one the response-id index knows)."""
    if isinstance(call, _refs.KnownCall):
        prompt = call.prompt
        return CallRef(
            call_id=call.call_id,
            trace_id=call.trace_id,
            span_id=call.span_id,
            response_id=call.response_id,
            prompt_name=prompt.name if prompt else None,
            prompt_version=prompt.version if prompt else None,
            model=call.model,
            user_id=call.user_id,
            session_id=call.session_id,
        )
    prompt = call.prompt
    scope = call.scope
    # A finished call's accumulator holds what the provider said (whether or not a record was built).
    acc = call.acc if call.finished else None
    served = acc.response_model if acc is not None else None
    return CallRef(
        call_id=call.call_id,
        trace_id=call.trace_id,
        span_id=call.span_id,
        response_id=acc.response_id if acc is not None else None,
        prompt_name=prompt.name if prompt else None,
        prompt_version=prompt.version if prompt else None,
        model=served or call.request_model,
        user_id=scope.user_id if scope is not None else None,
        session_id=scope.session_id if scope is not None else None,
    )


def context_of(obj: Any) -> CallContext | KnownCall | None:
    """The call behind ``obj`` (response, stream, stream helper, raw or rebuilt object).

    A live `CallContext` while the object (or its stream) lives; for a rebuilt object, what the
    bounded response-id index still knows of the call.
    """
    call = _refs.find(obj)
    if call is not None:
        return call
    for name in _INNER:
        inner = getattr(obj, name, None)
        if inner is not None and inner is not obj:
            call = _refs.find(inner) or _from_extensions(inner)
            if call is not None:
                return call
    call = _from_extensions(obj)
    if call is not None:
        return call
    response_id = getattr(obj, "id", None)
    if isinstance(response_id, str):
        return _refs.by_response_id(response_id)
    return None


def _from_extensions(obj: Any) -> CallContext | None:
    response = getattr(obj, "response", None) or getattr(obj, "http_response", None)
    extensions = getattr(response, "extensions", None)
    if isinstance(extensions, dict):
        found = extensions.get(CALL_KEY)
        return found if found is not None and hasattr(found, "call_id") else None
    return None


def call_ref(obj: Any) -> CallRef:
    """The reference of the call that produced ``obj``.

    Args:
        obj: Anything a guarded client returned, an SDK stream helper, or a `CallRef`.

    Returns:
        The call's `CallRef`.

    Raises:
        FeedbackError: ``obj`` did not come from a guarded client (or its call is forgotten).
    """
    if isinstance(obj, CallRef):
        return obj
    call = context_of(obj)
    if call is None:
        raise FeedbackError(
            f"no llmguard call is known for this {type(obj).__name__}: pass an object returned by a guarded "
            "client (llmguard.OpenAI/Anthropic), a CallRef, or a feedback token"
        )
    return ref_from_context(call)


def current_call_ref() -> CallRef | None:
    """The reference of the call running in this context (e.g. inside a response hook), if any."""
    call = _context.active_call.get()
    return ref_from_context(call) if call is not None else None


def guard_of(call: CallContext | KnownCall | None) -> Guard | None:
    """The guard whose runtime made ``call``, when the runtime knows it."""
    if call is None:
        return None
    guard: Guard | None = getattr(call.runtime, "guard", None)
    return guard
