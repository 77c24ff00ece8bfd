"""Static types of the drop-in clients (read by type checkers only, never imported at run time).

Each class is its SDK class plus ``guard=`` on the constructor and ``copy()``, and the ``guard``
property. The run-time classes are built in `llmguard._openai` and `llmguard._anthropic`.
"""

from typing import Any, Self

import anthropic
import openai

from ._guard import Guard

__all__ = [
    "Anthropic",
    "AnthropicBedrock",
    "AnthropicVertex",
    "AsyncAnthropic",
    "AsyncAnthropicBedrock",
    "AsyncAnthropicVertex",
    "AsyncAzureOpenAI",
    "AsyncOpenAI",
    "AzureOpenAI",
    "OpenAI",
]

class OpenAI(openai.OpenAI):
    """Drop-in `openai.OpenAI` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...

class AsyncOpenAI(openai.AsyncOpenAI):
    """Drop-in `openai.AsyncOpenAI` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...

class AzureOpenAI(openai.AzureOpenAI):
    """Drop-in `openai.AzureOpenAI` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...

class AsyncAzureOpenAI(openai.AsyncAzureOpenAI):
    """Drop-in `openai.AsyncAzureOpenAI` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...

class Anthropic(anthropic.Anthropic):
    """Drop-in `anthropic.Anthropic` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...

class AsyncAnthropic(anthropic.AsyncAnthropic):
    """Drop-in `anthropic.AsyncAnthropic` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...

class AnthropicBedrock(anthropic.AnthropicBedrock):
    """Drop-in `anthropic.AnthropicBedrock` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...

class AsyncAnthropicBedrock(anthropic.AsyncAnthropicBedrock):
    """Drop-in `anthropic.AsyncAnthropicBedrock` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...

class AnthropicVertex(anthropic.AnthropicVertex):
    """Drop-in `anthropic.AnthropicVertex` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...

class AsyncAnthropicVertex(anthropic.AsyncAnthropicVertex):
    """Drop-in `anthropic.AsyncAnthropicVertex` guarded by llmguard."""

    def __init__(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None: ...
    def copy(self, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Self: ...

    with_options = copy

    @property
    def guard(self) -> Guard: ...
