"""GenAI client metrics (with the spec's bucket advice) and the cost histogram (a proposal, PR 443).

One record per instrument per call (plus one per streamed chunk for ``time_per_output_chunk``).
The pre-proposal ``llmguard.client.cost`` counter is kept only with ``TelemetryOptions(legacy_cost=True)``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.metrics import Meter

from llmguard._record import CallRecord

from . import _semconv as sc

__all__ = ["Metrics"]


class Metrics:
    """The instruments of one guard, recorded once per call from its record.

    Args:
        meter: The meter to create the instruments on.
        legacy_cost: Also record the ``llmguard.client.cost`` counter.
        chunk_metric: Record ``time_per_output_chunk`` (one record per streamed chunk after the first).
    """

    __slots__ = ("_cache", "chunk", "cost", "cost_histogram", "duration", "tokens", "ttfc")

    def __init__(self, meter: Meter, *, legacy_cost: bool = False, chunk_metric: bool = False) -> None:
        self.duration = meter.create_histogram(
            sc.GEN_AI_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=sc.BUCKETS_DURATION,
        )
        self.tokens = meter.create_histogram(
            sc.GEN_AI_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=sc.BUCKETS_TOKENS,
        )
        self.ttfc = meter.create_histogram(
            sc.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=sc.BUCKETS_DURATION,
        )
        self.chunk = (
            meter.create_histogram(
                sc.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
                unit="s",
                description="Time per output chunk, recorded for each chunk received after the first one.",
                explicit_bucket_boundaries_advisory=sc.BUCKETS_DURATION,
            )
            if chunk_metric
            else None
        )
        self.cost_histogram = meter.create_histogram(
            sc.GEN_AI_CLIENT_OPERATION_COST,
            unit="USD",
            description="Cost of a GenAI operation (proposal: semantic-conventions-genai PR 443).",
        )
        self.cost = (
            meter.create_counter(sc.LLMGUARD_CLIENT_COST, unit="USD", description="Spend on GenAI calls.")
            if legacy_cost
            else None
        )
        self._cache: dict[tuple[str | int | None, ...], _Sets] = {}

    def record(self, record: CallRecord) -> None:
        """Record one finished call."""
        attrs = self._sets(record)
        self.duration.record(record.duration_s, _duration_attributes(record, attrs.base))
        usage = record.usage
        if usage.input_tokens is not None:
            self.tokens.record(usage.input_tokens, attrs.input)
        if usage.output_tokens is not None:
            self.tokens.record(usage.output_tokens, attrs.output)
        if record.time_to_first_chunk_s is not None:
            self.ttfc.record(record.time_to_first_chunk_s, attrs.base)
            if self.chunk is not None:
                for gap in record.chunk_gaps_s:
                    self.chunk.record(gap, attrs.base)
        if record.cost is not None:
            total = float(record.cost.total)
            self.cost_histogram.record(total, attrs.cost)
            if self.cost is not None:
                self.cost.add(total, attrs.legacy_cost)

    def _sets(self, record: CallRecord) -> _Sets:
        prompt = record.prompt
        key = (
            record.operation,
            record.provider,
            record.request_model,
            record.response_model,
            record.server_address,
            record.server_port,
            prompt.name if prompt is not None else None,
        )
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _MAX_SETS:
                self._cache.clear()
            found = self._cache[key] = _Sets(record)
        return found


_MAX_SETS = 1024
"""Cached attribute sets per guard; the cache starts over when full."""

_LEGACY_COST_KEYS = frozenset({sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_RESPONSE_MODEL, sc.GEN_AI_PROMPT_NAME})


def _duration_attributes(record: CallRecord, attrs: dict[str, Any]) -> dict[str, Any]:
    """The duration's attributes: plus ``error.type``, and the OpenAI response facts openai.md recommends."""
    if record.error_type is None and (
        record.provider != "openai" or (record.service_tier is None and record.system_fingerprint is None)
    ):
        return attrs
    out = dict(attrs)
    if record.error_type is not None:
        out[sc.ERROR_TYPE] = record.error_type
    if record.provider == "openai":
        if record.service_tier is not None:
            out[sc.OPENAI_RESPONSE_SERVICE_TIER] = record.service_tier
        if record.system_fingerprint is not None:
            out[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = record.system_fingerprint
    return out


class _Sets:
    """The metric attribute sets shared by every call with the same models, server and prompt.

    Read-only once built: the SDK may keep a reference to the dict it was given.
    """

    __slots__ = ("base", "cost", "input", "legacy_cost", "output")

    def __init__(self, record: CallRecord) -> None:
        self.base = _attributes(record)
        self.input = {**self.base, sc.GEN_AI_TOKEN_TYPE: "input"}
        self.output = {**self.base, sc.GEN_AI_TOKEN_TYPE: "output"}
        self.cost = _cost_attributes(record)
        self.legacy_cost = {k: v for k, v in self.cost.items() if k in _LEGACY_COST_KEYS}


def _cost_attributes(record: CallRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: record.operation,
        sc.GEN_AI_PROVIDER_NAME: record.provider,
        sc.GEN_AI_RESPONSE_MODEL: record.response_model or record.request_model or "",
        sc.GEN_AI_USAGE_COST_CURRENCY: "USD",
        sc.GEN_AI_USAGE_COST_SOURCE: "local",
    }
    if record.prompt is not None:
        attrs[sc.GEN_AI_PROMPT_NAME] = record.prompt.name
    return attrs


def _attributes(record: CallRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: record.operation,
        sc.GEN_AI_PROVIDER_NAME: record.provider,
    }
    if record.request_model:
        attrs[sc.GEN_AI_REQUEST_MODEL] = record.request_model
    if record.response_model:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = record.response_model
    if record.server_address:
        attrs[sc.SERVER_ADDRESS] = record.server_address
    if record.server_port:
        attrs[sc.SERVER_PORT] = record.server_port
    return attrs
