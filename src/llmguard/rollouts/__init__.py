"""Guarded canary rollouts: ramp a label from its stable version to a candidate, and roll back on regression.

A `RolloutPlan` (a file beside the prompt, or CLI options) lists the steps (1% → 5% → 25% → 100%)
and the guard metrics with their allowed regressions. `Rollouts` moves the label step by step
under compare-and-set, records every transition with its statistical decision in the label
history and the rollout audit log, and rolls back to stable (with an alert) when a sequential
test finds a regression. `RolloutWatcher` runs the check periodically inside an app (opt-in).
See the guide page ``docs/rollouts.md``.
"""

from __future__ import annotations

from ._controller import SUPERVISOR, CheckResult, Rollouts
from ._metrics import MetricSource, SQLMetrics
from ._plan import DEFAULT_GUARDS, GUARD_METRICS, GuardSpec, RolloutPlan, Step, load_plan, plan_from_mapping
from ._sql import SQLRolloutStore
from ._state import FileRolloutStore, RolloutEvent, RolloutState, RolloutStore
from ._stats import Decision, MetricResult, evaluate
from ._watch import RolloutWatcher

__all__ = [
    "DEFAULT_GUARDS",
    "GUARD_METRICS",
    "SUPERVISOR",
    "CheckResult",
    "Decision",
    "FileRolloutStore",
    "GuardSpec",
    "MetricResult",
    "MetricSource",
    "RolloutEvent",
    "RolloutPlan",
    "RolloutState",
    "RolloutStore",
    "RolloutWatcher",
    "Rollouts",
    "SQLMetrics",
    "SQLRolloutStore",
    "Step",
    "evaluate",
    "load_plan",
    "plan_from_mapping",
]
