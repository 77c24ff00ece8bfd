"""`Rollouts`: start, check, advance, pause, resume and abort guarded rollouts over a prompt registry.

Every transition is two compare-and-set writes around the label move, so any process can run
the supervisor and a crash between steps is finished by the next caller:

1. claim: write the state with ``pending`` (the transition) at revision ``r + 1``; one writer wins;
2. move the label (compare-and-set on the step's target) with the decision as evidence;
3. commit: write the new step and status at ``r + 2`` with an audit event.

The label moves before the state commits, so a process that reads a step as retired in the
state never reads that step's split from the label afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from llmguard.cost._alerts import AlertDispatcher
from llmguard.cost._rules import Alert
from llmguard.exceptions import LabelConflictError, RolloutConflictError, RolloutError
from llmguard.prompts._labels import ANY, LabelMove, check_label, current_user, format_target, now
from llmguard.prompts._model import check_name

from ._metrics import MetricSource
from ._model import derive_model_version
from ._plan import RolloutPlan
from ._state import RolloutEvent, RolloutState, RolloutStore, Status, step_target
from ._stats import Decision, evaluate

if TYPE_CHECKING:
    from llmguard._guard import Guard
    from llmguard.prompts import ArtifactKind, PromptRegistry

__all__ = ["SUPERVISOR", "CheckResult", "Rollouts"]

SUPERVISOR = "llmguard-watch"
"""The ``who`` of transitions made by the supervisor (``watch`` and the in-app check)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one supervisor check did.

    Attributes:
        state: The rollout after the check.
        action: ``rollback``, ``advance``, ``complete``, ``hold`` (keep collecting) or ``idle`` (not running).
        decision: The statistical decision (None when not running).
    """

    state: RolloutState | None
    action: str
    decision: Decision | None = None


class Rollouts:
    """Guarded rollouts of a registry's labels.

    Args:
        registry: The prompt (or config) registry whose labels move.
        store: Where rollout state lives (default: files beside a file store's prompts).
        metrics: Where checks read samples (`SQLMetrics` over the shared database).
        alerts: An `llmguard.cost.AlertDispatcher`, or callbacks that receive the rollback `Alert`.
        clock: UNIX time (tests pass a fake clock).
    """

    def __init__(
        self,
        registry: PromptRegistry,
        store: RolloutStore | None = None,
        metrics: MetricSource | None = None,
        *,
        alerts: AlertDispatcher | Sequence[Callable[[Alert], None]] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.store = store if store is not None else _default_store(registry)
        self.metrics = metrics
        self.alerts = alerts if isinstance(alerts, AlertDispatcher) else AlertDispatcher(callbacks=alerts)
        self.clock = clock
        self.claim_timeout = 30.0
        """Seconds after which a claimed, uncommitted transition counts as crashed and any process finishes it."""

    @classmethod
    def for_guard(
        cls, guard: Guard, *, kind: ArtifactKind = "prompt", store: RolloutStore | None = None
    ) -> Rollouts:
        """Rollouts of a guard's prompts (or configs), on its database and its alert path.

        Checks read the guard's database (``guard.db``: SQLite or PostgreSQL); rollbacks are delivered by the
        guard's cost alert dispatcher (the ``budgets=`` alert callbacks, the ``llmguard`` logger,
        OpenTelemetry log events, dedupe in the ledger's database) when a ledger or budgets are on,
        else by a dispatcher with the guard's logger provider.
        """
        from llmguard.cost._state import state_for

        from ._metrics import SQLMetrics

        registry = guard.prompts if kind == "prompt" else guard.configs
        cost = state_for(guard)
        alerts = (
            cost.dispatcher if cost is not None else AlertDispatcher(logger_provider=guard.logger_provider)
        )
        return cls(registry, store, SQLMetrics(guard.db), alerts=alerts)

    # -- reading ------------------------------------------------------------------------------
    def status(self, name: str, label: str = "production") -> RolloutState | None:
        """The label's latest rollout (finished ones too), or None."""
        return self._read(name, label)

    def _read(self, name: str, label: str) -> RolloutState | None:
        """The stored state, after checking ``name`` and ``label`` (both come from users)."""
        return self.store.read(check_name(name), check_label(label, name))

    def events(self, name: str, label: str | None = None) -> list[RolloutEvent]:
        """The rollout audit log of ``name``."""
        return self.store.events(name, label)

    # -- starting -----------------------------------------------------------------------------
    def start(
        self,
        name: str,
        plan: RolloutPlan,
        *,
        candidate: str | None = None,
        model: str | None = None,
        who: str | None = None,
        reason: str = "",
        evidence: Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> RolloutState:
        """Start rolling ``plan.label`` out to a candidate: move it to the first step's split.

        Args:
            name: The prompt (or config).
            plan: Steps and guards.
            candidate: The version to roll out (default ``plan.candidate``).
            model: Roll out a model change instead: the candidate is the stable version with
                this model (an existing identical version, or a new patch version added to the store).
            who: Who starts it (default: the OS user).
            reason: Why (recorded).
            evidence: Eval evidence for a protected label (as `PromptRegistry.promote`).
            force: Skip the protected-label check (needs ``reason``; recorded).

        Raises:
            RolloutError: The label does not point at one version, or a rollout is already active.
            RolloutPlanError: No candidate, or the candidate is the stable version.
            PromotionRefusedError: A protected label without eval evidence for the candidate.
        """
        label, actor = plan.label, who or current_user()
        existing = self._read(name, label)
        if existing is not None and existing.active:
            raise RolloutError(
                f"{name}: label {label!r} already has an active rollout ({existing.rollout_id})"
            )
        self.registry.invalidate(name)
        stable = self.registry.entry(name).labels.get(label)
        if not isinstance(stable, str):
            raise RolloutError(
                f"{name}: label {label!r} points at {format_target(stable) or 'nothing'}; a rollout starts from "
                "a label that points at one version (promote it first, or abort the running canary)"
            )
        chosen = self._candidate(name, stable, candidate or plan.candidate, model)
        rollout_id = uuid.uuid4().hex[:12]
        first = step_target(stable, chosen, plan.steps[0].weight)
        why = f"rollout {rollout_id} start" + (f": {reason}" if reason else "")
        self.registry.promote(
            name, first, label=label, expect=stable, reason=why, who=actor, evidence=evidence, force=force
        )
        state = RolloutState(
            name, label, rollout_id, stable, chosen, plan.with_candidate(chosen), step_started=self.clock(),
            model=model, started_by=actor, started_at=now(),
        )  # fmt: skip
        event = RolloutEvent(name, label, rollout_id, "start", 0, 0, "running", 0, actor, now(), reason)
        return self.store.write(state, None, event)

    def _candidate(self, name: str, stable: str, candidate: str | None, model: str | None) -> str:
        from llmguard.exceptions import RolloutPlanError

        if model is not None:
            if candidate is not None:
                raise RolloutPlanError(f"{name}: pass a candidate version or --model, not both")
            return derive_model_version(self.registry, name, stable, model).version
        if candidate is None:
            raise RolloutPlanError(
                f"{name}: no candidate version (plan field candidate, or --candidate/--model)"
            )
        if candidate == stable:
            raise RolloutPlanError(f"{name}: the candidate {candidate} is the stable version already")
        versions = self.registry.entry(name).versions
        if candidate not in versions:
            known = ", ".join(sorted(versions)) or "none"
            raise RolloutPlanError(f"{name}: no version {candidate!r} to roll out (versions: {known})")
        return candidate

    # -- operator actions ---------------------------------------------------------------------
    def advance(
        self, name: str, label: str = "production", *, who: str | None = None, reason: str = ""
    ) -> RolloutState:
        """Move to the next step now (an operator's decision; recorded)."""
        state = self._active(name, label)
        return self._step_up(state, who or current_user(), reason or "advanced by hand", None)

    def pause(
        self, name: str, label: str = "production", *, who: str | None = None, reason: str = ""
    ) -> RolloutState:
        """Stop the supervisor from moving the rollout (the label keeps its current split)."""
        state = self._active(name, label)
        return self._transition(state, "pause", state.step, "paused", who or current_user(), reason, None)

    def resume(
        self, name: str, label: str = "production", *, who: str | None = None, reason: str = ""
    ) -> RolloutState:
        """Let the supervisor move a paused rollout again."""
        state = self._active(name, label)
        return self._transition(state, "resume", state.step, "running", who or current_user(), reason, None)

    def abort(
        self, name: str, label: str = "production", *, who: str | None = None, reason: str = ""
    ) -> RolloutState:
        """Move the label back to stable and end the rollout (no alert)."""
        state = self._active(name, label)
        return self._transition(state, "abort", state.step, "aborted", who or current_user(), reason, None)

    def _active(self, name: str, label: str) -> RolloutState:
        state = self._read(name, label)
        if state is None or not state.active:
            raise RolloutError(f"{name}: label {label!r} has no active rollout (llmguard rollout start)")
        return self._recover(state)

    # -- the supervisor -----------------------------------------------------------------------
    def check(self, name: str, label: str = "production") -> CheckResult:
        """One supervisor check: test the current step's window, then roll back, advance or hold.

        Raises:
            RolloutError: No metric source was configured.
        """
        state = self._read(name, label)
        if state is None or not state.active:
            return CheckResult(state, "idle")
        state = self._recover(state)
        if state.status != "running":
            return CheckResult(state, "idle")
        if self.metrics is None:
            raise RolloutError("Rollouts(metrics=...) is needed to check a rollout (e.g. SQLMetrics(engine))")
        until = self.clock()
        samples = self.metrics.samples(name, state.stable, state.candidate, state.step_started, until)
        decision = evaluate(state.plan, samples)
        record = _record(decision, state, until)
        if decision.regression:
            why = f"guard regression: {', '.join(decision.failed)}"
            done = self._transition(state, "rollback", state.step, "rolled_back", SUPERVISOR, why, record)
            self._alert(done, decision, why)
            return CheckResult(done, "rollback", decision)
        step = state.plan.steps[state.step]
        if decision.ready and until - state.step_started >= step.duration_s:
            done = self._step_up(state, SUPERVISOR, "clean window: no guard regressed", record)
            return CheckResult(done, "complete" if done.status == "completed" else "advance", decision)
        return CheckResult(state, "hold", decision)

    def _step_up(
        self, state: RolloutState, who: str, why: str, record: Mapping[str, Any] | None
    ) -> RolloutState:
        to_step = state.step + 1
        if to_step >= len(state.plan.steps):
            raise RolloutError(f"{state.name}: the rollout is at its last step already")
        final = state.plan.steps[to_step].weight >= 100
        status: Status = "completed" if final else "running"
        action = "complete" if final else "advance"
        return self._transition(state, action, to_step, status, who, why, record)

    def _alert(self, state: RolloutState, decision: Decision, why: str) -> None:
        worst = next(r for r in decision.results if r.status == "regression")
        alert = Alert(
            rule=f"rollout:{state.name}:{state.label}",
            kind="rollout",
            series=worst.metric,
            window=state.rollout_id,
            value=float(worst.candidate_value or 0.0),
            threshold=float(worst.stable_value or 0.0),
            message=(
                f"rollout of {state.name} {state.candidate} on {state.label!r} rolled back to {state.stable} "
                f"at {state.plan.steps[state.step].weight}%: {why} (always-valid p={worst.p_value:.3g})"
            ),
            severity="critical",
            scope={"prompt": state.name, "label": state.label, "candidate": state.candidate},
        )
        self.alerts.deliver([alert])

    # -- transitions --------------------------------------------------------------------------
    def _transition(
        self,
        state: RolloutState,
        action: str,
        to_step: int,
        status: Status,
        who: str,
        why: str,
        record: Mapping[str, Any] | None,
    ) -> RolloutState:
        pending = {"action": action, "to_step": to_step, "status": status, "who": who, "why": why,
                   "decision": dict(record or {}), "claimed_at": self.clock()}  # fmt: skip
        claimed = self.store.write(replace(state, pending=pending), state.revision)
        return self._finish(claimed)

    def _recover(self, state: RolloutState) -> RolloutState:
        """Finish a transition another process claimed and did not commit within `claim_timeout` (it crashed).

        Raises:
            RolloutConflictError: A transition is in progress in another process (retry).
        """
        if state.pending is None:
            return state
        age = self.clock() - float(state.pending.get("claimed_at", 0.0))
        if age < self.claim_timeout:
            raise RolloutConflictError(
                f"{state.name}: label {state.label!r}: {state.pending.get('who')} is moving the rollout "
                f"({state.pending.get('action')}, {age:.0f}s ago); retry in a moment"
            )
        return self._finish(state)

    def _finish(self, state: RolloutState) -> RolloutState:
        pending = dict(state.pending or {})
        to_step, status = int(pending["to_step"]), pending["status"]
        after = replace(state, step=to_step, status=status, pending=None)
        before, target = format_target(state.target()), after.target()
        current = format_target(self.registry.store.load(state.name).labels.get(state.label))
        if current != format_target(target):
            self._move_label(state, target, before, pending)
        if to_step != state.step:
            after = replace(after, step_started=self.clock())
        if pending.get("decision"):
            after = replace(after, last_check=pending["decision"])
        event = RolloutEvent(
            state.name, state.label, state.rollout_id, pending["action"], state.step, to_step, status,
            0, pending["who"], now(), pending["why"], pending.get("decision") or {},
        )  # fmt: skip
        return self.store.write(after, state.revision, event)

    def _move_label(
        self, state: RolloutState, target: Any, before: str | None, pending: Mapping[str, Any]
    ) -> None:
        back = pending["status"] in ("rolled_back", "aborted")
        move = LabelMove(
            state.name, state.label, before, format_target(target) or "", pending["who"], now(),
            f"rollout {state.rollout_id} {pending['action']}: {pending['why']}", "rollback" if back else "promote",
            {"rollout": {"id": state.rollout_id, "step": pending["to_step"], **dict(pending.get("decision") or {})}},
        )  # fmt: skip
        expect = ANY if pending["action"] == "abort" else before
        try:
            self.registry.store.move_label(move, target, expect)
        except LabelConflictError as exc:
            paused = replace(state, status="paused", pending=None)
            conflict = RolloutEvent(
                state.name, state.label, state.rollout_id, "conflict", state.step, state.step, "paused", 0,
                pending["who"], now(), str(exc),
            )  # fmt: skip
            self.store.write(paused, state.revision, conflict)
            raise RolloutConflictError(
                f"{state.name}: label {state.label!r} was moved outside the rollout ({exc}); the rollout is paused: "
                "abort it (llmguard rollout abort) or move the label back and resume"
            ) from None
        finally:
            self.registry.invalidate(state.name)


def _record(decision: Decision, state: RolloutState, until: float) -> dict[str, Any]:
    """The decision, its numbers and its data window, as recorded in the history."""
    return {
        **decision.to_json(),
        "window": {"since": state.step_started, "until": until, "step": state.step,
                   "weight": state.plan.steps[state.step].weight},
        "false_alarm_rate": state.plan.false_alarm_rate,
        "test": "mSPRT (normal mixture), Bonferroni over steps and metrics",
    }  # fmt: skip


def _default_store(registry: PromptRegistry) -> RolloutStore:
    from llmguard.prompts._file_store import FileStore

    from ._state import FileRolloutStore

    if isinstance(registry.store, FileStore):
        return FileRolloutStore(registry.store.root)
    raise RolloutError(
        f"Rollouts(store=...): {registry.store!r} is not a file store; pass a rollout store such as "
        "SQLRolloutStore(engine)"
    )
