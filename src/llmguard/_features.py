"""Composition of a guard's runtime from its features: the feature contract.

Every feature follows the contract of `llmguard._contract` (a `Feature` resolves typed options
once, then builds its `Parts`; features reach each other through `Links`). What the features build
that holds background work implements `llmguard._lifecycle.Lifecycle`: the guard flushes and stops
it through that declared protocol. Order matters: telemetry
starts first (it sets the trace id that sampling keys on) and ends last; features are imported on
first use, so ``import llmguard`` stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._contract import CONFIG_ERRORS, Feature, Links, Parts
from ._core import CallObserver, PreCallPolicy, Runtime
from ._internal import log_internal_error
from .exceptions import ConfigurationError, LLMGuardError

if TYPE_CHECKING:
    from ._guard import Guard

__all__ = ["FEATURES", "Compiled", "build_runtime"]


FEATURES: tuple[tuple[str, str], ...] = (
    ("llmguard.telemetry._observer", "FEATURE"),
    ("llmguard._feature_gates", "JUDGING"),  # imports llmguard.judging only when judges are named
    ("llmguard._feedback._observer", "FEATURE"),
    ("llmguard._feature_gates", "DRIFT"),  # imports llmguard.drift only when drift is on
    ("llmguard._feature_gates", "COST"),  # imports llmguard.cost only when budgets or a ledger are named
    ("llmguard._pricing", "FEATURE"),
)
"""(module, attribute) of every `Feature`, in build and ``on_start`` order (imported on first use)."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled guard: its runtime and the typed links between its features."""

    runtime: Runtime
    links: Links


def _build(feature: Feature[Any], guard: Guard, links: Links) -> Parts:
    """One feature's parts; a feature that fails to build fails loudly, never silently dropped.

    A guard whose configuration enables a feature that cannot be built (a malformed table, a
    value of the wrong type) raises `llmguard.ConfigurationError` on first use, naming the feature;
    running without the feature the user asked for would fail open. Any other failure is internal:
    it is logged and the feature left out, so an observer fails open, while a policy feature (hard
    budgets) builds a policy that refuses calls with `llmguard.PolicyUnavailableError` itself.
    """
    try:
        return feature.build(feature.options(guard), links)
    except LLMGuardError:
        raise
    except CONFIG_ERRORS as exc:
        raise ConfigurationError(
            f"llmguard could not build its {feature.name} feature from this configuration: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    except Exception:
        log_internal_error(f"building the {feature.name} feature")  # fail open; a policy fails closed itself
        return Parts()


def build_runtime(guard: Guard) -> Compiled:
    """Compile ``guard`` into the per-call pipeline."""
    links = Links(owner=guard)
    parts = [_build(getattr(importlib.import_module(m), a), guard, links) for m, a in FEATURES]
    observers: list[CallObserver] = [p.observer for p in parts if p.observer is not None]
    observers.extend(guard.observers)
    policies: list[PreCallPolicy] = [p.policy for p in parts if p.policy is not None]
    policies.extend(guard.policies)
    pricer = next((p.pricer for p in parts if p.pricer is not None), None)
    runtime = Runtime(guard.settings, observers=observers, policies=policies, pricer=pricer)
    return Compiled(runtime=runtime, links=links)
