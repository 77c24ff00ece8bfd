"""Opt-in message content: ``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``.

Recorded only when content capture is on (``Guard(capture_content=True)`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``). Messages follow the spec's JSON schema
(role plus typed ``parts``); every text passes the redaction hook, then a size cap that cuts text
but keeps the JSON valid. Only the request body's messages are read: never headers, keys or
other request fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llmguard._record import CallRecord

from ._options import Redactor

__all__ = ["TRUNCATION_MARK", "Budget", "dumps", "input_messages", "output_messages", "system_instructions"]

TRUNCATION_MARK = "…[truncated]"
"""Appended to a text the size cap cut."""

Part = dict[str, Any]
Message = dict[str, Any]


class Budget:
    """Applies the redaction hook and a shared budget of UTF-8 bytes to the texts of one call."""

    __slots__ = ("redact", "remaining", "truncated")

    def __init__(self, max_bytes: int, redact: Redactor | None) -> None:
        self.remaining = max_bytes
        self.redact = redact
        self.truncated = False

    def text(self, value: str) -> str:
        """The text to record: redacted, then cut (on a character boundary) to what is left of the budget."""
        if self.redact is not None:
            value = self.redact(value)
        if value.isascii():
            size = len(value)
            if size <= self.remaining:
                self.remaining -= size
                return value
            self.truncated = True
            kept, self.remaining = value[: self.remaining], 0
            return kept + TRUNCATION_MARK
        data = value.encode("utf-8", "surrogatepass")
        if len(data) <= self.remaining:
            self.remaining -= len(data)
            return value
        self.truncated = True
        cut, self.remaining = data[: self.remaining].decode("utf-8", "ignore"), 0
        return cut + TRUNCATION_MARK


def _text_part(text: str, budget: Budget) -> Part:
    return {"type": "text", "content": budget.text(text)}


def _parts(content: Any, budget: Budget) -> list[Part]:
    if isinstance(content, str):
        return [_text_part(content, budget)]
    parts: list[Part] = []
    for item in content if isinstance(content, Sequence) else ():
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        text = item.get("text")
        if isinstance(text, str):
            parts.append(_text_part(text, budget))
        elif kind == "tool_use":
            parts.append({"type": "tool_call", "id": item.get("id"), "name": item.get("name")})
        elif kind == "tool_result":
            parts.append({"type": "tool_call_response", "id": item.get("tool_use_id")})
        elif isinstance(kind, str):
            parts.append({"type": kind})  # images, audio, files: the kind only, never the data
    return parts


def _chat_message(message: Any, budget: Budget) -> Message | None:
    if not isinstance(message, Mapping):
        return None
    role = message.get("role")
    parts = _parts(message.get("content"), budget)
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        parts.append(
            {"type": "tool_call", "id": call.get("id") if isinstance(call, Mapping) else None, "name": name}
        )
    if role == "tool":
        parts = [{"type": "tool_call_response", "id": message.get("tool_call_id")}]
    return {"role": role if isinstance(role, str) else "user", "parts": parts}


def input_messages(api: str, request: Mapping[str, Any], budget: Budget) -> list[Message]:
    """The request's input messages in the spec's shape."""
    if api == "completions":
        prompt = request.get("prompt")
        texts = [prompt] if isinstance(prompt, str) else [p for p in prompt or () if isinstance(p, str)]
        return [{"role": "user", "parts": [_text_part(t, budget) for t in texts]}]
    if api == "embeddings":
        return []
    items = request.get("input") if api == "responses" else request.get("messages")
    if isinstance(items, str):
        return [{"role": "user", "parts": [_text_part(items, budget)]}]
    messages = (_chat_message(m, budget) for m in items or () if isinstance(items, Sequence))
    return [m for m in messages if m is not None]


def system_instructions(api: str, request: Mapping[str, Any], budget: Budget) -> list[Part]:
    """Instructions given apart from the messages (Anthropic ``system``, Responses ``instructions``)."""
    value = (
        request.get("system")
        if api == "messages"
        else request.get("instructions")
        if api == "responses"
        else None
    )
    return _parts(value, budget) if value else []


def output_messages(record: CallRecord, budget: Budget) -> list[Message]:
    """The generated text as one assistant message (empty when nothing was generated)."""
    if not record.output_text:
        return []
    reason = record.finish_reasons[0] if record.finish_reasons else ""
    return [{"role": "assistant", "parts": [_text_part(record.output_text, budget)], "finish_reason": reason}]


def dumps(value: Any) -> str:
    """Compact JSON, with anything unexpected turned into a string."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
