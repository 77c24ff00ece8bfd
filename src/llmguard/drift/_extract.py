"""The text of a call's input: the last user message, the prompt or the input (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["last_user_text"]


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        parts = [str(p["text"]) for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
        return "\n".join(parts) if parts else None
    return None


def _last_user(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return _text(message.get("content"))
    return None


def last_user_text(body: Mapping[str, Any]) -> str | None:
    """The last user message (chat completions, messages, responses), the prompt (completions), or None."""
    if "messages" in body:
        return _last_user(body.get("messages"))
    value = body.get("input")
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _last_user(value)
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], str):
        return prompt[-1]
    return None
