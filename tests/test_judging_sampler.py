"""The sampler: a pure, deterministic, nested function of an id and a rate."""

from __future__ import annotations

import math
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard import ConfigurationError
from llmguard.judging import DEFAULT_SALT, Sampling, sample_point, should_sample

ids = st.text(min_size=1, max_size=64)
rates = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(key=ids, rate=rates)
def test_deterministic_for_a_given_id(key: str, rate: float) -> None:
    assert should_sample(key, rate) == should_sample(key, rate)
    assert sample_point(key) == sample_point(key)


@given(key=ids, low=rates, high=rates)
def test_samples_nest_as_the_rate_grows(key: str, low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    if should_sample(key, low):
        assert should_sample(key, high)


@given(key=ids)
def test_rate_ends_are_never_and_always(key: str) -> None:
    assert not should_sample(key, 0.0)
    assert should_sample(key, 1.0)
    assert 0.0 <= sample_point(key) < 1.0


@settings(max_examples=5, deadline=None)
@given(rate=st.sampled_from([0.01, 0.1, 0.25, 0.5, 0.9]), seed=st.integers(0, 2**32))
def test_observed_rate_within_statistical_bounds_over_100k_ids(rate: float, seed: int) -> None:
    n = 100_000
    hits = sum(should_sample(f"{seed}-{i}", rate) for i in range(n))
    sigma = math.sqrt(n * rate * (1 - rate))
    assert abs(hits - n * rate) < 5 * sigma  # a false failure has probability < 1e-6


def test_trace_ids_sample_at_the_rate() -> None:
    hits = sum(should_sample(uuid.UUID(int=i * 7919).hex, 0.2) for i in range(20_000))
    assert abs(hits - 4000) < 5 * math.sqrt(20_000 * 0.2 * 0.8)


def test_the_hash_is_the_documented_one() -> None:
    import hashlib

    digest = hashlib.sha256(f"{DEFAULT_SALT}\0abc".encode()).digest()
    assert sample_point("abc") == int.from_bytes(digest[:8], "big") / 2**64


def test_salt_draws_an_independent_sample() -> None:
    keys = [str(i) for i in range(2000)]
    a = {k for k in keys if should_sample(k, 0.5)}
    b = {k for k in keys if should_sample(k, 0.5, salt="other")}
    assert a != b
    assert 400 < len(a & b) < 600  # independent: about 2000 * 0.5 * 0.5


def test_rates_per_prompt_and_tag() -> None:
    s = Sampling(rate=0.1, prompts={"support": 1.0}, tags={"vip": 0.5, "beta": 0.8})
    assert s.rate_for("support", ["vip"]) == 1.0
    assert s.rate_for("other", ["vip", "beta"]) == 0.8
    assert s.rate_for(None, []) == 0.1
    assert s.decide("any-id", "support")
    assert not Sampling(rate=0.0).decide("any-id")


def test_coerce() -> None:
    assert Sampling.coerce(None).rate == 1.0
    assert Sampling.coerce(0.25).rate == 0.25
    assert Sampling.coerce({"rate": 0.5, "prompts": {"a": 1.0}}).prompts == {"a": 1.0}
    s = Sampling(rate=0.3)
    assert Sampling.coerce(s) is s


@pytest.mark.parametrize("bad", [1.5, -0.1, "x", True, {"rate": 0.5, "nope": 1}, {"prompts": {"a": 2}}])
def test_invalid_sampling_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        Sampling.coerce(bad)


def test_invalid_capacity() -> None:
    with pytest.raises(ConfigurationError, match="max_queue"):
        Sampling(max_queue=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_queue_bytes", 0),
        ("max_queue_bytes", "8MB"),
        ("max_queue_bytes", 1.5),
        ("max_queue", True),
        ("workers", "2"),
        ("max_hung_judges", -1),
        ("retain_unsampled", None),
        ("judge_timeout", float("nan")),
        ("judge_timeout", "60"),
    ],
)
def test_invalid_capacity_names_the_field_and_value(field: str, value: object) -> None:
    """A config file's ``sampling = {max_queue_bytes = "8MB"}`` is a typed error naming it, not a TypeError."""
    with pytest.raises(ConfigurationError, match=f"sampling {field}: .*{value!r}".replace("(", r"\(")):
        Sampling.coerce({field: value})
