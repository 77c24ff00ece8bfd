"""Server-sent-event encoding and text chunking shared by the fake providers."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DONE", "SSEEvent", "split_words"]

_WORD = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event, as a provider writes it on the wire."""

    data: Mapping[str, Any] | str
    """The JSON payload, or a raw string such as `[DONE]`."""

    event: str | None = None
    """The `event:` field; OpenAI chat streams leave it out, Anthropic always sets it."""

    def encode(self) -> bytes:
        """Return the event as UTF-8 bytes, terminated by a blank line."""
        data = self.data if isinstance(self.data, str) else json.dumps(self.data, separators=(",", ":"))
        head = f"event: {self.event}\n" if self.event is not None else ""
        return f"{head}data: {data}\n\n".encode()


DONE = SSEEvent("[DONE]")
"""The terminator OpenAI sends after the last chat or completion chunk."""


def split_words(text: str) -> list[str]:
    """Split text into word-sized pieces that join back to the original.

    Each piece is a word with its trailing whitespace, so `"".join(split_words(t)) == t`.

    Args:
        text: The reply text to stream.

    Returns:
        The pieces, one per streamed delta; empty for empty text.
    """
    return _WORD.findall(text)
