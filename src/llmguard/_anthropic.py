"""Drop-in Anthropic clients, Bedrock and Vertex included (imported only when used)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anthropic

from ._clients import guarded_client_class
from ._intercept import AsyncShell, SyncShell

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
    Anthropic = guarded_client_class(anthropic.Anthropic, SyncShell, sdk_traces=True)
    AsyncAnthropic = guarded_client_class(anthropic.AsyncAnthropic, AsyncShell, sdk_traces=True)
    AnthropicBedrock = guarded_client_class(anthropic.AnthropicBedrock, SyncShell, sdk_traces=True)
    AsyncAnthropicBedrock = guarded_client_class(anthropic.AsyncAnthropicBedrock, AsyncShell, sdk_traces=True)
    AnthropicVertex = guarded_client_class(anthropic.AnthropicVertex, SyncShell, sdk_traces=True)
    AsyncAnthropicVertex = guarded_client_class(anthropic.AsyncAnthropicVertex, AsyncShell, sdk_traces=True)
