"""Pure extraction of ids, models, finish reasons, usage and text from SDK objects.

Everything here reads attributes defensively (``getattr`` with defaults): the SDKs' pydantic
models are constructed without validation, so any field may be missing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ANTHROPIC_FINISH_REASONS", "Accumulator", "anthropic_finish_reason", "responses_finish_reason"]

ANTHROPIC_FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "refusal": "content_filter",
}
"""Anthropic ``stop_reason`` -> the GenAI conventions' finish reason (others, e.g. ``pause_turn``, pass through)."""

_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


def anthropic_finish_reason(reason: str) -> str:
    """The finish reason recorded for an Anthropic ``stop_reason``."""
    return ANTHROPIC_FINISH_REASONS.get(reason, reason)


def responses_finish_reason(response: Any) -> str | None:
    """The finish reason of a Responses API response, from its status (not the status itself).

    ``completed`` is ``stop`` (``tool_call`` when the output holds a function call), ``incomplete``
    maps its reason (``max_output_tokens`` -> ``length``), ``failed`` is ``error``, ``cancelled``
    passes through; a response still queued or in progress has none.
    """
    status = getattr(response, "status", None)
    if status == "completed":
        for item in getattr(response, "output", None) or ():
            if getattr(item, "type", None) in ("function_call", "custom_tool_call", "mcp_call"):
                return "tool_call"
        return "stop"
    if status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        return _INCOMPLETE_REASONS.get(reason, reason) if isinstance(reason, str) else "length"
    if status == "failed":
        return "error"
    return status if status == "cancelled" else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _detail(details: Any, name: str) -> int | None:
    """A token count inside a usage details object.

    Releases of openai that had not typed ``prompt_tokens_details`` yet (1.50 is one) hand it over as a
    plain dict.
    """
    if isinstance(details, dict):
        return _int(details.get(name))
    return _int(getattr(details, name, None))


class Identity:
    """What a call no observer watches keeps of its complete response: its id and served model.

    The response-id index, the pin policy's drift check and `llmguard.call_ref` read no more.
    """

    __slots__ = ("response_id", "response_model")

    def __init__(self) -> None:
        self.response_id: str | None = None
        self.response_model: str | None = None

    def identity(self, obj: Any) -> None:
        """Read only the response id and the served model of a complete response object."""
        self.response_id = getattr(obj, "id", None) or self.response_id
        self.response_model = getattr(obj, "model", None) or self.response_model


class Accumulator(Identity):
    """Collects what a call returned, from a final object or stream items, for one API."""

    __slots__ = (
        "api",
        "cache_read",
        "cache_write",
        "dimensions",
        "finish_reasons",
        "input_tokens",
        "output_parts",
        "output_tokens",
        "reasoning",
        "service_tier",
        "system_fingerprint",
        "want_output",
    )

    def __init__(self, api: str, want_output: bool = False) -> None:
        self.api = api
        self.want_output = want_output
        self.response_id = None
        self.response_model = None
        self.finish_reasons: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read: int | None = None
        self.cache_write: int | None = None
        self.reasoning: int | None = None
        self.output_parts: list[str] = []
        self.service_tier: str | None = None
        self.system_fingerprint: str | None = None
        self.dimensions: int | None = None

    # -- final objects -------------------------------------------------------------------------
    def final(self, obj: Any) -> None:
        """Read a complete (non-streamed) response object."""
        if self.api == "messages":
            self._anthropic_message(obj)
        elif self.api == "responses":
            self._response(obj)
        else:
            self._openai_completion(obj)

    def _openai_completion(self, obj: Any) -> None:
        self.response_id = getattr(obj, "id", None) or self.response_id
        self.response_model = getattr(obj, "model", None) or self.response_model
        self._openai_service(obj)
        for choice in getattr(obj, "choices", None) or ():
            reason = getattr(choice, "finish_reason", None)
            if reason:
                self.finish_reasons.append(reason)
            if self.want_output:
                self._choice_text(choice)
        if self.api == "embeddings":
            self._embedding_dimensions(obj)
        self._openai_usage(getattr(obj, "usage", None))

    def _embedding_dimensions(self, obj: Any) -> None:
        data = getattr(obj, "data", None)
        vector = getattr(data[0], "embedding", None) if isinstance(data, list) and data else None
        if isinstance(vector, list):
            self.dimensions = len(vector)

    def _openai_service(self, obj: Any) -> None:
        tier = getattr(obj, "service_tier", None)
        if isinstance(tier, str):
            self.service_tier = tier
        fingerprint = getattr(obj, "system_fingerprint", None)
        if isinstance(fingerprint, str):
            self.system_fingerprint = fingerprint

    def _choice_text(self, choice: Any) -> None:
        message = getattr(choice, "message", None) or getattr(choice, "delta", None)
        text = getattr(message, "content", None) if message is not None else getattr(choice, "text", None)
        if isinstance(text, str):
            self.output_parts.append(text)

    def _openai_usage(self, usage: Any) -> None:
        if usage is None:
            return
        # Inline reads (every call of every watched chat completion comes through here).
        value = getattr(usage, "prompt_tokens", None)
        self.input_tokens = value if isinstance(value, int) else None
        value = getattr(usage, "completion_tokens", None)
        self.output_tokens = value if isinstance(value, int) else None
        details = getattr(usage, "prompt_tokens_details", None)
        if isinstance(details, dict):  # openai releases that had not typed it yet (1.50 is one)
            self.cache_read = _detail(details, "cached_tokens")
            self.cache_write = _detail(details, "cache_write_tokens")
        elif details is not None:
            value = getattr(details, "cached_tokens", None)
            self.cache_read = value if isinstance(value, int) else None
            value = getattr(details, "cache_write_tokens", None)
            self.cache_write = value if isinstance(value, int) else None
        out = getattr(usage, "completion_tokens_details", None)
        if isinstance(out, dict):
            self.reasoning = _detail(out, "reasoning_tokens")
        elif out is not None:
            value = getattr(out, "reasoning_tokens", None)
            self.reasoning = value if isinstance(value, int) else None

    def _response(self, obj: Any) -> None:
        self.response_id = getattr(obj, "id", None) or self.response_id
        self.response_model = getattr(obj, "model", None) or self.response_model
        self._openai_service(obj)
        final = responses_finish_reason(obj)
        if final is not None:
            self.finish_reasons = [final]
        usage = getattr(obj, "usage", None)
        if usage is not None:
            self.input_tokens = _int(getattr(usage, "input_tokens", None))
            self.output_tokens = _int(getattr(usage, "output_tokens", None))
            details = getattr(usage, "input_tokens_details", None)
            if details is not None:
                self.cache_read = _detail(details, "cached_tokens")
                self.cache_write = _detail(details, "cache_write_tokens")
            out = getattr(usage, "output_tokens_details", None)
            if out is not None:
                self.reasoning = _detail(out, "reasoning_tokens")
        if self.want_output and not self.output_parts:
            text = getattr(obj, "output_text", None)
            if isinstance(text, str):
                self.output_parts.append(text)

    def _anthropic_message(self, obj: Any) -> None:
        self.response_id = getattr(obj, "id", None) or self.response_id
        self.response_model = getattr(obj, "model", None) or self.response_model
        reason = getattr(obj, "stop_reason", None)
        if isinstance(reason, str) and reason:
            self.finish_reasons = [anthropic_finish_reason(reason)]
        self._anthropic_usage(getattr(obj, "usage", None))
        if self.want_output:
            for block in getattr(obj, "content", None) or ():
                text = getattr(block, "text", None)
                if isinstance(text, str):
                    self.output_parts.append(text)

    def _anthropic_usage(self, usage: Any) -> None:
        if usage is None:
            return
        output = _int(getattr(usage, "output_tokens", None))
        if output is not None:
            self.output_tokens = output
        raw_input = _int(getattr(usage, "input_tokens", None))
        read = _int(getattr(usage, "cache_read_input_tokens", None))
        write = _int(getattr(usage, "cache_creation_input_tokens", None))
        if read is not None:
            self.cache_read = read
        if write is not None:
            self.cache_write = write
        if raw_input is not None:
            # Anthropic's input_tokens excludes cache; the semantic conventions' figure includes it.
            self.input_tokens = raw_input + (self.cache_read or 0) + (self.cache_write or 0)

    # -- stream items --------------------------------------------------------------------------
    def item(self, item: Any) -> None:
        """Read one streamed item (chunk or event)."""
        if self.api == "messages":
            self._anthropic_event(item)
        elif self.api == "responses":
            self._response_event(item)
        else:
            self._openai_chunk(item)

    def _openai_chunk(self, chunk: Any) -> None:
        if self.response_id is None:
            self.response_id = getattr(chunk, "id", None)
            self.response_model = getattr(chunk, "model", None)
            self._openai_service(chunk)
        for choice in getattr(chunk, "choices", None) or ():
            reason = getattr(choice, "finish_reason", None)
            if reason:
                self.finish_reasons.append(reason)
            if self.want_output:
                self._choice_text(choice)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._openai_usage(usage)

    def _response_event(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            if self.want_output:
                delta = getattr(event, "delta", None)
                if isinstance(delta, str):
                    self.output_parts.append(delta)
        elif kind in ("response.created", "response.completed", "response.incomplete", "response.failed"):
            response = getattr(event, "response", None)
            if response is not None:
                keep = self.output_parts
                self.output_parts = keep if keep else []
                self._response(response)

    def _anthropic_event(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            if self.want_output:
                text = getattr(getattr(event, "delta", None), "text", None)
                if isinstance(text, str):
                    self.output_parts.append(text)
        elif kind == "message_start":
            message = getattr(event, "message", None)
            self.response_id = getattr(message, "id", None)
            self.response_model = getattr(message, "model", None)
            self._anthropic_usage(getattr(message, "usage", None))
        elif kind == "message_delta":
            reason = getattr(getattr(event, "delta", None), "stop_reason", None)
            if isinstance(reason, str) and reason:
                self.finish_reasons = [anthropic_finish_reason(reason)]
            self._anthropic_usage(getattr(event, "usage", None))

    def output_text(self) -> str | None:
        """The text collected so far, when output was wanted."""
        return "".join(self.output_parts) if self.want_output else None
