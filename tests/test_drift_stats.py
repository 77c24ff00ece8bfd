"""Drift statistics on constructed embeddings (numpy RNG, no provider).

The embeddings mimic a real model's: a shared direction (anisotropy), one centre per topic and
noise. Small windows and permutation counts keep the suite quick; the p-value resolution
(1 / (permutations + 1)) stays below every level tested.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from llmguard.drift import CompareOptions, DriftRule, compare, mmd_test
from llmguard.drift._stats import K_RANGE, choose_k, fit_topics, topic_shift
from llmguard.exceptions import ConfigurationError

DIM = 24
WORLD = np.random.default_rng(1234)
COMMON = WORLD.normal(size=DIM)
CENTERS = WORLD.normal(size=(5, DIM))
OLD_MIX = [0.25, 0.25, 0.25, 0.25, 0.0]  # topic 4 never appears in the baseline
OPTIONS = CompareOptions(permutations=99, min_samples=40, k=4)


def sample(rng: np.random.Generator, n: int, mix: list[float], shift: Any = 0.0) -> Any:
    topics = rng.choice(len(mix), size=n, p=mix)
    return COMMON + shift + CENTERS[topics] + rng.normal(scale=0.5, size=(n, DIM))


def test_no_drift_false_positive_rate_is_at_most_the_configured_level() -> None:
    level = 0.05
    rules = [DriftRule(metric="mmd", alpha=level, min_samples=40), DriftRule(metric="topic", alpha=level)]
    alerted = mmd_small = topic_small = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        comparison = compare(sample(rng, 100, OLD_MIX), sample(rng, 100, OLD_MIX), OPTIONS)
        alerted += any(rule.evaluate(comparison) is not None for rule in rules)
        assert comparison.mmd is not None
        assert comparison.topics is not None
        mmd_small += comparison.mmd.p_value < level
        topic_small += comparison.topics.p_value < level
    assert alerted / 50 <= level
    # The tests themselves are calibrated: P(Binomial(50, 0.05) > 7) < 0.01.
    assert mmd_small <= 7
    assert topic_small <= 7


def test_a_shifted_mean_alerts() -> None:
    rng = np.random.default_rng(7)
    shift = 0.5 * np.random.default_rng(70).normal(size=DIM)
    comparison = compare(sample(rng, 100, OLD_MIX), sample(rng, 100, OLD_MIX, shift), OPTIONS)
    alert = DriftRule(metric="mmd", alpha=0.05, min_samples=40).evaluate(comparison)
    assert alert is not None
    assert (alert.kind, alert.series) == ("drift", "drift_mmd")
    assert comparison.centroid_distance is not None
    assert comparison.centroid_distance > 0.01
    assert DriftRule(metric="centroid", threshold=0.01, min_samples=40).evaluate(comparison) is not None


def test_a_new_cluster_alerts_and_is_named_as_the_one_that_grew() -> None:
    rng = np.random.default_rng(11)
    new_mix = [0.175, 0.175, 0.175, 0.175, 0.3]
    comparison = compare(sample(rng, 160, OLD_MIX), sample(rng, 160, new_mix), OPTIONS)
    assert DriftRule(metric="topic", alpha=0.05, min_samples=40).evaluate(comparison) is not None
    assert comparison.topics is not None
    (grew,) = comparison.topics.grew(1)
    assert grew.cluster == comparison.topics.k  # the new-topic cluster
    assert grew.current_share > 0.2
    assert grew.baseline_share < 0.05


def test_the_minimum_sample_guard_holds() -> None:
    rng = np.random.default_rng(3)
    base, current = sample(rng, 100, OLD_MIX), sample(rng, 30, OLD_MIX, shift=3.0)  # huge drift, few rows
    comparison = compare(base, current, CompareOptions(permutations=99, min_samples=10, k=4))
    assert comparison.enough
    for metric in ("mmd", "topic", "centroid"):
        guarded = DriftRule(metric=metric, threshold=0.0, alpha=0.05, min_samples=31)
        assert guarded.evaluate(comparison) is None
        open_rule = DriftRule(metric=metric, threshold=0.0, alpha=0.05, min_samples=30)
        assert open_rule.evaluate(comparison) is not None
    skipped = compare(base, current, CompareOptions(min_samples=31))
    assert not skipped.enough
    assert skipped.mmd is None
    assert skipped.topics is None


def test_mmd_p_value_is_a_permutation_p_value() -> None:
    rng = np.random.default_rng(0)
    a = sample(rng, 60, OLD_MIX)
    same = mmd_test(a, a, permutations=49)
    assert same.p_value == 1.0  # every permutation is at least as extreme as identical samples
    far = mmd_test(a, sample(rng, 60, OLD_MIX, shift=5.0), permutations=49)
    assert far.p_value == pytest.approx(1 / 50)
    assert far.mmd2 > same.mmd2
    assert (far.n_baseline, far.n_current, far.permutations) == (60, 60, 49)


def test_mmd_subsamples_each_window_to_max_samples() -> None:
    rng = np.random.default_rng(0)
    result = mmd_test(sample(rng, 300, OLD_MIX), sample(rng, 200, OLD_MIX), permutations=9, max_samples=50)
    assert (result.n_baseline, result.n_current) == (50, 50)


def test_k_is_chosen_by_silhouette_within_the_documented_range() -> None:
    rng = np.random.default_rng(5)
    separated = np.vstack([c * 10 + rng.normal(scale=0.1, size=(40, DIM)) for c in CENTERS[:3]])
    k, score = choose_k(separated)
    assert k == 3
    assert score is not None
    assert score > 0.5
    assert K_RANGE[0] <= choose_k(rng.normal(size=(200, DIM)))[0] <= K_RANGE[1]


def test_representative_inputs_appear_only_where_content_was_retained() -> None:
    rng = np.random.default_rng(2)
    base, current = sample(rng, 80, OLD_MIX), sample(rng, 80, [0.2, 0.2, 0.2, 0.2, 0.2])
    topics = fit_topics(base, k=4)
    shift = topic_shift(topics, current, permutations=19)
    assert all(c.examples == () for c in shift.clusters)
    texts = [f"base {i}" for i in range(80)]
    shown = topic_shift(topics, current, baseline_texts=texts, current_texts=[None] * 80, permutations=19)
    assert any(c.examples for c in shown.clusters)
    assert all(
        len(c.examples) <= 3 and all(t.startswith("base ") for t in c.examples) for c in shown.clusters
    )


def test_missing_extra_raises_configuration_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmguard.drift import DriftConfig

    monkeypatch.setitem(sys.modules, "sklearn.cluster", None)
    with pytest.raises(ConfigurationError, match=r"llmguard\[drift\]"):
        DriftConfig()
    with pytest.raises(ConfigurationError, match=r"llmguard\[drift\]"):
        mmd_test(np.zeros((3, 2)), np.zeros((3, 2)))


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, "a"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image"}]}]},
            "x",
        ),
        ({"messages": [{"role": "system", "content": "s"}]}, None),
        ({"input": "hello"}, "hello"),
        ({"input": [{"role": "user", "content": "r"}]}, "r"),
        ({"prompt": "p"}, "p"),
        ({"prompt": ["p1", "p2"]}, "p2"),
        ({"messages": "not a list"}, None),
        ({}, None),
    ],
)
def test_the_default_extractor_takes_the_last_user_input(body: dict[str, Any], text: str | None) -> None:
    from llmguard.drift import last_user_text

    assert last_user_text(body) == text
