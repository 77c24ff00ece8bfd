"""The cost `llmguard._contract.Feature`: the ledger observer and the hard-budget policy, from one state.

Both parts share the guard's `llmguard.cost._state.CostState` (ledger, writer, budget tracker,
alert dispatcher), built once from the resolved `llmguard._options.CostOptions`. Hard budgets fail
closed: when the state cannot be built for an internal reason and a hard limit is declared, the
feature contributes a policy that refuses every call (`llmguard.PolicyUnavailableError`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmguard._contract import CONFIG_ERRORS, Links, Parts
from llmguard._options import CostOptions
from llmguard.exceptions import LLMGuardError

from ._observer import LedgerObserver
from ._policy import declares_hard_limit, policy_of, refusing
from ._state import state_for

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["FEATURE", "CostFeature"]


class CostFeature:
    """Ledger rows, budget totals, alerts and the hard-budget pre-call check."""

    name = "cost"

    def options(self, guard: Guard) -> CostOptions:
        """Budgets and the ledger from the argument, else the config file."""
        return CostOptions.resolve(guard)

    def build(self, options: CostOptions, links: Links) -> Parts:
        """The ledger observer and the hard-budget policy (either may be None)."""
        try:
            state = state_for(links.owner, options)
        except (LLMGuardError, *CONFIG_ERRORS):
            raise
        except Exception as exc:
            if not declares_hard_limit(options):
                raise  # logged; the observer fails open
            return Parts(policy=refusing(exc))
        observer = None if state is None else LedgerObserver(state)
        return Parts(observer=observer, policy=policy_of(state))


FEATURE = CostFeature()
"""The cost feature, as `llmguard._features.FEATURES` names it."""
