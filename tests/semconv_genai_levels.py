"""Requirement levels of GenAI client span attributes, as the semantic conventions set them.

Source (read 2026-12-01), repository ``open-telemetry/semantic-conventions-genai``:

- ``docs/gen-ai/openai.md`` at commit ``002c8a6ea1c8a42b14a4527db83b3cabcded610a``, "Inference" table;
- ``docs/gen-ai/anthropic.md`` at the same commit, "Inference" table;
- ``docs/gen-ai/client-embeddings.md`` at commit ``88eccb155ca7d6984826da1f4b1c08ee916e0f49``,
  span ``gen_ai.client.embeddings``.

Attribute names are the installed ``opentelemetry-semantic-conventions`` constants (the
``openai.*`` names included); only the levels and their conditions are kept here, as the Python
package carries names but not levels. Opt-in attributes (message content) and the per-modality
usage counts ("when the provider reports it"; neither fake reports them) are left out.

Each entry is ``name -> (level, condition)``. Conditions, evaluated by the conformance test against
the request it sent and the response it got:

``always``, ``error`` (the call failed), ``ok`` (it succeeded), ``stream`` (a streamed request),
``server_address`` (``server.address`` is set), ``session`` (a call context with a session was
active: the conversation id is then "available"), ``request:<key>`` (the body, ``extra_body``
included, has that key), ``request_not_auto:<key>`` (it has the key with a value other than
``auto``), ``request_not_one:<key>`` (present and not 1), ``output_format`` (the body asks for an
output format), ``response:<field>`` (the provider's response carried that field).

The usage detail counts (cache reads and writes, reasoning) are *Recommended* too; their presence
depends on what the provider reported and is checked in ``test_telemetry_spans.py``.
"""

from __future__ import annotations

from typing import Literal

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as ga
from opentelemetry.semconv._incubating.attributes import openai_attributes as oa
from opentelemetry.semconv._incubating.attributes import server_attributes
from opentelemetry.semconv.attributes import error_attributes

Level = Literal["required", "conditionally_required", "recommended"]
Entry = tuple[Level, str]

_COMMON_INFERENCE: dict[str, Entry] = {
    ga.GEN_AI_OPERATION_NAME: ("required", "always"),
    error_attributes.ERROR_TYPE: ("conditionally_required", "error"),
    ga.GEN_AI_CONVERSATION_ID: ("conditionally_required", "session"),
    ga.GEN_AI_OUTPUT_TYPE: ("conditionally_required", "output_format"),
    ga.GEN_AI_REQUEST_CHOICE_COUNT: ("conditionally_required", "request_not_one:n"),
    ga.GEN_AI_REQUEST_SEED: ("conditionally_required", "request:seed"),
    ga.GEN_AI_REQUEST_STREAM: ("conditionally_required", "stream"),
    server_attributes.SERVER_PORT: ("conditionally_required", "server_address"),
    ga.GEN_AI_REQUEST_FREQUENCY_PENALTY: ("recommended", "request:frequency_penalty"),
    ga.GEN_AI_REQUEST_MAX_TOKENS: ("recommended", "request:max_tokens"),
    ga.GEN_AI_REQUEST_PRESENCE_PENALTY: ("recommended", "request:presence_penalty"),
    ga.GEN_AI_REQUEST_STOP_SEQUENCES: ("recommended", "request:stop"),
    ga.GEN_AI_REQUEST_TEMPERATURE: ("recommended", "request:temperature"),
    ga.GEN_AI_REQUEST_TOP_P: ("recommended", "request:top_p"),
    ga.GEN_AI_RESPONSE_FINISH_REASONS: ("recommended", "ok"),
    ga.GEN_AI_RESPONSE_ID: ("recommended", "ok"),
    ga.GEN_AI_RESPONSE_MODEL: ("recommended", "ok"),
    ga.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: ("recommended", "stream"),
    ga.GEN_AI_USAGE_INPUT_TOKENS: ("recommended", "ok"),
    ga.GEN_AI_USAGE_OUTPUT_TOKENS: ("recommended", "ok"),
    server_attributes.SERVER_ADDRESS: ("recommended", "always"),
}

OPENAI_INFERENCE: dict[str, Entry] = {
    **_COMMON_INFERENCE,
    ga.GEN_AI_REQUEST_MODEL: ("required", "always"),
    ga.GEN_AI_REQUEST_TOP_K: ("conditionally_required", "request:top_k"),
    oa.OPENAI_REQUEST_SERVICE_TIER: ("conditionally_required", "request_not_auto:service_tier"),
    oa.OPENAI_RESPONSE_SERVICE_TIER: ("conditionally_required", "response:service_tier"),
    oa.OPENAI_API_TYPE: ("recommended", "always"),
    oa.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: ("recommended", "response:system_fingerprint"),
}
"""openai.md, Inference."""

ANTHROPIC_INFERENCE: dict[str, Entry] = {
    **_COMMON_INFERENCE,
    ga.GEN_AI_REQUEST_MODEL: ("conditionally_required", "request:model"),
    ga.GEN_AI_REQUEST_TOP_K: ("recommended", "request:top_k"),
    ga.GEN_AI_REQUEST_STOP_SEQUENCES: ("recommended", "request:stop_sequences"),
}
"""anthropic.md, Inference."""

EMBEDDINGS: dict[str, Entry] = {
    ga.GEN_AI_OPERATION_NAME: ("required", "always"),
    ga.GEN_AI_PROVIDER_NAME: ("required", "always"),
    error_attributes.ERROR_TYPE: ("conditionally_required", "error"),
    ga.GEN_AI_REQUEST_MODEL: ("conditionally_required", "request:model"),
    server_attributes.SERVER_PORT: ("conditionally_required", "server_address"),
    ga.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: ("recommended", "ok"),
    ga.GEN_AI_REQUEST_ENCODING_FORMATS: ("recommended", "request:encoding_format"),
    ga.GEN_AI_RESPONSE_MODEL: ("recommended", "ok"),
    ga.GEN_AI_USAGE_INPUT_TOKENS: ("recommended", "ok"),
    server_attributes.SERVER_ADDRESS: ("recommended", "always"),
}
"""client-embeddings.md, span ``gen_ai.client.embeddings``."""
