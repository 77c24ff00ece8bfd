"""GenAI client metrics and the cost counter, read back through an InMemoryMetricReader."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint

import llmguard
from llmguard.telemetry import semconv as sc
from llmguard.testing import FakeOpenAI, FakeUsage


@pytest.fixture
def reader() -> InMemoryMetricReader:
    metric_reader = InMemoryMetricReader()
    return metric_reader


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "llmguard"
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


@pytest.mark.parametrize("stream", [False, True])
def test_metrics(stream: bool, reader: InMemoryMetricReader) -> None:
    provider = MeterProvider(metric_readers=[reader])
    guard = llmguard.Guard(meter_provider=provider, pin_policy="off")
    fake = FakeOpenAI(usage=FakeUsage(input_tokens=20, output_tokens=10))
    client = fake.client(llmguard.OpenAI, guard=guard)
    with llmguard.use_prompt(llmguard.PromptRef(name="bot", version="1.0.0")):
        result = client.chat.completions.create(
            model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        if stream:
            list(result)
    found = points(reader)
    duration = found[sc.GEN_AI_CLIENT_OPERATION_DURATION]
    assert len(duration) == 1
    assert isinstance(duration[0], HistogramDataPoint)
    assert tuple(duration[0].explicit_bounds) == sc.BUCKETS_DURATION
    assert dict(duration[0].attributes or {})[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert dict(duration[0].attributes or {})[sc.GEN_AI_PROVIDER_NAME] == "openai"
    tokens = {dict(p.attributes or {})[sc.GEN_AI_TOKEN_TYPE]: p for p in found[sc.GEN_AI_CLIENT_TOKEN_USAGE]}
    assert tokens["input"].sum == 20
    assert tokens["output"].sum == 10
    assert tuple(tokens["input"].explicit_bounds) == tuple(float(b) for b in sc.BUCKETS_TOKENS)
    if stream:
        ttfc = found[sc.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK]
        assert ttfc[0].count == 1
    else:
        assert sc.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK not in found
    (cost,) = found[sc.GEN_AI_CLIENT_OPERATION_COST]
    assert isinstance(cost, HistogramDataPoint)
    assert cost.count == 1
    assert cost.sum == pytest.approx((20 * 2.5 + 10 * 10) / 1e6)
    assert dict(cost.attributes or {})[sc.GEN_AI_PROMPT_NAME] == "bot"
    assert dict(cost.attributes or {})[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert dict(cost.attributes or {})[sc.GEN_AI_USAGE_COST_CURRENCY] == "USD"
    assert sc.LLMGUARD_CLIENT_COST not in found  # the pre-proposal counter only with legacy_cost
    provider.shutdown()


def test_error_duration_has_error_type(reader: InMemoryMetricReader) -> None:
    provider = MeterProvider(metric_readers=[reader])
    fake = FakeOpenAI()
    fake.fail_next(500)
    client = fake.client(
        llmguard.OpenAI, guard=llmguard.Guard(meter_provider=provider, pin_policy="off"), max_retries=0
    )
    with pytest.raises(Exception, match="500"):
        client.chat.completions.create(
            model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}]
        )
    (point,) = points(reader)[sc.GEN_AI_CLIENT_OPERATION_DURATION]
    assert dict(point.attributes or {})[sc.ERROR_TYPE] == "openai.InternalServerError"
    assert sc.GEN_AI_CLIENT_OPERATION_COST not in points(reader)
    provider.shutdown()


def test_legacy_cost_counter_on_request(reader: InMemoryMetricReader) -> None:
    provider = MeterProvider(metric_readers=[reader])
    guard = llmguard.Guard(meter_provider=provider, pin_policy="off", telemetry={"legacy_cost": True})
    with FakeOpenAI(usage=FakeUsage(input_tokens=20, output_tokens=10)).client(
        llmguard.OpenAI, guard=guard
    ) as c:
        c.chat.completions.create(model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}])
    found = points(reader)
    (counter,) = found[sc.LLMGUARD_CLIENT_COST]
    (histogram,) = found[sc.GEN_AI_CLIENT_OPERATION_COST]
    assert isinstance(counter, NumberDataPoint)
    assert counter.value == pytest.approx(histogram.sum)
    assert set(dict(counter.attributes or {})) == {sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_RESPONSE_MODEL}
    provider.shutdown()


def test_metrics_can_be_turned_off(reader: InMemoryMetricReader) -> None:
    provider = MeterProvider(metric_readers=[reader])
    guard = llmguard.Guard(meter_provider=provider, pin_policy="off", telemetry={"metrics": False})
    FakeOpenAI().client(llmguard.OpenAI, guard=guard).chat.completions.create(
        model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}]
    )
    data = reader.get_metrics_data()
    assert data is None or not data.resource_metrics
    provider.shutdown()
