"""Drop-in OpenAI clients (imported only when used, so ``import llmguard`` stays cheap)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import openai

from ._clients import guarded_client_class
from ._intercept import AsyncShell, SyncShell

__all__ = ["AsyncAzureOpenAI", "AsyncOpenAI", "AzureOpenAI", "OpenAI"]

if TYPE_CHECKING:
    from ._typing import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI
else:
    OpenAI = guarded_client_class(openai.OpenAI, SyncShell, sdk_traces=False)
    AsyncOpenAI = guarded_client_class(openai.AsyncOpenAI, AsyncShell, sdk_traces=False)
    AzureOpenAI = guarded_client_class(openai.AzureOpenAI, SyncShell, sdk_traces=False)
    AsyncAzureOpenAI = guarded_client_class(openai.AsyncAzureOpenAI, AsyncShell, sdk_traces=False)
