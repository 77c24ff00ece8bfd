"""Rollout state and its audit log, behind a small Protocol, and the file implementation.

The state of a label's rollout (step, status, revision) is shared by every replica through the
store. Writes are compare-and-set on ``revision``: a writer that read revision ``r`` succeeds only
if the stored state is still at ``r``. The file store keeps ``rollouts.json`` (one state per
label) and an append-only ``rollouts.jsonl`` audit log beside the prompt's ``labels.yaml`` and
``history.jsonl``; writes take an exclusive lock file and replace ``rollouts.json`` atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from llmguard.exceptions import LLMGuardError, RolloutConflictError, RolloutError

from ._plan import RolloutPlan, plan_from_mapping

__all__ = [
    "ACTIVE",
    "FileRolloutStore",
    "RolloutEvent",
    "RolloutState",
    "RolloutStore",
    "check_write",
    "step_target",
]

Status = Literal["running", "paused", "completed", "rolled_back", "aborted"]
ACTIVE: frozenset[str] = frozenset({"running", "paused"})
"""Statuses of a rollout that still owns its label."""

_STATE_FILE = "rollouts.json"
_EVENTS_FILE = "rollouts.jsonl"
_LOCK_FILE = ".rollouts.lock"
_MAX_BYTES = 64_000_000


def step_target(stable: str, candidate: str, weight: int) -> str | dict[str, int]:
    """The label target of a step: a split, or the candidate alone at 100% (stable at 0%)."""
    if weight >= 100:
        return candidate
    if weight <= 0:
        return stable
    return {stable: 100 - weight, candidate: weight}


@dataclass(frozen=True, slots=True)
class RolloutState:
    """One label's rollout, as every replica sees it.

    Attributes:
        name: The prompt (or config).
        label: The label rolled out.
        rollout_id: Unique id of this rollout.
        stable: The version the label pointed at before.
        candidate: The version rolled out.
        plan: Steps, guards and the false-alarm rate.
        step: Index of the current step in ``plan.steps``.
        status: ``running``, ``paused``, ``completed``, ``rolled_back`` or ``aborted``.
        step_started: UNIX time the current step started (its data window starts here).
        revision: Compare-and-set counter, bumped by every write.
        pending: A transition claimed but not finished (label move then commit); any process completes it.
        last_check: The latest check's decision (for ``status``).
        model: For a model rollout, the candidate's model.
        started_by: Who started it.
        started_at: When (ISO-8601 UTC).
    """

    name: str
    label: str
    rollout_id: str
    stable: str
    candidate: str
    plan: RolloutPlan
    step: int = 0
    status: Status = "running"
    step_started: float = 0.0
    revision: int = 0
    pending: Mapping[str, Any] | None = None
    last_check: Mapping[str, Any] | None = None
    model: str | None = None
    started_by: str = ""
    started_at: str = ""

    @property
    def active(self) -> bool:
        """True while the rollout owns its label (running or paused)."""
        return self.status in ACTIVE

    @property
    def weight(self) -> int:
        """The candidate's percent of traffic now (0 once rolled back or aborted)."""
        if self.status in ("rolled_back", "aborted"):
            return 0
        return self.plan.steps[self.step].weight

    def target(self) -> str | dict[str, int]:
        """The label target this state serves."""
        return step_target(self.stable, self.candidate, self.weight)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict that `from_json` reads back."""
        data = asdict(self)
        data["plan"] = self.plan.to_json()
        data["pending"] = dict(self.pending) if self.pending is not None else None
        data["last_check"] = dict(self.last_check) if self.last_check is not None else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> RolloutState:
        """Read a stored state back.

        Raises:
            RolloutError: A malformed record (naming ``where``).
        """
        try:
            plan = plan_from_mapping(data["plan"], f"{where}: plan")
            values = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "plan"}
            state = cls(plan=plan, **values)
            _check_state(state)
            return state
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LLMGuardError):
                raise
            raise RolloutError(f"{where}: malformed rollout state: {exc}") from None


_STATUSES = (*ACTIVE, "completed", "rolled_back", "aborted")
_TEXT_FIELDS = ("name", "label", "rollout_id", "stable", "candidate", "started_by", "started_at")


def _check_state(state: RolloutState) -> None:
    """Types and ranges of a state read from a store (files can be edited by hand)."""
    steps = len(state.plan.steps)
    if not all(isinstance(getattr(state, f), str) for f in _TEXT_FIELDS) or state.status not in _STATUSES:
        raise ValueError("a text field or the status is invalid")
    if not isinstance(state.step, int) or not 0 <= state.step < steps or not isinstance(state.revision, int):
        raise ValueError(f"step {state.step!r} / revision {state.revision!r} out of range")
    if not isinstance(state.step_started, int | float) or isinstance(state.step_started, bool):
        raise ValueError(f"step_started {state.step_started!r} is not a time")
    if not isinstance(state.model, str | None) or not isinstance(state.last_check, Mapping | None):
        raise ValueError("model or last_check has the wrong type")
    pending = state.pending
    if pending is not None and (
        not isinstance(pending, Mapping)
        or not isinstance(pending.get("to_step"), int)
        or not 0 <= pending["to_step"] < steps
        or pending.get("status") not in _STATUSES
        or not all(isinstance(pending.get(k), str) for k in ("action", "who", "why"))
        or not isinstance(pending.get("decision", {}), Mapping)
    ):
        raise ValueError(f"pending transition {pending!r} is malformed")


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    """One audit entry: a transition of a rollout.

    Attributes:
        name: The prompt.
        label: The label.
        rollout_id: The rollout.
        action: ``start``, ``advance``, ``pause``, ``resume``, ``rollback``, ``abort``, ``complete`` or ``conflict``.
        from_step: Step before.
        to_step: Step after.
        status: Status after.
        revision: State revision after.
        who: Who (a user, or ``llmguard-watch`` for the supervisor).
        when: ISO-8601 UTC.
        why: The reason.
        decision: The statistical decision and its data window, when one justified the move.
    """

    name: str
    label: str
    rollout_id: str
    action: str
    from_step: int
    to_step: int
    status: str
    revision: int
    who: str
    when: str
    why: str = ""
    decision: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["decision"] = dict(self.decision)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RolloutEvent:
        """Read one audit entry back."""
        values = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**values)


@runtime_checkable
class RolloutStore(Protocol):
    """Where rollout state and its audit log live (files beside the prompts, a SQL table...)."""

    def read(self, name: str, label: str) -> RolloutState | None:
        """The label's latest rollout (finished ones too), or None."""
        ...

    def write(
        self, state: RolloutState, expect_revision: int | None, event: RolloutEvent | None = None
    ) -> RolloutState:
        """Store ``state`` (at ``expect_revision + 1``) if the stored one is still at ``expect_revision``.

        ``expect_revision=None`` starts a rollout: there must be no active one. The event, if any,
        is appended to the audit log in the same atomic step.

        Raises:
            RolloutConflictError: Another process wrote first.
        """
        ...

    def events(self, name: str, label: str | None = None) -> list[RolloutEvent]:
        """The audit log of ``name`` (of one label when given), oldest first."""
        ...


def check_write(
    current: RolloutState | None, state: RolloutState, expect_revision: int | None
) -> RolloutState:
    """The shared compare-and-set test; returns ``state`` at its new revision.

    Raises:
        RolloutConflictError: The stored state is not the one the writer read.
    """
    where = f"{state.name}: label {state.label!r}"
    if expect_revision is None:
        if current is not None and current.active:
            raise RolloutConflictError(
                f"{where} already has an active rollout ({current.rollout_id}, {current.status}); "
                "abort it first (llmguard rollout abort)"
            )
        return replace(state, revision=(current.revision if current else 0) + 1)
    have = current.revision if current is not None else None
    if have != expect_revision or current is None or current.rollout_id != state.rollout_id:
        raise RolloutConflictError(
            f"{where}: the rollout moved (revision {have}, expected {expect_revision}); "
            "another process changed it first: re-read the status and retry"
        )
    return replace(state, revision=expect_revision + 1)


class FileRolloutStore:
    """Rollout state in ``<root>/<name>/rollouts.json``, audit log in ``rollouts.jsonl``.

    Args:
        root: The prompt store's root (the folder holding one sub-folder per prompt).
    """

    def __init__(self, root: str | Path) -> None:
        from llmguard.prompts._file_store import FileStore

        self.root = Path(root)
        self._paths = FileStore(self.root)

    def __repr__(self) -> str:
        return f"FileRolloutStore({str(self.root)!r})"

    def _folder(self, name: str) -> Path:
        folder = self._paths.folder(name)
        if not folder.is_dir():
            raise RolloutError(f"no prompt folder {folder} for rollout state of {name!r}")
        return folder

    def _states(self, folder: Path) -> dict[str, Any]:
        from llmguard.prompts._loader import read_text

        path = folder / _STATE_FILE
        if not path.is_file():
            return {}
        try:
            data = json.loads(read_text(path, _MAX_BYTES))
        except (ValueError, RecursionError) as exc:
            raise RolloutError(f"{path}: malformed rollout state file: {exc}") from None
        if not isinstance(data, dict):
            raise RolloutError(f"{path}: expected a JSON object of label: state")
        return data

    def read(self, name: str, label: str) -> RolloutState | None:
        """The label's latest rollout, or None."""
        folder = self._folder(name)
        data = self._states(folder).get(label)
        return None if data is None else RolloutState.from_json(data, f"{folder / _STATE_FILE}: {label}")

    def write(
        self, state: RolloutState, expect_revision: int | None, event: RolloutEvent | None = None
    ) -> RolloutState:
        """Compare-and-set under the lock file; replace ``rollouts.json`` atomically, append the event."""
        from llmguard.prompts._file_store import _atomic_write, file_lock

        folder = self._folder(state.name)
        with file_lock(folder / _LOCK_FILE):
            states = self._states(folder)
            raw = states.get(state.label)
            current = None if raw is None else RolloutState.from_json(raw, str(folder / _STATE_FILE))
            stored = check_write(current, state, expect_revision)
            states[state.label] = stored.to_json()
            _atomic_write(folder / _STATE_FILE, json.dumps(states, indent=1, sort_keys=True) + "\n")
            if event is not None:
                line = json.dumps(replace(event, revision=stored.revision).to_json(), sort_keys=True)
                with open(folder / _EVENTS_FILE, "a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
        return stored

    def events(self, name: str, label: str | None = None) -> list[RolloutEvent]:
        """The audit log, oldest first."""
        from llmguard.prompts._loader import read_text

        path = self._folder(name) / _EVENTS_FILE
        if not path.is_file():
            return []
        out = []
        for number, line in enumerate(read_text(path, _MAX_BYTES).split("\n"), start=1):
            if not line.strip():
                continue
            try:
                event = RolloutEvent.from_json(json.loads(line))
            except (ValueError, TypeError, RecursionError) as exc:
                raise RolloutError(f"{path}: line {number}: malformed rollout event: {exc}") from None
            if label is None or event.label == label:
                out.append(event)
        return out
