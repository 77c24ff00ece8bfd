"""Every attribute, metric and value name llmguard's telemetry emits, in one versioned module.

The GenAI names follow the OpenTelemetry GenAI semantic conventions as published in
``opentelemetry-semantic-conventions`` 0.66b2 (``gen_ai_attributes``), which track the
``semantic-conventions-genai`` registry (still *Development* status). Two deliberate departures:

- `GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS` is the registry's newer name
  (``cache_creation`` was renamed to ``cache_write``); the old name is emitted too only when
  asked (`GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS`), because backends lag the rename.
- Cost has no registered attribute yet. llmguard follows the open proposal
  (semantic-conventions-genai PR 443): `GEN_AI_USAGE_COST_AMOUNT`, `GEN_AI_USAGE_COST_CURRENCY`,
  `GEN_AI_USAGE_COST_SOURCE` (``local``: priced here) and the `GEN_AI_CLIENT_OPERATION_COST`
  histogram. The older de facto `GEN_AI_USAGE_COST` (read by Langfuse and OpenLIT) is emitted only
  when asked (``TelemetryOptions(legacy_cost=True)``); the breakdown lives under ``llmguard.*``.
- The call context's tags and metadata live under ``llmguard.tags`` and `LLMGUARD_METADATA_PREFIX`.

A test asserts these strings equal the package's constants.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BUCKETS_DURATION",
    "BUCKETS_TOKENS",
    "ERROR_TYPE",
    "GEN_AI_CLIENT_OPERATION_COST",
    "GEN_AI_CLIENT_OPERATION_DURATION",
    "GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK",
    "GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK",
    "GEN_AI_CLIENT_TOKEN_USAGE",
    "GEN_AI_CONVERSATION_ID",
    "GEN_AI_EMBEDDINGS_DIMENSION_COUNT",
    "GEN_AI_INPUT_MESSAGES",
    "GEN_AI_OPERATION_NAME",
    "GEN_AI_OUTPUT_MESSAGES",
    "GEN_AI_OUTPUT_TYPE",
    "GEN_AI_PROMPT_NAME",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_CHOICE_COUNT",
    "GEN_AI_REQUEST_ENCODING_FORMATS",
    "GEN_AI_REQUEST_FREQUENCY_PENALTY",
    "GEN_AI_REQUEST_MAX_TOKENS",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_REQUEST_PRESENCE_PENALTY",
    "GEN_AI_REQUEST_SEED",
    "GEN_AI_REQUEST_STOP_SEQUENCES",
    "GEN_AI_REQUEST_STREAM",
    "GEN_AI_REQUEST_TEMPERATURE",
    "GEN_AI_REQUEST_TOP_K",
    "GEN_AI_REQUEST_TOP_P",
    "GEN_AI_RESPONSE_FINISH_REASONS",
    "GEN_AI_RESPONSE_ID",
    "GEN_AI_RESPONSE_MODEL",
    "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK",
    "GEN_AI_SYSTEM_INSTRUCTIONS",
    "GEN_AI_TOKEN_TYPE",
    "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
    "GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS",
    "GEN_AI_USAGE_COST",
    "GEN_AI_USAGE_COST_AMOUNT",
    "GEN_AI_USAGE_COST_CURRENCY",
    "GEN_AI_USAGE_COST_SOURCE",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS",
    "LLMGUARD_CALL_ID",
    "LLMGUARD_CALL_KIND",
    "LLMGUARD_CLIENT_COST",
    "LLMGUARD_CONTENT_TRUNCATED",
    "LLMGUARD_COST_CACHE_READ",
    "LLMGUARD_COST_CACHE_WRITE",
    "LLMGUARD_COST_DATA_VERSION",
    "LLMGUARD_COST_INPUT",
    "LLMGUARD_COST_OUTPUT",
    "LLMGUARD_COST_PRICED",
    "LLMGUARD_COST_SOURCE",
    "LLMGUARD_METADATA_PREFIX",
    "LLMGUARD_MODEL_DRIFT",
    "LLMGUARD_MODEL_LOCKED",
    "LLMGUARD_MODEL_REQUESTED",
    "LLMGUARD_MODEL_SERVED",
    "LLMGUARD_PIN_ACTION",
    "LLMGUARD_PROMPT_HASH",
    "LLMGUARD_PROMPT_LABEL",
    "LLMGUARD_PROMPT_VERSION",
    "LLMGUARD_RETRIES",
    "LLMGUARD_STREAM_COMPLETED",
    "LLMGUARD_TAGS",
    "LLMGUARD_USAGE_OMITTED",
    "OPENAI_API_TYPE",
    "OPENAI_REQUEST_SERVICE_TIER",
    "OPENAI_RESPONSE_SERVICE_TIER",
    "OPENAI_RESPONSE_SYSTEM_FINGERPRINT",
    "SCHEMA_URL",
    "SEMCONV_VERSION",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "SESSION_ID",
    "USER_ID",
]

SEMCONV_VERSION: Final = "1.43.0"
"""The semantic-conventions schema these names were checked against (``opentelemetry-semantic-conventions`` 0.66b2)."""

SCHEMA_URL: Final = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
"""Schema URL given to the tracer and meter."""

# -- span attributes: GenAI semantic conventions --------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
"""Includes cached tokens (reads and writes), for every provider."""
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
"""The registry's current name (semantic-conventions-genai#440); not yet in the Python package."""
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
"""The older name, emitted only with ``TelemetryOptions(legacy_cache_creation=True)``."""
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
"""The call context's ``session_id``."""
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
OPENAI_API_TYPE: Final = "openai.api.type"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"
USER_ID: Final = "user.id"
"""The call context's ``user_id`` (personal data: ``TelemetryOptions(user_id=False)`` leaves it off)."""
SESSION_ID: Final = "session.id"
"""The call context's ``session_id`` again, under the general registry's name (Phoenix groups sessions by it)."""
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

GEN_AI_USAGE_COST_AMOUNT: Final = "gen_ai.usage.cost.amount"
"""Total cost of the call (proposal: semantic-conventions-genai PR 443, not yet in the registry)."""
GEN_AI_USAGE_COST_CURRENCY: Final = "gen_ai.usage.cost.currency"
"""ISO 4217 code of the amount: always ``USD`` (proposal, PR 443)."""
GEN_AI_USAGE_COST_SOURCE: Final = "gen_ai.usage.cost.source"
"""``local``: llmguard computed the amount from its price data (proposal, PR 443)."""
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"
"""Total cost in USD under the older de facto name Langfuse and OpenLIT read (``TelemetryOptions(legacy_cost=True)``)."""

# -- span attributes: llmguard's own ----------------------------------------------------------------
LLMGUARD_CALL_ID: Final = "llmguard.call.id"
LLMGUARD_CALL_KIND: Final = "llmguard.call.kind"
LLMGUARD_PIN_ACTION: Final = "llmguard.pin.action"
LLMGUARD_MODEL_REQUESTED: Final = "llmguard.model.requested"
LLMGUARD_MODEL_LOCKED: Final = "llmguard.model.locked"
LLMGUARD_MODEL_SERVED: Final = "llmguard.model.served"
LLMGUARD_MODEL_DRIFT: Final = "llmguard.model.drift"
LLMGUARD_PROMPT_VERSION: Final = "llmguard.prompt.version"
LLMGUARD_PROMPT_LABEL: Final = "llmguard.prompt.label"
LLMGUARD_PROMPT_HASH: Final = "llmguard.prompt.hash"
LLMGUARD_STREAM_COMPLETED: Final = "llmguard.stream.completed"
LLMGUARD_RETRIES: Final = "llmguard.retries"
LLMGUARD_USAGE_OMITTED: Final = "llmguard.usage.omitted"
"""No longer set: llmguard's span is the parent of the Anthropic SDK's own span and keeps usage and cost."""
LLMGUARD_TAGS: Final = "llmguard.tags"
"""The call context's tags (string array, at most 32 of up to 64 characters)."""
LLMGUARD_METADATA_PREFIX: Final = "llmguard.metadata."
"""Prefix of the call context's metadata keys (at most 32 keys, values up to 256 characters)."""
LLMGUARD_CONTENT_TRUNCATED: Final = "llmguard.content.truncated"
LLMGUARD_COST_PRICED: Final = "llmguard.cost.priced"
LLMGUARD_COST_INPUT: Final = "llmguard.cost.input"
LLMGUARD_COST_OUTPUT: Final = "llmguard.cost.output"
LLMGUARD_COST_CACHE_READ: Final = "llmguard.cost.cache_read"
LLMGUARD_COST_CACHE_WRITE: Final = "llmguard.cost.cache_write"
LLMGUARD_COST_SOURCE: Final = "llmguard.cost.source"
LLMGUARD_COST_DATA_VERSION: Final = "llmguard.cost.data_version"

# -- metrics ----------------------------------------------------------------------------------------
GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
"""Recorded for each streamed chunk after the first: time since the previous chunk."""
GEN_AI_CLIENT_OPERATION_COST: Final = "gen_ai.client.operation.cost"
"""Histogram of the cost per priced call (proposal: semantic-conventions-genai PR 443)."""
LLMGUARD_CLIENT_COST: Final = "llmguard.client.cost"
"""Counter of spend in USD by provider, model and prompt (only with ``TelemetryOptions(legacy_cost=True)``)."""

BUCKETS_DURATION: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
"""The spec's recommended boundaries for ``operation.duration``, ``time_to_first_chunk`` and ``time_per_output_chunk`` (s)."""

BUCKETS_TOKENS: Final = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
"""The spec's recommended boundaries for ``gen_ai.client.token.usage``."""
