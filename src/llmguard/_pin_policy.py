"""The pin policy of one guard, as an object the core calls: decide, lock, drift.

* **decide** judges a requested model once per (model, provider): the naming rules and the lock
  (`llmguard._pins.decide`), then the lifecycle table (`llmguard._model_lifecycle`). The outcome is
  cached, so a later call costs one dictionary lookup and, for advisories, one set lookup.
* **lock** is part of the decision: ``action == "rewrite"`` names the locked snapshot to send.
* **drift** compares the model the provider served with the pinned one, after the call.

Under ``enforce`` a floating alias raises `llmguard.UnpinnedModelError` and a snapshot past its
shutdown date raises `llmguard.RetiredModelError`, before any I/O. A deprecated snapshot is
never refused: it is advised once per model, with its shutdown date and replacement. A process
decides each model once, so a shutdown date passing while it runs takes effect at its restart
(the provider refuses the call in the meantime).

No policy object exists when the pin policy is ``off``: the core then does no pin work at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from ._internal import advise_once
from ._model_lifecycle import LifecycleTable, ModelLifecycle, bundled_table, current_table, today_utc
from ._pins import PinDecision, PinMode, decide, refusal_message
from .exceptions import LLMGuardError, ModelDataError, RetiredModelError, UnpinnedModelError

if TYPE_CHECKING:
    from ._settings import Settings

__all__ = ["DECLARED", "PinPolicy", "runtime_table"]

_MAX_DECISIONS = 4096
_WARN_NOTE = "(pin policy 'warn'; 'enforce' would refuse this call)"
DECLARED = ("azure", "openai_compatible")
"""Pin providers whose lock entries declare what a deployment or served name serves."""

Advice = tuple[str, str, str]
"""(advisory category, key, message) for `advise_once`."""


def runtime_table() -> LifecycleTable:
    """The lifecycle table for calls: the refreshed cache file, else (reported once) the bundled one."""
    try:
        return current_table()
    except ModelDataError as exc:
        advise_once("model-data", str(exc)[:200], f"llmguard: {exc}; using the bundled model table")
        return bundled_table()


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What every call with one (model, provider) gets: a decision, a refusal or advisories."""

    decision: PinDecision
    refusal: Callable[[], LLMGuardError] | None = None
    advice: tuple[Advice, ...] = ()


def _retired_message(named: str, entry: ModelLifecycle) -> str:
    when = f" on {entry.shutdown}" if entry.shutdown else ""
    return (
        f"{named} was retired by {entry.provider}{when} and calls to it fail{entry.replace_hint()}; "
        f"evaluate the replacement first (a model change is a deployment event), then update the pin; "
        f"`llmguard pins check` lists every use"
    )


def _soft_retired_message(named: str, entry: ModelLifecycle) -> str:
    return (
        f"llmguard: {named} passed {entry.provider}'s earliest shutdown date {entry.shutdown} "
        f"(a 'not sooner than' date) and may be retired{entry.replace_hint()}"
    )


def _deprecated_message(named: str, entry: ModelLifecycle) -> str:
    when = f"shuts down on {entry.shutdown}" if entry.shutdown else "has no shutdown date announced yet"
    return (
        f"llmguard: {named} is deprecated by {entry.provider} and {when}{entry.replace_hint()}; "
        f"plan the move (`llmguard pins check --within 90`)"
    )


class PinPolicy:
    """Decides, once per model, what a guard's pin policy does with a requested model."""

    __slots__ = ("_decisions", "_lifecycle", "_today", "allowed", "lock", "mode", "python_warnings")

    def __init__(
        self,
        mode: PinMode,
        lock: Mapping[str, str],
        *,
        python_warnings: bool = False,
        lifecycle: Callable[[], LifecycleTable] | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        """Build a policy.

        Args:
            mode: ``"enforce"`` or ``"warn"`` (``"off"`` builds no policy: see `from_settings`).
            lock: Alias -> snapshot rewrites; for Azure and OpenAI-compatible servers, the
                deployment or served name -> the snapshot it serves (a declaration).
            python_warnings: Also emit advisories as Python warnings.
            lifecycle: Returns the lifecycle table, asked once per newly seen model (default
                `runtime_table`).
            today: The day lifecycle states are judged on, asked once per newly seen model
                (default `llmguard._model_lifecycle.today_utc`).
        """
        self.mode = mode
        self.lock = dict(lock)
        self.python_warnings = python_warnings
        self._lifecycle = lifecycle
        self._today = today
        self._decisions: dict[tuple[str, str], _Outcome] = {}
        self.allowed: dict[tuple[str, str], PinDecision] = {}
        """(model, provider) -> the decision, for outcomes with no refusal and no advisory (read inline
        by the core, which calls `decide` for the rest): the same result as `decide`, without its call."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PinPolicy | None:
        """The policy a guard's settings ask for, or None when the pin policy is ``off``."""
        if settings.pin_policy == "off":
            return None
        return cls(settings.pin_policy, settings.pins, python_warnings=settings.python_warnings)

    # -- decide -----------------------------------------------------------------------------------
    def decide(self, model: str, pin_provider: str) -> PinDecision:
        """Decide for one call: raise the cached refusal, emit the cached advisories, or allow.

        Raises:
            UnpinnedModelError: A floating alias (or an invalid name) under ``enforce``.
            RetiredModelError: A snapshot past its shutdown date under ``enforce``.
        """
        outcome = self._decisions.get((model, pin_provider)) or self._resolve(model, pin_provider)
        if outcome.refusal is not None:
            raise outcome.refusal()
        for category, key, message in outcome.advice:
            advise_once(category, key, message, python_warning=self.python_warnings)
        return outcome.decision

    def refuse_routed(self, model: str) -> None:
        """Judge an Azure deployment routed by the URL but hidden from the body by ``extra_body``."""
        decision = self._pin_decision(model, "azure")
        if decision.action == "refuse":
            raise UnpinnedModelError(
                f"{refusal_message(decision)} (the deployment in the request URL; extra_body sets another model)",
                model=model,
                suggestion=decision.verdict.suggestion,
            )

    def _pin_decision(self, model: str, pin_provider: str) -> PinDecision:
        declared_kind = pin_provider in DECLARED
        lock: Mapping[str, str] = {} if declared_kind else self.lock
        declared: Mapping[str, str] = self.lock if declared_kind else {}
        return decide(model, pin_provider, self.mode, lock, declared)  # type: ignore[arg-type]

    def _resolve(self, model: str, pin_provider: str) -> _Outcome:
        decision = self._pin_decision(model, pin_provider)
        outcome = self._outcome(decision, pin_provider)
        if len(self._decisions) < _MAX_DECISIONS:
            self._decisions[model, pin_provider] = outcome
            if outcome.refusal is None and not outcome.advice:
                self.allowed[model, pin_provider] = outcome.decision
        return outcome

    def _outcome(self, decision: PinDecision, pin_provider: str) -> _Outcome:
        model = decision.requested
        table = (self._lifecycle or runtime_table)()
        if decision.action == "refuse":
            message = refusal_message(decision) + self._suggestion_note(decision, pin_provider, table)
            suggestion = decision.verdict.suggestion
            error = functools.partial(UnpinnedModelError, message, model=model, suggestion=suggestion)
            return _Outcome(decision, error)
        advice: list[Advice] = []
        if decision.action == "warn":
            note = self._suggestion_note(decision, pin_provider, table)
            warn = f"llmguard: {refusal_message(decision)}{note} {_WARN_NOTE}"
            advice.append(("unpinned", model, warn))
        entry = table.lookup(decision.effective, pin_provider)
        if entry is None:
            return _Outcome(decision, None, tuple(advice))
        return self._lifecycle_outcome(decision, entry, advice)

    def _suggestion_note(self, decision: PinDecision, pin_provider: str, table: LifecycleTable) -> str:
        """The pin data's suggested snapshot may itself be deprecated or retired: say so, with the successor."""
        suggestion = decision.verdict.suggestion
        entry = table.lookup(suggestion, pin_provider) if suggestion else None
        if entry is None:
            return ""
        day = (self._today or today_utc)()
        state = entry.status_on(day)
        if state == "active":
            return ""
        if state == "retired":
            verb = "was retired" if entry.certainly_retired(day) else "may be retired"
        else:
            verb = "is deprecated"
        when = f" (shutdown {entry.shutdown})" if entry.shutdown else ""
        successor = f"; {entry.provider} recommends {entry.replacement!r}" if entry.replacement else ""
        return f" (note: {suggestion!r} {verb}{when}{successor})"

    def _lifecycle_outcome(
        self, decision: PinDecision, entry: ModelLifecycle, advice: list[Advice]
    ) -> _Outcome:
        day = (self._today or today_utc)()
        state = entry.status_on(day)
        sent = decision.effective
        named = f"model {sent!r}" + (f" (locked from {decision.requested!r})" if decision.locked else "")
        if state == "retired" and entry.certainly_retired(day):
            message = _retired_message(named, entry)
            if self.mode == "enforce":
                shutdown = entry.shutdown.isoformat() if entry.shutdown else None
                error = functools.partial(
                    RetiredModelError, message, model=sent, suggestion=entry.replacement, shutdown_on=shutdown
                )
                return _Outcome(decision, error)
            advice.append(("retired", sent, f"llmguard: {message} {_WARN_NOTE}"))
        elif state == "retired":
            advice.append(("retired", sent, _soft_retired_message(named, entry)))
        elif state == "deprecated":
            advice.append(("deprecated", sent, _deprecated_message(named, entry)))
        return _Outcome(decision, None, tuple(advice))

    # -- drift ------------------------------------------------------------------------------------
    def drift(self, pin: PinDecision, pin_provider: str, served: str) -> bool:
        """Whether the served model differs from the pinned one (advised once per pair)."""
        if pin.action not in ("allow", "rewrite"):
            return False
        declared = self.lock.get(pin.requested) if pin_provider in DECLARED else None
        target = (pin.locked or declared or pin.effective).lower()
        seen = served.lower()
        # Equal, a family name (Azure reports "gpt-4" for gpt-4-0613), or the dated form of an undated name.
        if seen == target or target.startswith(seen + "-") or seen.startswith(target + "-"):
            return False
        advise_once(
            "drift",
            f"{target}->{served}",
            f"llmguard: model drift: pinned {target!r} but the provider served {served!r}",
            python_warning=self.python_warnings,
        )
        return True
