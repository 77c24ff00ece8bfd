"""Context variables shared by the interception core and the features around it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._core import CallContext
    from ._record import PromptRef

__all__ = [
    "active_call",
    "call_kind",
    "current_prompt",
    "drift_calls",
    "judge_calls",
    "judge_mode",
    "use_prompt",
]

active_call: ContextVar[CallContext | None] = ContextVar("llmguard_active_call", default=None)
"""The call whose SDK request is running in this context (used by the response hooks)."""

current_prompt: ContextVar[PromptRef | None] = ContextVar("llmguard_prompt", default=None)
"""The registry prompt that calls made in this context are linked to."""

judge_mode: ContextVar[bool] = ContextVar("llmguard_judge_mode", default=False)
"""True while a judge makes its own LLM calls: they are recorded as ``kind="judge"`` and never judged."""

call_kind: ContextVar[str] = ContextVar("llmguard_call_kind", default="app")
"""The ``kind`` recorded for calls made in this context: ``app``, ``judge`` or ``drift``."""


@contextmanager
def judge_calls() -> Iterator[None]:
    """Mark LLM calls made inside the block as a judge's own calls."""
    token = judge_mode.set(True)
    kind = call_kind.set("judge")
    try:
        yield
    finally:
        call_kind.reset(kind)
        judge_mode.reset(token)


@contextmanager
def drift_calls() -> Iterator[None]:
    """Mark LLM calls made inside the block as input-drift monitoring (``kind="drift"``, never sampled)."""
    token = call_kind.set("drift")
    try:
        yield
    finally:
        call_kind.reset(token)


@contextmanager
def use_prompt(prompt: PromptRef) -> Iterator[PromptRef]:
    """Link LLM calls made inside the block to ``prompt``."""
    token = current_prompt.set(prompt)
    try:
        yield prompt
    finally:
        current_prompt.reset(token)
