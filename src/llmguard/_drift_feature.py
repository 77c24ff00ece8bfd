"""The drift `llmguard._features.Feature`, outside the ``drift`` package so that drift off imports none of it.

The package needs the ``llmguard[drift]`` extra and the storage layer (SQLAlchemy); a guard with
drift off must import neither, so this module imports the package only when drift is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._contract import Links, Parts
from ._options import DriftOptions

if TYPE_CHECKING:
    from ._guard import Guard

__all__ = ["FEATURE", "DriftFeature"]


class DriftFeature:
    """Sampled inputs embedded and compared in the background (``drift=``)."""

    name = "drift"

    def options(self, guard: Guard) -> DriftOptions:
        """``drift=``, else ``[tool.llmguard] drift``."""
        return DriftOptions.resolve(guard)

    def build(self, options: DriftOptions, links: Links) -> Parts:
        """The drift observer; nothing (and no import) when drift is off."""
        spec = options.spec
        if spec is None or spec is False or (isinstance(spec, dict) and spec.get("enabled") is False):
            return Parts()
        from .drift._observer import build_observer

        return Parts(observer=build_observer(spec, links.owner))


FEATURE = DriftFeature()
"""The drift feature, as `llmguard._features.FEATURES` names it."""
