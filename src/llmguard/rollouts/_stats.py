"""The rollout decision: a sequential test per guard metric with a stated false-alarm rate (pure).

Each guard metric is tested with a mixture sequential probability ratio test (mSPRT, Johari,
Pekelis and Walsh, "Always valid inference", 2017) on the difference of the arm means, shifted by
the allowed regression:

* ``d`` is the candidate's regression in the bad direction (lower judge score; higher rates,
  cost and latency), ``m`` the allowed regression, ``V`` the variance of ``d``'s estimate
  (Welch for continuous metrics, pooled for rates);
* with a normal mixing distribution of scale ``tau`` (twice the allowed regression, at least a
  quarter of the metric's standard deviation) the likelihood ratio of "regressed by more than
  ``m``" is ``L = sqrt(V / (V + tau²)) * exp((d - m)² tau² / (2 V (V + tau²)))``;
* the metric fails when ``d > m`` and ``L >= 1 / alpha_each``.

Under the null (the candidate regresses by at most ``m``) the probability that ``L`` *ever*
crosses ``1 / alpha_each`` is at most ``alpha_each`` (Ville's inequality), so checking every
minute does not inflate false rollbacks. The plan's ``false_alarm_rate`` is split evenly
(Bonferroni) over the guarded steps and the metric tests of a step:
``alpha_each = false_alarm_rate / (guarded steps x metric tests)``, which bounds the probability
of any false rollback during the whole rollout. The normal approximation needs enough data:
a metric decides only when each arm has ``min_samples`` samples.

Rates (thumbs-down, errors, refusals, slow calls) use the pooled variance and a continuity
correction of ``0.5 / n`` per arm added to ``m``: with few events the normal tail is too thin.

Latency p95 is tested as a rate: the share of calls slower than ``(1 + max_regression) x`` the
stable arm's p95, candidate against stable, with no further margin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from llmguard.exceptions import ConfigurationError

from ._plan import GuardSpec, RolloutPlan

__all__ = ["Decision", "MetricResult", "Samples", "evaluate", "metric_tests"]

Samples = Mapping[str, tuple[Any, Any]]
"""Per metric key (``error_rate``, ``judge_score:<judge>``...): (stable values, candidate values).

Values are sequences of floats or 1-d numpy arrays."""

_RATES = frozenset({"thumbs_down_rate", "error_rate", "refusal_rate", "latency_p95"})


@dataclass(frozen=True, slots=True)
class MetricResult:
    """The test of one guard metric over one window.

    Attributes:
        metric: The metric key (``judge_score:<judge>`` per judge).
        status: ``regression``, ``ok`` or ``insufficient`` (an arm has fewer than ``min_samples``).
        stable_n: Samples of the stable arm.
        candidate_n: Samples of the candidate arm.
        stable_value: Stable arm's mean (p95 for latency).
        candidate_value: Candidate arm's mean (p95 for latency).
        regression: Observed regression ``d`` in the bad direction (a rate difference for latency).
        allowed: Allowed regression ``m`` in the same unit.
        log_lr: Log mixture likelihood ratio of the mSPRT.
        threshold: ``log(1 / alpha_each)``; the metric fails when ``log_lr`` reaches it.
        p_value: Always-valid p-value, ``min(1, 1 / L)`` (1 when ``d <= m``).
        z: The fixed-horizon z statistic of ``d - m`` (for reading; not used to decide).
        p_fixed: Its one-sided p-value (scipy), invalid under peeking, shown for comparison.
    """

    metric: str
    status: Literal["regression", "ok", "insufficient"]
    stable_n: int
    candidate_n: int
    stable_value: float | None = None
    candidate_value: float | None = None
    regression: float | None = None
    allowed: float | None = None
    log_lr: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    z: float | None = None
    p_fixed: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """One check's result: every metric's test, and whether any found a regression.

    Attributes:
        regression: True when a metric failed (the rollout must roll back).
        ready: True when every metric had enough samples in both arms.
        alpha_each: The false-alarm rate of each metric test (Bonferroni share).
        results: One per metric test.
    """

    regression: bool
    ready: bool
    alpha_each: float
    results: tuple[MetricResult, ...]

    @property
    def failed(self) -> list[str]:
        """The metrics that regressed."""
        return [r.metric for r in self.results if r.status == "regression"]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (recorded in the history)."""
        return {
            "regression": self.regression,
            "ready": self.ready,
            "alpha_each": self.alpha_each,
            "metrics": [{k: _finite(v) for k, v in asdict(r).items()} for r in self.results],
        }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _numpy() -> Any:
    try:
        import numpy as np
        import scipy.special  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:  # pragma: no cover - the drift extra is installed in development
        raise ConfigurationError(
            "guarded rollouts need numpy and scipy: pip install 'llmguard[drift]'"
        ) from None
    return np


def metric_tests(plan: RolloutPlan, samples: Samples) -> list[tuple[str, GuardSpec]]:
    """The metric tests of a check: one per guard, one per judge for ``judge_score``."""
    tests: list[tuple[str, GuardSpec]] = []
    for guard in plan.guards:
        if guard.metric != "judge_score":
            tests.append((guard.metric, guard))
            continue
        judges = guard.judges or tuple(
            sorted(k.split(":", 1)[1] for k in samples if k.startswith("judge_score:"))
        )
        tests.extend((f"judge_score:{judge}", guard) for judge in judges)
    return tests


def evaluate(plan: RolloutPlan, samples: Samples) -> Decision:
    """Test every guard metric of ``plan`` on ``samples`` (one step's window).

    Args:
        plan: Guards, ``false_alarm_rate`` and ``min_samples``.
        samples: Per metric key, the stable and candidate values.
    """
    tests = metric_tests(plan, samples)
    alpha_each = plan.false_alarm_rate / max(1, plan.guarded_steps * max(1, len(tests)))
    results = tuple(
        _test(key, guard, samples.get(key, ((), ())), plan.min_samples, alpha_each) for key, guard in tests
    )
    return Decision(
        regression=any(r.status == "regression" for r in results),
        ready=bool(results) and all(r.status != "insufficient" for r in results),
        alpha_each=alpha_each,
        results=results,
    )


def _test(key: str, guard: GuardSpec, arms: tuple[Any, Any], minimum: int, alpha: float) -> MetricResult:
    np = _numpy()
    stable = np.asarray(arms[0], dtype=float)
    candidate = np.asarray(arms[1], dtype=float)
    stable, candidate = stable[np.isfinite(stable)], candidate[np.isfinite(candidate)]
    if len(stable) < minimum or len(candidate) < minimum:
        return MetricResult(key, "insufficient", len(stable), len(candidate))
    shown = (float(np.mean(stable)), float(np.mean(candidate)))
    if guard.metric == "latency_p95":
        shown = (float(np.quantile(stable, 0.95)), float(np.quantile(candidate, 0.95)))
        limit = (1.0 + guard.max_regression) * shown[0]
        stable, candidate = (stable > limit).astype(float), (candidate > limit).astype(float)
    sign = -1.0 if guard.metric == "judge_score" else 1.0
    diff = sign * float(np.mean(candidate) - np.mean(stable))
    allowed = _allowed(guard, float(np.mean(stable)))
    if guard.metric in _RATES:
        # Continuity correction: counts are discrete, and the normal tail is too thin for few events.
        allowed += 0.5 / len(candidate) + 0.5 / len(stable)
    variance, spread = _variance(np, key, guard, stable, candidate)
    return _msprt(key, (len(stable), len(candidate)), shown, diff, allowed, variance, spread, alpha)


def _allowed(guard: GuardSpec, stable_mean: float) -> float:
    if guard.metric == "latency_p95":
        return 0.0
    if guard.mode == "relative":
        return guard.max_regression * abs(stable_mean)
    return guard.max_regression


def _variance(np: Any, key: str, guard: GuardSpec, stable: Any, candidate: Any) -> tuple[float, float]:
    """Variance of the difference of means, and the metric's standard deviation (pooled for rates)."""
    n_s, n_c = len(stable), len(candidate)
    if guard.metric in _RATES:
        pooled = float((stable.sum() + candidate.sum()) / (n_s + n_c))
        pooled = min(max(pooled, 0.5 / (n_s + n_c)), 1 - 0.5 / (n_s + n_c))
        sd2 = pooled * (1.0 - pooled)
        return sd2 * (1.0 / n_s + 1.0 / n_c), math.sqrt(sd2)
    var_s, var_c = float(np.var(stable, ddof=1)), float(np.var(candidate, ddof=1))
    floor = 1e-12 * max(1.0, float(np.mean(np.abs(stable))) ** 2)
    variance = max(var_s / n_s + var_c / n_c, floor)
    return variance, math.sqrt(max((var_s + var_c) / 2.0, floor))


def _msprt(
    key: str,
    counts: tuple[int, int],
    shown: tuple[float, float],
    diff: float,
    allowed: float,
    variance: float,
    spread: float,
    alpha: float,
) -> MetricResult:
    from scipy.special import ndtr

    tau2 = max(2.0 * allowed, 0.25 * spread, 1e-12) ** 2
    excess = diff - allowed
    log_lr = 0.5 * math.log(variance / (variance + tau2)) + excess**2 * tau2 / (
        2.0 * variance * (variance + tau2)
    )
    threshold = math.log(1.0 / alpha)
    failed = excess > 0 and log_lr >= threshold
    p_value = min(1.0, math.exp(-log_lr)) if excess > 0 else 1.0
    z = excess / math.sqrt(variance)
    return MetricResult(
        metric=key,
        status="regression" if failed else "ok",
        stable_n=counts[0],
        candidate_n=counts[1],
        stable_value=shown[0],
        candidate_value=shown[1],
        regression=diff,
        allowed=allowed,
        log_lr=log_lr,
        threshold=threshold,
        p_value=p_value,
        z=z,
        p_fixed=float(ndtr(-z)),
    )
