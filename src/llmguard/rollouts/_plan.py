"""Rollout plans: steps, guard metrics and the false-alarm rate, read strictly from YAML/TOML or the CLI.

A plan lives beside the prompt it rolls out (``prompts/<name>/rollout.yaml`` or ``rollout.toml``)
and is reviewed like the prompt. Every unknown key, wrong type or out-of-range value raises
`llmguard.RolloutPlanError` naming the file and the field.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from llmguard.exceptions import LLMGuardError, RolloutPlanError

__all__ = [
    "DEFAULT_GUARDS",
    "GUARD_METRICS",
    "GuardSpec",
    "RolloutPlan",
    "Step",
    "load_plan",
    "parse_duration",
    "plan_from_mapping",
]

MetricName = Literal[
    "judge_score", "thumbs_down_rate", "error_rate", "refusal_rate", "cost_per_call", "latency_p95"
]

GUARD_METRICS: tuple[MetricName, ...] = (
    "judge_score",
    "thumbs_down_rate",
    "error_rate",
    "refusal_rate",
    "cost_per_call",
    "latency_p95",
)
"""The guard metrics a plan can watch, candidate against stable over the same window."""

_MAX_PLAN_BYTES = 256_000
_MAX_STEPS = 32
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")


@dataclass(frozen=True, slots=True)
class Step:
    """One step: the candidate's share of traffic and how long it runs before it may advance.

    Attributes:
        weight: Percent of traffic sent to the candidate (1-100).
        duration_s: Seconds the step runs (at least) before a clean check advances it.
    """

    weight: int
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class GuardSpec:
    """How much one guard metric may regress against stable.

    Attributes:
        metric: One of `GUARD_METRICS`.
        max_regression: Allowed regression: a fraction of the stable value for ``relative``
            (judge score, cost, latency: 0.05 = 5% worse), an absolute rate increase for
            ``absolute`` (thumbs-down, error, refusal: 0.01 = one percentage point).
        mode: ``relative`` or ``absolute``.
        judges: For ``judge_score``: the judges to watch (empty: every judge seen in the window).
    """

    metric: MetricName
    max_regression: float
    mode: Literal["relative", "absolute"]
    judges: tuple[str, ...] = ()

    @property
    def mode_key(self) -> str:
        """The plan-file key of the limit: ``max_regression`` (relative) or ``max_increase`` (absolute)."""
        return "max_regression" if self.mode == "relative" else "max_increase"


DEFAULT_GUARDS: tuple[GuardSpec, ...] = (
    GuardSpec("judge_score", 0.05, "relative"),
    GuardSpec("thumbs_down_rate", 0.02, "absolute"),
    GuardSpec("error_rate", 0.01, "absolute"),
    GuardSpec("refusal_rate", 0.01, "absolute"),
    GuardSpec("cost_per_call", 0.10, "relative"),
    GuardSpec("latency_p95", 0.20, "relative"),
)
"""Guards of a plan that names none: every metric, with these allowed regressions."""

_MODES: dict[str, Literal["relative", "absolute"]] = {
    "judge_score": "relative",
    "thumbs_down_rate": "absolute",
    "error_rate": "absolute",
    "refusal_rate": "absolute",
    "cost_per_call": "relative",
    "latency_p95": "relative",
}


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """A guarded rollout of one label from its stable version to a candidate.

    Attributes:
        label: The label rolled out (``production``).
        steps: Ascending steps; the last one has weight 100 (the candidate alone).
        guards: Guard metrics and their allowed regressions.
        candidate: The version rolled out (may come from the CLI instead).
        false_alarm_rate: Probability bound of rolling back a candidate that is within every
            allowed regression, over the whole rollout however often it is checked.
        min_samples: Samples each arm needs, per metric, before that metric can decide.
        check_interval_s: Seconds between checks of ``llmguard rollout watch`` and the in-app check.
        source: Where the plan was read from (for messages).
    """

    label: str
    steps: tuple[Step, ...]
    guards: tuple[GuardSpec, ...] = DEFAULT_GUARDS
    candidate: str | None = None
    false_alarm_rate: float = 0.05
    min_samples: int = 100
    check_interval_s: float = 60.0
    source: str = field(default="<plan>", compare=False)

    @property
    def guarded_steps(self) -> int:
        """Steps that compare the arms (every step below 100%)."""
        return sum(1 for step in self.steps if step.weight < 100)

    def with_candidate(self, candidate: str) -> RolloutPlan:
        """This plan, rolling out ``candidate``."""
        return replace(self, candidate=candidate)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict that `plan_from_mapping` reads back."""
        return {
            "label": self.label,
            "candidate": self.candidate,
            "false_alarm_rate": self.false_alarm_rate,
            "min_samples": self.min_samples,
            "check_interval": self.check_interval_s,
            "steps": [{"weight": s.weight, "duration": s.duration_s} for s in self.steps],
            "guards": {
                g.metric: {g.mode_key: g.max_regression, **({"judges": list(g.judges)} if g.judges else {})}
                for g in self.guards
            },
        }


def parse_duration(value: object, where: str) -> float:
    """Seconds from ``90``, ``"90s"``, ``"30m"``, ``"2h"`` or ``"1d"``.

    Raises:
        RolloutPlanError: Anything else, or a negative or absurd (over a year) duration.
    """
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match is not None:
            seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds is None or not 0 <= seconds <= 366 * 86400:
        raise RolloutPlanError(
            f"{where}: invalid duration {value!r}: use seconds or a number with s, m, h or d (e.g. 30m)"
        )
    return seconds


def load_plan(path: str | Path) -> RolloutPlan:
    """Read a plan file (``.yaml``/``.yml`` or ``.toml``).

    Raises:
        RolloutPlanError: Unreadable, too large, not YAML/TOML, or any invalid field.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()[: _MAX_PLAN_BYTES + 1]
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RolloutPlanError(f"{path}: cannot read the rollout plan: {exc}") from None
    if len(raw) > _MAX_PLAN_BYTES:
        raise RolloutPlanError(f"{path}: the rollout plan is over {_MAX_PLAN_BYTES} bytes")
    return plan_from_mapping(_parse(text, path), str(path))


def _parse(text: str, path: Path) -> Any:
    if path.suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RolloutPlanError(f"{path}: not valid TOML: {exc}") from None
    if path.suffix not in (".yaml", ".yml"):
        raise RolloutPlanError(f"{path}: a rollout plan is a .yaml, .yml or .toml file")
    from llmguard.prompts._loader import load_text

    try:
        return load_text(text, str(path))
    except LLMGuardError as exc:
        raise RolloutPlanError(str(exc)) from None


_KEYS = {"label", "candidate", "false_alarm_rate", "min_samples", "check_interval", "steps", "guards"}


def plan_from_mapping(data: object, where: str = "<plan>") -> RolloutPlan:
    """Validate a parsed plan.

    Raises:
        RolloutPlanError: Naming ``where`` and the field at fault.
    """
    if not isinstance(data, Mapping):
        raise RolloutPlanError(f"{where}: a rollout plan is a mapping with label, steps and guards")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise RolloutPlanError(f"{where}: unknown field(s) {unknown}; known: {sorted(_KEYS)}")
    from llmguard.prompts._labels import check_label

    try:
        label = check_label(data.get("label", "production"), f"{where}: field label")
    except LLMGuardError as exc:
        raise RolloutPlanError(str(exc)) from None
    alpha = _number(data.get("false_alarm_rate", 0.05), f"{where}: field false_alarm_rate", 1e-6, 0.5)
    return RolloutPlan(
        label=label,
        steps=_steps(data.get("steps"), f"{where}: field steps"),
        guards=_guards(data.get("guards"), f"{where}: field guards"),
        candidate=_candidate(data.get("candidate"), f"{where}: field candidate"),
        false_alarm_rate=alpha,
        min_samples=int(_number(data.get("min_samples", 100), f"{where}: field min_samples", 2, 10**9, True)),
        check_interval_s=max(
            1.0, parse_duration(data.get("check_interval", 60), f"{where}: field check_interval")
        ),
        source=where,
    )


def _number(value: object, where: str, lo: float, hi: float, integer: bool = False) -> float:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (not integer or isinstance(value, int))
    )
    if not ok or not lo <= float(value) <= hi:  # type: ignore[arg-type]
        kind = "an integer" if integer else "a number"
        raise RolloutPlanError(f"{where}: expected {kind} in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _candidate(value: object, where: str) -> str | None:
    if value is None:
        return None
    from llmguard.prompts._semver import parse_version

    try:
        parse_version(str(value))
    except LLMGuardError as exc:
        raise RolloutPlanError(f"{where}: {exc}") from None
    return str(value)


def _steps(value: object, where: str) -> tuple[Step, ...]:
    if value is None:
        value = [
            {"weight": 1, "duration": "30m"},
            {"weight": 5, "duration": "1h"},
            {"weight": 25, "duration": "2h"},
        ]
    if not isinstance(value, Sequence) or isinstance(value, str) or not 0 < len(value) <= _MAX_STEPS:
        raise RolloutPlanError(f"{where}: expected a list of 1-{_MAX_STEPS} steps ({{weight, duration}})")
    steps = [_step(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if steps[-1].weight != 100:
        steps.append(Step(100))
    weights = [s.weight for s in steps]
    if any(b <= a for a, b in itertools.pairwise(weights)):
        raise RolloutPlanError(f"{where}: step weights must increase strictly, got {weights}")
    return tuple(steps)


def _step(item: object, where: str) -> Step:
    if not isinstance(item, Mapping) or set(item) - {"weight", "duration"} or "weight" not in item:
        raise RolloutPlanError(f"{where}: a step is {{weight: 1-100, duration: 30m}}, got {item!r}")
    weight = int(_number(item["weight"], f"{where}.weight", 1, 100, True))
    duration = parse_duration(item.get("duration", 0), f"{where}.duration")
    return Step(weight, duration)


def _guards(value: object, where: str) -> tuple[GuardSpec, ...]:
    if value is None:
        return DEFAULT_GUARDS
    if not isinstance(value, Mapping) or not value:
        raise RolloutPlanError(f"{where}: expected a mapping of metric: {{max_regression | max_increase}}")
    guards = [_guard(str(k), v, f"{where}.{k}") for k, v in value.items()]
    return tuple(sorted(guards, key=lambda g: GUARD_METRICS.index(g.metric)))


def _guard(metric: str, spec: object, where: str) -> GuardSpec:
    if metric not in _MODES:
        raise RolloutPlanError(f"{where}: unknown guard metric {metric!r}; known: {list(GUARD_METRICS)}")
    mode = _MODES[metric]
    key = "max_regression" if mode == "relative" else "max_increase"
    allowed = {key, "judges"} if metric == "judge_score" else {key}
    if not isinstance(spec, Mapping) or set(spec) - allowed or key not in spec:
        raise RolloutPlanError(f"{where}: expected {{{key}: number}} ({mode} regression), got {spec!r}")
    limit = _number(spec[key], f"{where}.{key}", 0.0, 10.0)
    judges = spec.get("judges", [])
    if not isinstance(judges, list) or not all(isinstance(j, str) and 0 < len(j) <= 200 for j in judges):
        raise RolloutPlanError(f"{where}.judges: expected a list of judge names, got {judges!r}")
    return GuardSpec(metric, limit, mode, tuple(judges))  # type: ignore[arg-type]
