"""Composition of a guard's runtime from its features.

Each feature contributes through a small factory ``build(guard)`` returning an observer, a
pre-call policy or a pricer (or ``None`` when the guard does not enable it). Order matters:
telemetry starts first (it sets the trace id that sampling keys on) and ends last.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from ._core import CallObserver, PreCallPolicy, Pricer, Runtime

if TYPE_CHECKING:
    from ._guard import Guard

__all__ = ["FEATURES", "build_runtime"]

FEATURES: tuple[tuple[str, str], ...] = (
    ("llmguard.telemetry._observer", "build"),
    ("llmguard._feedback._observer", "build"),
    ("llmguard.judging._observer", "build"),
    ("llmguard.cost._observer", "build"),
)
"""(module, factory) of every feature observer, in ``on_start`` order."""

POLICIES: tuple[tuple[str, str], ...] = (("llmguard.cost._budget", "build_policy"),)
"""(module, factory) of feature pre-call policies, run after the pin policy."""

PRICER: tuple[str, str] = ("llmguard._pricing", "build_pricer")


def _factory(module: str, name: str) -> Any:
    if importlib.util.find_spec(module.rsplit(".", 1)[0]) is None:
        return None
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return None
    if spec is None:
        return None
    return getattr(importlib.import_module(module), name)


def build_runtime(guard: Guard) -> Runtime:
    """Compile ``guard`` into the per-call pipeline."""
    observers: list[CallObserver] = []
    for module, name in FEATURES:
        factory = _factory(module, name)
        observer = factory(guard) if factory else None
        if observer is not None:
            observers.append(observer)
    observers.extend(guard.observers)
    policies: list[PreCallPolicy] = []
    for module, name in POLICIES:
        factory = _factory(module, name)
        policy = factory(guard) if factory else None
        if policy is not None:
            policies.append(policy)
    policies.extend(guard.policies)
    pricer_factory = _factory(*PRICER)
    pricer: Pricer | None = pricer_factory(guard) if pricer_factory else None
    return Runtime(guard.settings, observers=observers, policies=policies, pricer=pricer)
