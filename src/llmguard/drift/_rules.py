"""Drift alert rules: a threshold on an effect size, a significance level and a minimum-sample guard.

A rule fires on a `Comparison` when **both** windows hold at least ``min_samples`` rows, the
effect size is greater than ``threshold`` (strict) and, for the tested metrics, the p-value is
below ``alpha``:

================  ==============================  ==============================
metric            effect size (``threshold``)     p-value (``alpha``)
================  ==============================  ==============================
``centroid``      centroid cosine distance        none
``mmd``           unbiased MMD^2 (RBF kernel)     permutation test
``topic``         total variation distance        chi-square on the cluster mix
================  ==============================  ==============================

Requiring the effect size as well as significance keeps large windows from alerting on
differences too small to matter, and bounds the false-positive rate under no drift by ``alpha``.
Alerts are the cost feature's `llmguard.cost.Alert` (kind ``drift``, series ``drift_<metric>``),
delivered through the same dispatcher.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from llmguard.cost._rules import Alert
from llmguard.exceptions import ConfigurationError

from ._compare import Comparison

__all__ = ["DEFAULT_THRESHOLDS", "DriftMetric", "DriftRule", "default_rules", "rule_from_table"]

DriftMetric = Literal["centroid", "mmd", "topic"]

DEFAULT_THRESHOLDS: Mapping[str, float] = {"centroid": 0.05, "mmd": 0.01, "topic": 0.1}
"""Default effect-size thresholds per metric (tune them on your own traffic with ``llmguard drift report``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DriftRule:
    """Alert when the current window drifted from the baseline.

    Attributes:
        metric: ``centroid``, ``mmd`` or ``topic``.
        threshold: The effect size must be greater than this (default `DEFAULT_THRESHOLDS`).
        alpha: The significance level of the test (``mmd``, ``topic``).
        min_samples: Minimum rows in each window.
        prompt: Only calls of this registry prompt.
        tag: Only calls carrying this tag.
        name: A stable id for dedupe and messages.
    """

    metric: DriftMetric = "mmd"
    threshold: float | None = None
    alpha: float = 0.01
    min_samples: int = 50
    prompt: str | None = None
    tag: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.metric not in get_args(DriftMetric):
            raise ConfigurationError(
                f"drift rule metric {self.metric!r}: valid metrics are {', '.join(get_args(DriftMetric))}"
            )
        if not (isinstance(self.alpha, int | float) and 0 < self.alpha < 1):
            raise ConfigurationError(f"drift rule alpha {self.alpha!r}: expected a level between 0 and 1")
        if (
            isinstance(self.min_samples, bool)
            or not isinstance(self.min_samples, int)
            or self.min_samples < 2
        ):
            raise ConfigurationError(
                f"drift rule min_samples {self.min_samples!r}: expected a whole number >= 2"
            )
        if self.threshold is not None and not (
            isinstance(self.threshold, int | float) and math.isfinite(self.threshold)
        ):
            raise ConfigurationError(f"drift rule threshold {self.threshold!r}: expected a number")

    @property
    def effect_threshold(self) -> float:
        """The threshold in force."""
        return DEFAULT_THRESHOLDS[self.metric] if self.threshold is None else float(self.threshold)

    @property
    def scope(self) -> dict[str, str]:
        """The rule's filter."""
        return {"prompt": self.prompt} if self.prompt else {"tag": self.tag} if self.tag else {}

    @property
    def id(self) -> str:
        """The dedupe id."""
        if self.name:
            return self.name
        scope = ",".join(f"{k}={v}" for k, v in self.scope.items())
        return f"drift:{self.metric}" + (f"[{scope}]" if scope else "")

    def measure(self, comparison: Comparison) -> tuple[float, float | None] | None:
        """(effect size, p-value) of the metric, or None under the minimum-sample guard."""
        if not comparison.enough or min(comparison.n_baseline, comparison.n_current) < self.min_samples:
            return None
        if self.metric == "centroid" and comparison.centroid_distance is not None:
            return comparison.centroid_distance, None
        if self.metric == "mmd" and comparison.mmd is not None:
            return comparison.mmd.mmd2, comparison.mmd.p_value
        if self.metric == "topic" and comparison.topics is not None:
            return comparison.topics.tvd, comparison.topics.p_value
        return None

    def evaluate(self, comparison: Comparison) -> Alert | None:
        """The alert for ``comparison``'s current window, or None."""
        measured = self.measure(comparison)
        if measured is None:
            return None
        value, p_value = measured
        threshold = self.effect_threshold
        if not value > threshold or (p_value is not None and not p_value < self.alpha):
            return None
        return Alert(
            self.id,
            "drift",
            f"drift_{self.metric}",
            comparison.window,
            value,
            threshold,
            _message(self, comparison, value, p_value),
            scope=self.scope,
        )


def _message(rule: DriftRule, comparison: Comparison, value: float, p_value: float | None) -> str:
    what = {"centroid": "centroid cosine distance", "mmd": "MMD^2", "topic": "topic mix shift (TVD)"}[
        rule.metric
    ]
    test = "" if p_value is None else f", p={p_value:.3g} < {rule.alpha:g}"
    text = (
        f"{rule.id}: input drift on {comparison.scope_label} in {comparison.window}: {what} {value:.4g} > "
        f"{rule.effect_threshold:g}{test} ({comparison.n_current} current vs {comparison.n_baseline} baseline inputs)"
    )
    topics = comparison.topics
    if rule.metric == "topic" and topics is not None:
        moves = [
            f"{'new topic' if c.cluster == topics.k else f'cluster {c.cluster}'} "
            f"{c.baseline_share:.0%}->{c.current_share:.0%}"
            for c in topics.clusters[:2]
        ]
        text += "; " + ", ".join(moves)
    return text


def default_rules() -> tuple[DriftRule, ...]:
    """An MMD rule and a topic rule over all calls, at the default thresholds."""
    return (DriftRule(metric="mmd"), DriftRule(metric="topic"))


def rule_from_table(spec: Any, where: str) -> DriftRule:
    """A `DriftRule` from a config table (``{metric = "mmd", alpha = 0.01, ...}``)."""
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"{where}: expected a table, got {spec!r}")
    valid = set(DriftRule.__dataclass_fields__)
    unknown = sorted(set(spec) - valid)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(valid))}"
        )
    try:
        return DriftRule(**dict(spec))
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
