"""The rollout decision on synthetic traffic: a 15% worse candidate rolls back early; equal arms complete.

The decision function runs directly on samples (no HTTP): each step is checked after every tick of
fake traffic, as a supervisor checking every minute would, so the tests also cover peeking.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard.rollouts import RolloutPlan, Step, evaluate, plan_from_mapping

PLAN = plan_from_mapping(
    {
        "label": "production",
        "false_alarm_rate": 0.05,
        "min_samples": 30,
        "steps": [
            {"weight": 1, "duration": 600},
            {"weight": 5, "duration": 600},
            {"weight": 25, "duration": 600},
        ],
    },
    "sim",
)
TICKS = 6  # checks per step
CALLS = 1000  # calls per tick


def _arm(rng: np.random.Generator, n: int, score: float, worse: float) -> dict[str, np.ndarray]:
    """One arm's per-call metrics; ``worse`` scales the judge score down (0.15 = 15% worse)."""
    mean = score * (1.0 - worse)
    return {
        "judge_score:helpfulness": rng.beta(mean * 12, (1 - mean) * 12, n),
        "thumbs_down_rate": (rng.random(n) < 0.05).astype(float),
        "error_rate": (rng.random(n) < 0.01).astype(float),
        "refusal_rate": (rng.random(n) < 0.02).astype(float),
        "cost_per_call": rng.lognormal(-6.0, 0.4, n),
        "latency_p95": rng.lognormal(0.0, 0.5, n),
    }


def simulate(plan: RolloutPlan, worse: float, seed: int) -> tuple[str, int]:
    """Run a rollout on fake traffic: ("rolled_back", step) or ("completed", last step)."""
    rng = np.random.default_rng(seed)
    for index, step in enumerate(plan.steps):
        if step.weight == 100:
            return "completed", index
        stable: dict[str, list[np.ndarray]] = {}
        candidate: dict[str, list[np.ndarray]] = {}
        for _ in range(TICKS):
            n_c = int(rng.binomial(CALLS, step.weight / 100))
            for store, n, w in ((stable, CALLS - n_c, 0.0), (candidate, n_c, worse)):
                for key, values in _arm(rng, n, 0.8, w).items():
                    store.setdefault(key, []).append(values)
            decision = evaluate(plan, _samples(stable, candidate))
            if decision.regression:
                return "rolled_back", index
    return "completed", len(plan.steps) - 1  # pragma: no cover - plans end at 100%


def _samples(
    stable: Mapping[str, list[np.ndarray]], candidate: Mapping[str, list[np.ndarray]]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {k: (np.concatenate(stable[k]), np.concatenate(candidate[k])) for k in stable}


def test_a_15_percent_worse_candidate_rolls_back_before_25_percent() -> None:
    outcomes = [simulate(PLAN, 0.15, seed) for seed in range(100)]
    early = sum(1 for verdict, step in outcomes if verdict == "rolled_back" and PLAN.steps[step].weight < 25)
    assert early >= 95, outcomes


def test_equal_arms_reach_100_percent_in_95_of_100_seeds() -> None:
    outcomes = [simulate(PLAN, 0.0, seed) for seed in range(1000, 1100)]
    completed = sum(1 for verdict, _ in outcomes if verdict == "completed")
    assert completed >= 95, outcomes


def test_zero_margin_false_alarms_stay_under_the_configured_rate() -> None:
    """At the edge of the null (no allowed regression, equal arms) peeking every tick stays under alpha."""
    strict = plan_from_mapping(
        {
            "false_alarm_rate": 0.10,
            "min_samples": 30,
            "steps": [{"weight": 5, "duration": 1}, {"weight": 25, "duration": 1}],
            "guards": {
                "judge_score": {"max_regression": 0.0},
                "error_rate": {"max_increase": 0.0},
                "cost_per_call": {"max_regression": 0.0},
                "latency_p95": {"max_regression": 0.0},
            },
        },
        "strict",
    )
    alarms = sum(1 for seed in range(100) if simulate(strict, 0.0, seed)[0] == "rolled_back")
    # Binomial(100, 0.10) exceeds 20 with probability < 0.2%: more would mean the bound is broken.
    assert alarms <= 20


def test_a_regression_is_caught_only_with_enough_samples() -> None:
    plan = plan_from_mapping({"min_samples": 50, "steps": [{"weight": 50, "duration": 1}]}, "p")
    rng = np.random.default_rng(0)
    bad = {"error_rate": (np.zeros(40), np.ones(40))}
    assert not evaluate(plan, bad).regression
    assert {r.metric: r.status for r in evaluate(plan, bad).results}["error_rate"] == "insufficient"
    worse = {"error_rate": (np.zeros(60), (rng.random(60) < 0.5).astype(float))}
    decision = evaluate(plan, worse)
    assert decision.regression
    assert decision.failed == ["error_rate"]


@pytest.mark.parametrize("weights", [[1, 5, 25], [10, 50]])
def test_plans_end_at_100_percent(weights: list[int]) -> None:
    plan = plan_from_mapping({"steps": [{"weight": w, "duration": "1m"} for w in weights]}, "p")
    assert plan.steps[-1] == Step(100)
    assert plan.guarded_steps == len(weights)


def test_a_broken_candidate_rolls_back_from_few_samples() -> None:
    """Every candidate call fails: 40 calls at the 1% step are enough, despite the continuity correction."""
    rng = np.random.default_rng(3)
    samples = {"error_rate": ((rng.random(4000) < 0.01).astype(float), np.ones(40))}
    decision = evaluate(PLAN, samples)
    assert decision.failed == ["error_rate"]
    (result,) = (r for r in decision.results if r.metric == "error_rate")
    assert result.p_value is not None
    assert result.p_value < decision.alpha_each


_values = st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), min_size=0, max_size=300)


@settings(max_examples=60, deadline=None)
@given(stable=_values, shift=st.floats(min_value=0, max_value=1), nan=st.booleans())
def test_a_candidate_no_worse_than_stable_never_rolls_back(
    stable: list[float], shift: float, nan: bool
) -> None:
    """Identical or better candidates (higher score, fewer errors) never fail; NaN samples are ignored."""
    plan = plan_from_mapping(
        {
            "min_samples": 2,
            "guards": {"judge_score": {"max_regression": 0.0}, "error_rate": {"max_increase": 0.0}},
        },
        "p",
    )
    better = [min(1.0, v + shift) for v in stable] + ([float("nan")] if nan else [])
    errors = [float(v > 0.5) for v in stable]
    fewer = [0.0 if i % 2 else e for i, e in enumerate(errors)]
    decision = evaluate(plan, {"judge_score:j": (stable, better), "error_rate": (errors, fewer)})
    assert not decision.regression
    for result in decision.results:
        assert result.status in ("ok", "insufficient")
