"""Composition of a guard's runtime from its features.

Each feature contributes through a small factory ``build(guard)`` returning an observer, a
pre-call policy or a pricer (or ``None`` when the guard does not enable it). Order matters:
telemetry starts first (it sets the trace id that sampling keys on) and ends last.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._core import CallObserver, PreCallPolicy, Pricer, Runtime
from ._internal import log_internal_error
from .exceptions import ConfigurationError, LLMGuardError

if TYPE_CHECKING:
    from ._guard import Guard

__all__ = ["FEATURES", "build_runtime"]

FEATURES: tuple[tuple[str, str], ...] = (
    ("llmguard.telemetry._observer", "build"),
    ("llmguard._feedback._observer", "build"),
    ("llmguard.judging._observer", "build"),
    ("llmguard.drift._observer", "build"),
    ("llmguard.cost._observer", "build"),
)
"""(module, factory) of every feature observer, in ``on_start`` order (imported on first use)."""

POLICIES: tuple[tuple[str, str], ...] = (("llmguard.cost._budget", "build_policy"),)
"""(module, factory) of feature pre-call policies, run after the pin policy."""

PRICER: tuple[str, str] = ("llmguard._pricing", "build_pricer")


def _build(guard: Guard, module: str, name: str) -> Any:
    """One feature's contribution; a feature that fails to build fails loudly, never silently dropped.

    A guard whose configuration enables a feature that cannot be built (a malformed table, a
    value of the wrong type) raises `llmguard.ConfigurationError` on first use, naming the feature;
    running without the feature the user asked for would fail open. Any other failure is internal:
    it is logged and the feature left out, so an observer fails open, while a policy feature (hard
    budgets) builds a policy that refuses calls with `llmguard.PolicyUnavailableError` itself.
    """
    try:
        return getattr(importlib.import_module(module), name)(guard)
    except LLMGuardError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, LookupError) as exc:
        feature = module.removeprefix("llmguard.").split("._")[0].strip("_")
        raise ConfigurationError(
            f"llmguard could not build its {feature} feature from this configuration: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    except Exception:
        log_internal_error(f"building {module}")  # an observer fails open; a policy fails closed itself
        return None


def build_runtime(guard: Guard) -> Runtime:
    """Compile ``guard`` into the per-call pipeline."""
    observers: list[CallObserver] = [o for o in (_build(guard, *f) for f in FEATURES) if o is not None]
    observers.extend(guard.observers)
    policies: list[PreCallPolicy] = [p for p in (_build(guard, *f) for f in POLICIES) if p is not None]
    policies.extend(guard.policies)
    pricer: Pricer | None = _build(guard, *PRICER)
    return Runtime(guard.settings, observers=observers, policies=policies, pricer=pricer)
