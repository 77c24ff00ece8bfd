"""The feature contract: `Feature`, the `Parts` it builds and the typed `Links` between features.

A feature is a `Feature`: ``options(guard)`` resolves its typed options once (argument >
environment > config file > default; the option types are in `llmguard._options`), then
``build(options, links)`` returns its `Parts`: an observer, a pre-call policy and/or a pricer (each
optional). What a feature builds that holds background work implements
`llmguard._lifecycle.Lifecycle`. Features reach each other only through `Links`: typed handles
filled in as they are built (judging publishes its submit handle; feedback, built after it,
receives it).

A leaf module: the types it names are imported for type checkers only, so every feature (and
``import llmguard.judging``) can import it without importing the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from ._core import CallObserver, PreCallPolicy, Pricer
    from ._feedback._judging import FeedbackRoute
    from ._guard import Guard
    from ._record import CallRecord

__all__ = ["CONFIG_ERRORS", "Feature", "JudgingHandle", "Links", "Parts"]

OptionsT = TypeVar("OptionsT")

CONFIG_ERRORS = (ValueError, TypeError, KeyError, AttributeError, LookupError)
"""Errors that mean the configuration cannot build a feature: raised as `llmguard.ConfigurationError`."""


class JudgingHandle(Protocol):
    """Judging, as the features built after it see it."""

    def submit(self, record: CallRecord) -> bool:
        """Queue ``record`` for judging outside sampling; False when it was dropped."""
        ...


@dataclass(slots=True)
class Links:
    """Typed handles between features, filled in build order.

    Attributes:
        owner: The guard being compiled: an identity for per-guard state (the cost state) and the
            ``guard=`` given to judge factories. Features read their options, not the guard.
        judging: The judging queue's handle (None when judging is off).
        feedback: Where negative feedback finds retained content and judging (None until built).
    """

    owner: Guard
    judging: JudgingHandle | None = None
    feedback: FeedbackRoute | None = None


@dataclass(frozen=True, slots=True)
class Parts:
    """What one feature contributes to the per-call pipeline (each part optional)."""

    observer: CallObserver | None = None
    policy: PreCallPolicy | None = None
    pricer: Pricer | None = None


class Feature(Protocol[OptionsT]):
    """One llmguard feature: typed options resolved once, then built."""

    name: str
    """Named in errors: ``llmguard could not build its <name> feature``."""

    def options(self, guard: Guard) -> OptionsT:
        """Resolve this feature's options from ``guard`` (argument > environment > file > default)."""
        ...

    def build(self, options: OptionsT, links: Links) -> Parts:
        """Build the observer, policy or pricer from ``options``; may publish a handle on ``links``."""
        ...
