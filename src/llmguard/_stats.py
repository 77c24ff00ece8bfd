"""``guard.stats()``: one typed snapshot of a guard's background counters.

Reading the counters has no side effect: nothing is built, started or opened. A feature that is
off, or has not run yet (its pipeline is built on the first call), reads as ``None``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._guard import Guard
    from .cost import WriterStats
    from .drift import DriftStats
    from .judging import JudgingStats

__all__ = ["FeedbackStats", "GuardStats", "guard_stats"]


@dataclass(frozen=True, slots=True)
class FeedbackStats:
    """Feedback recorded through one guard.

    Attributes:
        recorded: Entries its feedback sink accepted.
        failed: Entries its sink raised on (logged on the ``llmguard`` logger, never raised to you).
    """

    recorded: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class GuardStats:
    """A snapshot of a guard's background work, from `llmguard.Guard.stats`.

    Attributes:
        judging: Judging counters (sampled, judged, errored, dropped, pending: judged + errored
            + dropped + pending == sampled), or None when judging is off or no call was made yet.
        ledger: Cost-ledger writer counters (written, dropped, failed, pending), or None when
            the ledger and budgets are off or no call was made yet.
        feedback: Feedback recorded through this guard.
        drift: Input-drift counters (sampled, embedded, skipped, failed, dropped, pending), or None
            when drift is off or no call was made yet.
    """

    judging: JudgingStats | None
    ledger: WriterStats | None
    feedback: FeedbackStats
    drift: DriftStats | None = None


def _observer_of(guard: Guard, module: str, cls: str) -> Any:
    """The built observer of class ``module.cls``, without importing or building anything."""
    loaded = sys.modules.get(module)
    runtime = guard.__dict__.get("runtime")
    if loaded is None or runtime is None:
        return None
    kind = getattr(loaded, cls)
    return next((o for o in runtime.observers if isinstance(o, kind)), None)


def guard_stats(guard: Guard) -> GuardStats:
    """The counters of ``guard``'s judging, cost ledger, feedback and input drift (see `GuardStats`)."""
    judging = _observer_of(guard, "llmguard.judging._observer", "JudgingObserver")
    ledger = _observer_of(guard, "llmguard.cost._observer", "LedgerObserver")
    feedback = sys.modules.get("llmguard._feedback._api")
    drift = _observer_of(guard, "llmguard.drift._observer", "DriftObserver")
    return GuardStats(
        judging=None if judging is None else judging.stats(),
        ledger=None if ledger is None else ledger.stats,
        feedback=FeedbackStats() if feedback is None else feedback.feedback_stats(guard),
        drift=None if drift is None else drift.stats(),
    )
