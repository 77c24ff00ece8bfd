"""The optional ``llmguard[drift]`` dependencies, imported lazily with a clear error when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from llmguard.exceptions import ConfigurationError

__all__ = ["EXTRA_HINT", "require_drift_extra"]

EXTRA_HINT = "input drift needs the drift extra: pip install 'llmguard[drift]' (numpy, scipy, scikit-learn)"
"""What the error says to do."""

_MODULES = (
    "numpy",
    "scipy.stats",
    "scipy.spatial.distance",
    "sklearn.cluster",
    "sklearn.metrics",
    "threadpoolctl",
)


def require_drift_extra() -> dict[str, ModuleType]:
    """Import numpy, scipy and scikit-learn; raise `ConfigurationError` naming the extra if one is missing."""
    loaded: dict[str, ModuleType] = {}
    for name in _MODULES:
        try:
            loaded[name] = importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(f"{EXTRA_HINT}; {name!r} is not installed ({exc})") from None
    return loaded
