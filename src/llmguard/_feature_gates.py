"""Judging, drift and cost as features whose packages load only when a guard configures them.

A default guard configures none of them, yet importing ``llmguard.judging`` and ``llmguard.cost``
(queues, workers, the ledger writer, budgets, alert rules, ``sqlite3``, ``concurrent.futures``)
cost its first call about a third of its instructions, and ``llmguard.drift`` needs an extra. Each
gate resolves the feature's options from the light `llmguard._options` module and imports the
feature itself only when those options say they configure it (``options.configured()``);
otherwise it builds nothing, which is what the feature itself builds from the same options.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ._contract import Feature, Links, Parts
from ._options import CostOptions, DriftOptions, JudgingOptions

if TYPE_CHECKING:
    from ._guard import Guard

__all__ = ["COST", "DRIFT", "JUDGING", "GatedFeature"]


class _GatedOptions(Protocol):
    """Options resolved without the feature, which say whether they configure it."""

    @classmethod
    def resolve(cls, guard: Guard) -> Any: ...

    def configured(self) -> bool: ...


OptionsT = TypeVar("OptionsT", bound=_GatedOptions)


class GatedFeature(Generic[OptionsT]):
    """The feature ``module.FEATURE``, imported the first time options configure it.

    Args:
        name: The feature's name (as errors name it).
        options_type: Its options class, from `llmguard._options`.
        module: The module holding the feature as ``FEATURE``.
    """

    def __init__(self, name: str, options_type: type[OptionsT], module: str) -> None:
        self.name = name
        self._options_type = options_type
        self._module = module

    def options(self, guard: Guard) -> OptionsT:
        """The feature's options, resolved without importing the feature."""
        resolved: OptionsT = self._options_type.resolve(guard)
        return resolved

    def build(self, options: OptionsT, links: Links) -> Parts:
        """Nothing when the options configure nothing; else what the feature builds."""
        if not options.configured():
            return Parts()
        feature: Feature[OptionsT] = importlib.import_module(self._module).FEATURE
        return feature.build(options, links)


JUDGING: GatedFeature[JudgingOptions] = GatedFeature("judging", JudgingOptions, "llmguard.judging._observer")
"""The judging feature (`llmguard.judging._observer.FEATURE`), imported when judges are named."""

DRIFT: GatedFeature[DriftOptions] = GatedFeature("drift", DriftOptions, "llmguard.drift._observer")
"""The drift feature (`llmguard.drift._observer.FEATURE`), imported when drift is on."""

COST: GatedFeature[CostOptions] = GatedFeature("cost", CostOptions, "llmguard.cost._feature")
"""The cost feature (`llmguard.cost._feature.FEATURE`), imported when budgets or a ledger are named."""
