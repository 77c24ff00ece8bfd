"""Data types shared by the fake providers: recorded requests, usage and failures."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = ["FailureKind", "FakeFailure", "FakeRequest", "FakeUsage", "TokenCounts", "estimate_tokens"]

FailureKind: TypeAlias = int | Literal["timeout", "stream_cut"]
"""An HTTP status code to answer with, `"timeout"`, or `"stream_cut"`."""


@dataclass(frozen=True)
class FakeRequest:
    """One request a fake received, as recorded in `FakeProvider.calls`."""

    method: str
    """The HTTP method, e.g. `"POST"`."""

    path: str
    """The URL path, including the base URL's prefix, e.g. `"/v1/chat/completions"`."""

    url: str
    """The full URL."""

    headers: Mapping[str, str]
    """The request headers, with lower-case names."""

    body: Mapping[str, Any]
    """The parsed JSON body; empty when there was none or it was not a JSON object."""

    @property
    def stream(self) -> bool:
        """Whether the request asked for a streamed response."""
        return self.body.get("stream") is True

    @property
    def model(self) -> str | None:
        """The model the request asked for, if any."""
        model = self.body.get("model")
        return model if isinstance(model, str) else None


@dataclass(frozen=True)
class FakeUsage:
    """Token numbers for a fake to report.

    Every field counts a disjoint share of tokens, and each provider adds them up its own way:
    OpenAI's `prompt_tokens` is `input_tokens + cached_tokens + cache_write_tokens` and its
    `completion_tokens` is `output_tokens + reasoning_tokens`; Anthropic's `input_tokens` is
    `input_tokens` alone and its `output_tokens` is `output_tokens + reasoning_tokens`.
    """

    input_tokens: int | None = None
    """Uncached prompt tokens; `None` estimates them from the prompt's length."""

    output_tokens: int | None = None
    """Visible output tokens; `None` estimates them from the reply's length."""

    cached_tokens: int = 0
    """Prompt tokens read from the cache."""

    cache_write_tokens: int = 0
    """Prompt tokens written to the cache."""

    reasoning_tokens: int = 0
    """Hidden reasoning (thinking) tokens."""


@dataclass(frozen=True)
class TokenCounts:
    """Resolved token numbers for one reply, with the same meaning as `FakeUsage`."""

    input: int
    output: int
    cached: int
    cache_write: int
    reasoning: int

    @property
    def prompt_total(self) -> int:
        """All prompt tokens, cached or not."""
        return self.input + self.cached + self.cache_write

    @property
    def output_total(self) -> int:
        """All output tokens, reasoning included."""
        return self.output + self.reasoning


@dataclass(frozen=True)
class FakeFailure:
    """A failure to inject instead of (or, for `"stream_cut"`, in the middle of) a reply."""

    kind: FailureKind
    """An HTTP status code, `"timeout"` or `"stream_cut"`."""

    retry_after: float | str | None = 0
    """The `retry-after` header sent with a status failure; `None` leaves it out."""

    after_chunks: int = 1
    """For `"stream_cut"`: how many SSE events arrive before the connection drops."""

    message: str | None = None
    """The error message; `None` picks one from the status code."""


def estimate_tokens(text: str) -> int:
    """Estimate a token count the way a rough tokenizer would: one token per four characters.

    Args:
        text: The text to count.

    Returns:
        At least one token.
    """
    return max(1, math.ceil(len(text) / 4))
