"""The hard-budget pre-call policy: the budget tracker's O(1) check, or a refusal when it cannot be built.

Kept apart from `llmguard.cost._budget` (the budget model and tracker), which the cost state
imports: the policy reads the state, so the two stay one-way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from llmguard._options import CostOptions
from llmguard._policy import unavailable

from ._budget import Budget
from ._config import resolve_policy
from ._state import CostState, state_for

if TYPE_CHECKING:
    from llmguard._core import CallContext, PreCallPolicy
    from llmguard._guard import Guard

__all__ = ["build_policy", "declares_hard_limit", "policy_of", "refusing"]


def build_policy(guard: Guard, options: CostOptions | None = None) -> PreCallPolicy | None:
    """The hard-budget pre-call policy of ``guard``, or None when no budget has a hard limit.

    Hard budgets fail closed: when the cost state cannot be built (an internal error, a broken
    ledger) and the configuration declares a hard limit, every call is refused with
    `llmguard.PolicyUnavailableError` naming the cause instead of going out unbudgeted.
    """
    options = options if options is not None else CostOptions.resolve(guard)
    try:
        state = state_for(guard, options)
    except Exception as exc:
        if not declares_hard_limit(options):
            raise
        return refusing(exc)
    return policy_of(state)


def policy_of(state: CostState | None) -> PreCallPolicy | None:
    """The budget tracker's check, or None when no budget has a hard limit."""
    if state is None or state.tracker is None or not state.tracker.has_hard_limits:
        return None
    return state.tracker.check


def declares_hard_limit(options: CostOptions) -> bool:
    """Whether the budgets declare a hard limit (True when that cannot be told)."""
    try:
        return any(b.hard_usd is not None for b in resolve_policy(options).budgets)
    except Exception:
        raw = options.budgets if options.budgets is not None else options.file_budgets
        return _mentions_hard(raw, depth=0)


def _mentions_hard(value: object, depth: int) -> bool:
    if depth > 8:
        return True
    if isinstance(value, Budget):
        return value.hard_usd is not None
    if isinstance(value, Mapping):
        if value.get("hard_usd") is not None:
            return True
        return any(_mentions_hard(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions_hard(v, depth + 1) for v in value)
    return False


def refusing(error: Exception) -> PreCallPolicy:
    """A policy refusing every call with `llmguard.PolicyUnavailableError` naming ``error``."""

    def refuse(call: CallContext) -> None:
        raise unavailable("hard budgets", error) from error

    return refuse
