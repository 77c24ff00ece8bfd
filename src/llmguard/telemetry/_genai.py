"""Small pure functions for the GenAI attributes beyond the common request set.

Each reads the call (or its record) and adds to an attribute dict; none allocates when its input
is absent, so a plain chat call pays a few dict lookups. Kept apart from the observer so the hot
path can precompute or reorder them freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _semconv as sc

if TYPE_CHECKING:
    from llmguard._record import CallRecord
    from llmguard._scope import ContextValues

__all__ = [
    "OPENAI_API_TYPES",
    "context_attributes",
    "embedding_attributes",
    "embeddings_request_attributes",
    "openai_request_attributes",
    "output_type",
    "response_service_attributes",
]

OPENAI_API_TYPES: dict[str, str] = {"chat.completions": "chat_completions", "responses": "responses"}
"""SDK endpoint -> ``openai.api.type`` (the registry's well-known values only)."""

_JSON_FORMATS = frozenset({"json_object", "json_schema", "json"})


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def output_type(api: str, body: Mapping[str, Any]) -> str | None:
    """``gen_ai.output.type`` requested by the body: ``json``, ``text``, ``speech`` or ``None`` (not asked)."""
    if api == "responses":
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, Mapping) else None
    elif api == "messages":
        fmt = body.get("output_format")
        if fmt is None:
            config = body.get("output_config")
            fmt = config.get("format") if isinstance(config, Mapping) else None
    else:
        modalities = body.get("modalities")
        if isinstance(modalities, list | tuple) and "audio" in modalities:
            return "speech"
        fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if not isinstance(kind, str):
        return None
    return "json" if kind in _JSON_FORMATS else "text" if kind == "text" else kind


def openai_request_attributes(body: Mapping[str, Any], attrs: dict[str, Any]) -> None:
    """``openai.request.service_tier`` (the OpenAI API itself only; ``openai.api.type`` comes from the endpoint).

    Other providers behind the OpenAI protocol (Azure, Groq...) get no ``openai.*`` attributes, as the
    conventions expect provider-specific attributes to match ``gen_ai.provider.name``.
    """
    tier = body.get("service_tier")
    if isinstance(tier, str) and tier != "auto":
        attrs[sc.OPENAI_REQUEST_SERVICE_TIER] = tier


def embeddings_request_attributes(body: Mapping[str, Any], attrs: dict[str, Any]) -> None:
    """``gen_ai.request.encoding_formats`` and ``gen_ai.embeddings.dimension.count`` from the request."""
    fmt = body.get("encoding_format")
    # The OpenAI SDK asks for base64 on the wire unless told otherwise; record what was sent.
    if isinstance(fmt, str):
        attrs[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = (fmt,)
    dimensions = body.get("dimensions")
    if _number(dimensions):
        attrs[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions


def context_attributes(scope: ContextValues, attrs: dict[str, Any], *, user_id: bool = True) -> None:
    """The call context on a span: conversation, user (unless turned off), tags, metadata (already capped)."""
    if scope.session_id is not None:
        attrs[sc.GEN_AI_CONVERSATION_ID] = scope.session_id
        attrs[sc.SESSION_ID] = scope.session_id
    if user_id and scope.user_id is not None:
        attrs[sc.USER_ID] = scope.user_id
    if scope.tags:
        attrs[sc.LLMGUARD_TAGS] = scope.tags
    for key, value in scope.metadata.items():
        attrs[sc.LLMGUARD_METADATA_PREFIX + key] = value


def response_service_attributes(record: CallRecord, attrs: dict[str, Any]) -> None:
    """``openai.response.service_tier`` and ``.system_fingerprint`` when the OpenAI API returned them."""
    if record.provider != "openai":
        return
    if record.service_tier is not None:
        attrs[sc.OPENAI_RESPONSE_SERVICE_TIER] = record.service_tier
    if record.system_fingerprint is not None:
        attrs[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = record.system_fingerprint


def embedding_attributes(record: CallRecord, attrs: dict[str, Any]) -> None:
    """``gen_ai.embeddings.dimension.count`` from the response, unless the request set it."""
    if record.embedding_dimensions is not None and record.request.get("dimensions") is None:
        attrs[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = record.embedding_dimensions
