"""Prompts as code: versioned prompt and config artifacts, labels, promotion, rollback and canaries.

Versions are reviewed YAML files (``prompts/<name>/v<semver>.yaml``) or records in a store;
labels (``production``, ``staging``...) point at a version or a weighted canary split and move
by compare-and-set with an append-only history. ``guard.prompts.get(name, label="production")``
returns a `PromptVersion`; ``.render(**variables)`` builds messages as data in the shape
of the OpenAI chat, OpenAI Responses or Anthropic messages API, linked to the call's record.

Extend with your own `PromptStore` (four small methods).
"""

from __future__ import annotations

from ._cache import CacheStats, TTLCache
from ._engine import MAX_OUTPUT_CHARS, MAX_TEMPLATE_CHARS
from ._file_store import FileStore
from ._labels import ANY, LabelMove, LabelTarget
from ._model import ArtifactKind, FewShotExample, Message, PromptVersion, VariableSpec
from ._registry import PromotionGate, PromotionRequest, PromptRegistry
from ._render import AnthropicMessagesKwargs, OpenAIChatKwargs, OpenAIResponsesKwargs, RenderedPrompt
from ._semver import Version, parse_version, resolve
from ._sqlite_store import SQLiteStore, SQLStore
from ._store import MemoryStore, PromptEntry, PromptStore, WritablePromptStore
from ._validate import Finding, validate_store

__all__ = [
    "ANY",
    "MAX_OUTPUT_CHARS",
    "MAX_TEMPLATE_CHARS",
    "AnthropicMessagesKwargs",
    "ArtifactKind",
    "CacheStats",
    "FewShotExample",
    "FileStore",
    "Finding",
    "LabelMove",
    "LabelTarget",
    "MemoryStore",
    "Message",
    "OpenAIChatKwargs",
    "OpenAIResponsesKwargs",
    "PromotionGate",
    "PromotionRequest",
    "PromptEntry",
    "PromptRegistry",
    "PromptStore",
    "PromptVersion",
    "RenderedPrompt",
    "SQLStore",
    "SQLiteStore",
    "TTLCache",
    "VariableSpec",
    "Version",
    "WritablePromptStore",
    "parse_version",
    "resolve",
    "validate_store",
]
