"""The call context: who and what a call is for (user, session, tags, metadata).

`context` sets it for every call made inside a ``with`` block, from threads and asyncio tasks
alike (it lives in a `contextvars.ContextVar`, which ``asyncio`` copies into each task and
``contextvars.copy_context().run`` carries into a thread). `context_headers` is the per-call form:
an ``extra_headers`` entry, read and removed before the request is built, like a registry prompt's
identity. Nested contexts merge: the inner user and session win, tags are joined, metadata keys of
the inner block win.

Unused, it costs one context-variable read per call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import islice
from types import MappingProxyType
from typing import Any

from .exceptions import ContextError

__all__ = [
    "CONTEXT_HEADER",
    "MAX_ID_CHARS",
    "MAX_METADATA_KEYS",
    "MAX_TAGS",
    "MAX_TAG_CHARS",
    "MAX_VALUE_CHARS",
    "ContextValues",
    "context",
    "context_headers",
    "current_context",
    "decode_context_header",
]

CONTEXT_HEADER = "x-llmguard-context"
"""Header carrying a per-call context; read and removed before the request is built."""

MAX_ID_CHARS = 256
"""Longest user or session id accepted."""
MAX_TAGS = 32
"""Most tags one call may carry (nested contexts and a prompt's tags included; later ones are dropped)."""
MAX_TAG_CHARS = 64
"""Longest tag accepted."""
MAX_METADATA_KEYS = 32
"""Most metadata keys one call may carry."""
MAX_VALUE_CHARS = 256
"""Longest metadata value accepted (metadata keys are capped at `MAX_TAG_CHARS`)."""

_EMPTY: Mapping[str, str] = MappingProxyType({})
_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
"""Metadata keys: they become span attribute suffixes, ledger JSON paths and budget scopes."""


@dataclass(frozen=True, slots=True)
class ContextValues:
    """The context of a call: who it is for and how to group it. Immutable; build it with `context`.

    Attributes:
        user_id: The end user the call serves (personal data: see the docs to keep it off spans).
        session_id: The conversation or session; exported as ``gen_ai.conversation.id``.
        tags: Labels for grouping, sampling and budgets, in order, without duplicates.
        metadata: Free-form string key/value pairs (for example ``tenant``).
    """

    user_id: str | None = None
    session_id: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def merged(self, inner: ContextValues) -> ContextValues:
        """This context with ``inner`` applied on top (inner ids win, tags join, metadata merges)."""
        return ContextValues(
            user_id=inner.user_id if inner.user_id is not None else self.user_id,
            session_id=inner.session_id if inner.session_id is not None else self.session_id,
            tags=join_tags(self.tags, inner.tags),
            metadata=_merge_metadata(self.metadata, inner.metadata),
        )

    def with_tags(self, tags: Iterable[str]) -> ContextValues:
        """This context with ``tags`` joined to its own (used for a registry prompt's tags)."""
        joined = join_tags(self.tags, (t for t in tags if isinstance(t, str) and 0 < len(t) <= MAX_TAG_CHARS))
        if joined == self.tags:
            return self
        return ContextValues(self.user_id, self.session_id, joined, self.metadata)


def join_tags(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    """Both tag lists in order, without duplicates, at most `MAX_TAGS`."""
    return tuple(dict.fromkeys((*first, *second)))[:MAX_TAGS]


def _merge_metadata(outer: Mapping[str, str], inner: Mapping[str, str]) -> Mapping[str, str]:
    if not inner:
        return outer
    if not outer:
        return inner
    merged = {**outer, **inner}
    return MappingProxyType(dict(list(merged.items())[:MAX_METADATA_KEYS]))


current_context: ContextVar[ContextValues | None] = ContextVar("llmguard_call_context", default=None)
"""The context applied to calls made here (``None`` outside any `context` block)."""


def _text(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ContextError(
            f"llmguard.context: {field} must be a string, got {type(value).__name__} {value!r:.80}"
        )
    if not value or len(value) > limit:
        raise ContextError(
            f"llmguard.context: {field} must be 1 to {limit} characters, got {len(value)} ({value[:40]!r}...)"
        )
    return value


def _key(key: object) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ContextError(
            f"llmguard.context: metadata key {key!r:.80} must be 1 to 64 letters, digits, '_', '.' or '-'"
        )
    return key


def build(
    user_id: str | None = None,
    session_id: str | None = None,
    tags: Iterable[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> ContextValues:
    """Validate and freeze context values; raises `llmguard.ContextError` naming the bad field."""
    if user_id is not None:
        _text(user_id, "user_id", MAX_ID_CHARS)
    if session_id is not None:
        _text(session_id, "session_id", MAX_ID_CHARS)
    tag_list: tuple[str, ...] = ()
    if tags is not None:
        if isinstance(tags, str | bytes | Mapping) or not isinstance(tags, Iterable):
            raise ContextError(f"llmguard.context: tags must be a list of strings, got {tags!r:.60}")
        tag_list = tuple(_text(tag, "tags[]", MAX_TAG_CHARS) for tag in islice(tags, MAX_TAGS + 1))
        if len(tag_list) > MAX_TAGS:
            raise ContextError(f"llmguard.context: at most {MAX_TAGS} tags, got more")
    frozen = _EMPTY
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ContextError(
                f"llmguard.context: metadata must be a mapping of strings, got {metadata!r:.80}"
            )
        if len(metadata) > MAX_METADATA_KEYS:
            raise ContextError(
                f"llmguard.context: at most {MAX_METADATA_KEYS} metadata keys, got {len(metadata)}"
            )
        frozen = MappingProxyType(
            {
                _key(key): _text(value, f"metadata[{key!r}]", MAX_VALUE_CHARS)
                for key, value in metadata.items()
            }
        )
    return ContextValues(user_id, session_id, tuple(dict.fromkeys(tag_list)), frozen)


@contextmanager
def context(
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    tags: Iterable[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Iterator[ContextValues]:
    """Apply a user, session, tags and metadata to every LLM call made inside the block.

    Works in threads and asyncio tasks (each sees the context of the code that started it) and
    nests: an inner block's ids win, tags are joined, metadata is merged.

    Args:
        user_id: The end user (exported as ``user.id``; see the call-context guide to keep it off).
        session_id: The conversation (exported as ``gen_ai.conversation.id``).
        tags: Labels for grouping, per-tag sampling and budgets (at most 32, each up to 64 characters).
        metadata: String key/value pairs (at most 32 keys; values up to 256 characters).

    Yields:
        The merged context in force inside the block.

    Raises:
        llmguard.ContextError: A value has the wrong type or exceeds its size cap.
    """
    values = build(user_id, session_id, tags, metadata)
    outer = current_context.get()
    if outer is not None:
        values = outer.merged(values)
    token = current_context.set(values)
    try:
        yield values
    finally:
        current_context.reset(token)


def context_headers(
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    tags: Iterable[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The per-call form of `context`: pass the result as ``extra_headers=`` (removed before sending).

    Its values are applied on top of any `context` block in force, as a nested block would be.
    Combine with a rendered prompt's headers: ``extra_headers={**rendered.headers, **context_headers(...)}``.

    Raises:
        llmguard.ContextError: A value has the wrong type or exceeds its size cap.
    """
    values = build(user_id, session_id, tags, metadata)
    data: dict[str, Any] = {}
    if values.user_id is not None:
        data["u"] = values.user_id
    if values.session_id is not None:
        data["s"] = values.session_id
    if values.tags:
        data["t"] = list(values.tags)
    if values.metadata:
        data["m"] = dict(values.metadata)
    return {CONTEXT_HEADER: json.dumps(data, separators=(",", ":"))}


def decode_context_header(value: str) -> ContextValues:
    """Parse a `CONTEXT_HEADER` value; raises `llmguard.ContextError` when it is malformed."""
    if len(value) > 65_536:
        raise ContextError(f"{CONTEXT_HEADER}: header of {len(value)} characters is too long")
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise ContextError(f"{CONTEXT_HEADER}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ContextError(f"{CONTEXT_HEADER}: expected a JSON object, got {value[:40]!r}")
    return build(data.get("u"), data.get("s"), data.get("t"), data.get("m"))
