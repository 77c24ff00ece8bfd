"""Drop-in OpenAI clients (imported only when used, so ``import llmguard`` stays cheap)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import openai

from ._clients import guarded_client_class

__all__ = ["AsyncAzureOpenAI", "AsyncOpenAI", "AzureOpenAI", "OpenAI"]

if TYPE_CHECKING:
    from ._typing import AsyncAzureOpenAI, AsyncOpenAI, AzureOpenAI, OpenAI
else:
    OpenAI = guarded_client_class(openai.OpenAI, is_async=False, sdk_traces=False)
    AsyncOpenAI = guarded_client_class(openai.AsyncOpenAI, is_async=True, sdk_traces=False)
    AzureOpenAI = guarded_client_class(openai.AzureOpenAI, is_async=False, sdk_traces=False)
    AsyncAzureOpenAI = guarded_client_class(openai.AsyncAzureOpenAI, is_async=True, sdk_traces=False)
