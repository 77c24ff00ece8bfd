"""Judging and cost as features whose modules load only when a guard configures them.

A default guard configures neither, yet importing ``llmguard.judging`` and ``llmguard.cost`` (queues,
workers, the ledger writer, budgets, alert rules, ``sqlite3``, ``concurrent.futures``) cost its first
call about 45 ms. Each gate resolves the feature's options from the light `llmguard._options`
module and imports the feature itself only when those options configure something; otherwise it
builds nothing, which is what the feature itself builds from the same options. Drift follows the
same rule in `llmguard._drift_feature`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ._contract import Feature, Links, Parts
from ._options import CostOptions, JudgingOptions

if TYPE_CHECKING:
    from ._guard import Guard

__all__ = ["COST", "JUDGING", "GatedFeature"]


class _Resolvable(Protocol):
    @classmethod
    def resolve(cls, guard: Guard) -> Any: ...


OptionsT = TypeVar("OptionsT", bound=_Resolvable)


class GatedFeature(Generic[OptionsT]):
    """The feature ``module.FEATURE``, imported the first time options configure it.

    Args:
        name: The feature's name (as errors name it).
        options_type: Its options class (``resolve(guard)``), from `llmguard._options`.
        configured: Whether the resolved options ask for anything at all.
        module: The module holding the feature as ``FEATURE``.
    """

    def __init__(
        self, name: str, options_type: type[OptionsT], configured: Callable[[OptionsT], bool], module: str
    ) -> None:
        self.name = name
        self._options_type = options_type
        self._configured = configured
        self._module = module

    def options(self, guard: Guard) -> OptionsT:
        """The feature's options, resolved without importing the feature."""
        resolved: OptionsT = self._options_type.resolve(guard)
        return resolved

    def build(self, options: OptionsT, links: Links) -> Parts:
        """Nothing when the options configure nothing; else what the feature builds."""
        if not self._configured(options):
            return Parts()
        feature: Feature[OptionsT] = importlib.import_module(self._module).FEATURE
        return feature.build(options, links)


def judging_configured(options: JudgingOptions) -> bool:
    """Judges are named (judging without judges builds no observer and publishes no handle)."""
    judges = options.judges
    return not (judges is None or (isinstance(judges, list | tuple) and not judges))


def cost_configured(options: CostOptions) -> bool:
    """Budgets or a ledger are named, by argument or in the config file (else there is no cost state)."""
    return not (
        options.budgets is None
        and options.file_budgets is None
        and options.ledger is None
        and options.file_ledger is None
    )


JUDGING: GatedFeature[JudgingOptions] = GatedFeature(
    "judging", JudgingOptions, judging_configured, "llmguard.judging._observer"
)
"""The judging feature (`llmguard.judging._observer.FEATURE`), imported when judges are named."""

COST: GatedFeature[CostOptions] = GatedFeature("cost", CostOptions, cost_configured, "llmguard.cost._feature")
"""The cost feature (`llmguard.cost._feature.FEATURE`), imported when budgets or a ledger are named."""
