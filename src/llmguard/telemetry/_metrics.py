"""GenAI client metrics (with the spec's bucket advice) and llmguard's cost counter."""

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
    """

    __slots__ = ("_cache", "cost", "duration", "tokens", "ttfc")

    def __init__(self, meter: Meter) -> None:
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
        self.cost = meter.create_counter(
            sc.LLMGUARD_CLIENT_COST, unit="USD", description="Spend on GenAI calls."
        )
        self._cache: dict[tuple[str | int | None, ...], _Sets] = {}

    def record(self, record: CallRecord) -> None:
        """Record one finished call."""
        attrs = self._sets(record)
        if record.error_type is None:
            self.duration.record(record.duration_s, attrs.base)
        else:
            self.duration.record(record.duration_s, {**attrs.base, sc.ERROR_TYPE: record.error_type})
        usage = record.usage
        if usage.input_tokens is not None:
            self.tokens.record(usage.input_tokens, attrs.input)
        if usage.output_tokens is not None:
            self.tokens.record(usage.output_tokens, attrs.output)
        if record.time_to_first_chunk_s is not None:
            self.ttfc.record(record.time_to_first_chunk_s, attrs.base)
        if record.cost is not None:
            self.cost.add(float(record.cost.total), attrs.cost)

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


class _Sets:
    """The metric attribute sets shared by every call with the same models, server and prompt.

    Read-only once built: the SDK may keep a reference to the dict it was given.
    """

    __slots__ = ("base", "cost", "input", "output")

    def __init__(self, record: CallRecord) -> None:
        self.base = _attributes(record)
        self.input = {**self.base, sc.GEN_AI_TOKEN_TYPE: "input"}
        self.output = {**self.base, sc.GEN_AI_TOKEN_TYPE: "output"}
        self.cost = _cost_attributes(record)


def _cost_attributes(record: CallRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.GEN_AI_PROVIDER_NAME: record.provider,
        sc.GEN_AI_RESPONSE_MODEL: record.response_model or record.request_model or "",
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
