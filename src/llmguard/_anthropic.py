"""Drop-in Anthropic clients, Bedrock and Vertex included (imported only when used)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anthropic

from ._clients import guarded_client_class

__all__ = [
    "Anthropic",
    "AnthropicBedrock",
    "AnthropicVertex",
    "AsyncAnthropic",
    "AsyncAnthropicBedrock",
    "AsyncAnthropicVertex",
]

if TYPE_CHECKING:
    from ._typing import (
        Anthropic,
        AnthropicBedrock,
        AnthropicVertex,
        AsyncAnthropic,
        AsyncAnthropicBedrock,
        AsyncAnthropicVertex,
    )
else:
    Anthropic = guarded_client_class(anthropic.Anthropic, is_async=False, sdk_traces=True, sdk_identity=True)
    AsyncAnthropic = guarded_client_class(
        anthropic.AsyncAnthropic, is_async=True, sdk_traces=True, sdk_identity=True
    )
    AnthropicBedrock = guarded_client_class(anthropic.AnthropicBedrock, is_async=False, sdk_traces=True)
    AsyncAnthropicBedrock = guarded_client_class(
        anthropic.AsyncAnthropicBedrock, is_async=True, sdk_traces=True
    )
    AnthropicVertex = guarded_client_class(anthropic.AnthropicVertex, is_async=False, sdk_traces=True)
    AsyncAnthropicVertex = guarded_client_class(
        anthropic.AsyncAnthropicVertex, is_async=True, sdk_traces=True
    )
