"""A fake of the OpenAI HTTP API: chat completions, responses, completions and embeddings."""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from ._fake import FakeProvider, ReplyContext, collect_text
from ._models import FakeRequest, TokenCounts, estimate_tokens
from ._sse import DONE, SSEEvent
from ._wire import Payload

__all__ = ["FakeOpenAI", "word_embedding"]

_FINGERPRINT = "fp_fake"
_ERROR_TYPES: Mapping[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "unknown_url"),
    429: ("requests", "rate_limit_exceeded"),
}


class FakeOpenAI(FakeProvider):
    """A fake OpenAI API at `https://fake-openai.test/v1`.

    Serves `POST /chat/completions`, `/responses`, `/completions` and `/embeddings`, streamed
    or not, with the JSON and SSE shapes the openai SDK parses; any other path gets a 404 in
    OpenAI's error shape. Streamed chat and completions send the usage-only chunk only when
    the request sets `stream_options.include_usage`, as the real API does.

    Example:
        ```python
        fake = FakeOpenAI(reply="hi")
        with fake.client(openai.OpenAI) as client:
            client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        assert fake.call_count == 1
        ```
    """

    base_url: ClassVar[str] = "https://fake-openai.test/v1"

    embedding_dimensions: int = 8
    """The length of fake embedding vectors when the request does not set `dimensions`."""

    embedder: Callable[[str, int], Sequence[float]] | None = None
    """`(text, dimensions) -> vector` for `/embeddings`; `None` hashes each whole text to its own
    unit vector (deterministic, but unrelated texts and near-identical ones are equally far apart).
    Set it to `word_embedding` for vectors where texts sharing words are close (drift demos)."""

    def render(self, request: FakeRequest, sequence: int) -> Payload | None:
        """Render the answer to a request; see `FakeProvider.render`."""
        route = _ROUTES.get((request.method, _endpoint(request.path)))
        return None if route is None else route(self, request, sequence)

    def error_body(self, status: int, message: str) -> Mapping[str, Any]:
        """Render `{"error": {"message", "type", "param", "code"}}`; see `FakeProvider.error_body`."""
        default = ("invalid_request_error", None) if status < 500 else ("server_error", None)
        kind, code = _ERROR_TYPES.get(status, default)
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _include_usage(request: FakeRequest) -> bool:
    options = request.body.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def _usage(tokens: TokenCounts) -> dict[str, Any]:
    prompt_details: dict[str, int] = {"cached_tokens": tokens.cached, "audio_tokens": 0}
    if tokens.cache_write:
        prompt_details["cache_write_tokens"] = tokens.cache_write
    return {
        "prompt_tokens": tokens.prompt_total,
        "completion_tokens": tokens.output_total,
        "total_tokens": tokens.prompt_total + tokens.output_total,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": tokens.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


# -- chat completions ---------------------------------------------------------------------------


def _chat(fake: FakeOpenAI, request: FakeRequest, sequence: int) -> Payload:
    prompt = collect_text(request.body.get("messages"))
    ctx = fake.reply_context(request, sequence, "chatcmpl", prompt)
    if request.stream:
        events = _chat_events(ctx, _include_usage(request))
        tier = _service_tier(request)
        if tier is None:
            return events
        return [
            SSEEvent({**e.data, "service_tier": tier}) if isinstance(e.data, Mapping) else e for e in events
        ]
    message: dict[str, Any] = {"role": "assistant", "content": ctx.text, "refusal": None, "annotations": []}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    body = {**_envelope(ctx, "chat.completion"), "choices": [choice], "usage": _usage(ctx.tokens)}
    return _with_tier(body, request)


def _service_tier(request: FakeRequest) -> str | None:
    """The tier a service-tier request is served on (``auto`` resolves to ``default``); None when not asked."""
    tier = request.body.get("service_tier")
    if not isinstance(tier, str):
        return None
    return "default" if tier == "auto" else tier


def _with_tier(body: dict[str, Any], request: FakeRequest) -> dict[str, Any]:
    tier = _service_tier(request)
    return body if tier is None else {**body, "service_tier": tier}


def _envelope(ctx: ReplyContext, obj: str) -> dict[str, Any]:
    return {
        "id": ctx.id,
        "object": obj,
        "created": ctx.created,
        "model": ctx.model,
        "system_fingerprint": _FINGERPRINT,
    }


def _chat_chunk(
    ctx: ReplyContext, delta: Mapping[str, Any] | None, finish: str | None = None
) -> dict[str, Any]:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {**_envelope(ctx, "chat.completion.chunk"), "choices": choices}


def _chat_events(ctx: ReplyContext, include_usage: bool) -> list[SSEEvent]:
    chunks = [_chat_chunk(ctx, {"role": "assistant", "content": "", "refusal": None})]
    chunks += [_chat_chunk(ctx, {"content": piece}) for piece in ctx.pieces]
    chunks.append(_chat_chunk(ctx, {}, "stop"))
    return _finish_stream(chunks, _chat_chunk(ctx, None), ctx.tokens, include_usage)


def _finish_stream(
    chunks: list[dict[str, Any]], usage_chunk: dict[str, Any], tokens: TokenCounts, include_usage: bool
) -> list[SSEEvent]:
    if include_usage:
        chunks = [{**chunk, "usage": None} for chunk in chunks]
        chunks.append({**usage_chunk, "usage": _usage(tokens)})
    return [*(SSEEvent(chunk) for chunk in chunks), DONE]


# -- legacy completions -------------------------------------------------------------------------


def _completion(fake: FakeOpenAI, request: FakeRequest, sequence: int) -> Payload:
    ctx = fake.reply_context(request, sequence, "cmpl", collect_text(request.body.get("prompt")))
    if request.stream:
        chunks = [_completion_body(ctx, piece, None) for piece in ctx.pieces]
        chunks.append(_completion_body(ctx, "", "stop"))
        usage_chunk = {**_completion_body(ctx, "", None), "choices": []}
        return _finish_stream(chunks, usage_chunk, ctx.tokens, _include_usage(request))
    return {**_completion_body(ctx, ctx.text, "stop"), "usage": _usage(ctx.tokens)}


def _completion_body(ctx: ReplyContext, text: str, finish: str | None) -> dict[str, Any]:
    choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
    return {**_envelope(ctx, "text_completion"), "choices": [choice]}


# -- responses ------------------------------------------------------------------------------------


def _responses(fake: FakeOpenAI, request: FakeRequest, sequence: int) -> Payload:
    body = request.body
    prompt = collect_text([body.get("instructions"), body.get("input")])
    ctx = fake.reply_context(request, sequence, "resp", prompt)
    item_id = fake.id_factory("msg", sequence)
    final = _with_tier(
        _response(ctx, request, [_message_item(item_id, ctx.text, "completed")], completed=True), request
    )
    if not request.stream:
        return final
    return _response_events(ctx, request, item_id, final)


def _message_item(item_id: str, text: str | None, status: str) -> dict[str, Any]:
    content = [] if text is None else [_output_text(text)]
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _response(
    ctx: ReplyContext, request: FakeRequest, output: list[dict[str, Any]], *, completed: bool
) -> dict[str, Any]:
    body = request.body
    return {
        "id": ctx.id,
        "object": "response",
        "created_at": ctx.created,
        "status": "completed" if completed else "in_progress",
        "model": ctx.model,
        "output": output,
        "instructions": body.get("instructions"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "metadata": body.get("metadata", {}),
        "previous_response_id": body.get("previous_response_id"),
        "text": {"format": {"type": "text"}},
        "error": None,
        "incomplete_details": None,
        "usage": _response_usage(ctx.tokens) if completed else None,
    }


def _response_usage(tokens: TokenCounts) -> dict[str, Any]:
    return {
        "input_tokens": tokens.prompt_total,
        "input_tokens_details": {"cached_tokens": tokens.cached, "cache_write_tokens": tokens.cache_write},
        "output_tokens": tokens.output_total,
        "output_tokens_details": {"reasoning_tokens": tokens.reasoning},
        "total_tokens": tokens.prompt_total + tokens.output_total,
    }


def _response_events(
    ctx: ReplyContext, request: FakeRequest, item_id: str, final: dict[str, Any]
) -> list[SSEEvent]:
    started = _response(ctx, request, [], completed=False)
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": started}),
        ("response.in_progress", {"response": started}),
        (
            "response.output_item.added",
            {"output_index": 0, "item": _message_item(item_id, None, "in_progress")},
        ),
        ("response.content_part.added", {**where, "part": _output_text("")}),
        *(("response.output_text.delta", {**where, "delta": piece, "logprobs": []}) for piece in ctx.pieces),
        ("response.output_text.done", {**where, "text": ctx.text, "logprobs": []}),
        ("response.content_part.done", {**where, "part": _output_text(ctx.text)}),
        ("response.output_item.done", {"output_index": 0, "item": final["output"][0]}),
        ("response.completed", {"response": final}),
    ]
    return [
        SSEEvent({"type": kind, "sequence_number": number, **data}, event=kind)
        for number, (kind, data) in enumerate(events)
    ]


# -- embeddings -----------------------------------------------------------------------------------


def _embeddings(fake: FakeOpenAI, request: FakeRequest, sequence: int) -> Payload:
    texts = _embedding_inputs(request.body.get("input"))
    dimensions = request.body.get("dimensions") or fake.embedding_dimensions
    as_base64 = request.body.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _vector(text, dimensions, as_base64, fake.embedder),
        }
        for index, text in enumerate(texts)
    ]
    tokens = sum(estimate_tokens(text) for text in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": fake.served_model(request), "usage": usage}


def _embedding_inputs(value: object) -> list[str]:
    if isinstance(value, list) and value and not all(isinstance(item, int) for item in value):
        return [item if isinstance(item, str) else repr(item) for item in value]
    return [value if isinstance(value, str) else repr(value)]


def _hashed(text: str, dimensions: int) -> list[float]:
    """A deterministic vector in [-1, 1]^dimensions from SHA-256 of ``text`` (counter mode)."""
    out: list[float] = []
    block = 0
    while len(out) < dimensions:
        digest = hashlib.sha256(f"{block}\0{text}".encode()).digest()
        out.extend((byte - 127.5) / 127.5 for byte in digest)
        block += 1
    return out[:dimensions]


def _unit(raw: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in raw)) or 1.0
    return [value / norm for value in raw]


def word_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic bag-of-words embedding: the unit sum of one hashed vector per lowercase word.

    Texts that share words get close vectors and texts on other words far ones, so a traffic mix
    that changes topic moves the embeddings as a real model's would. Use it as `FakeOpenAI.embedder`.
    """
    total = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9']+", text.lower()):
        for index, value in enumerate(_hashed(word, dimensions)):
            total[index] += value
    return _unit(total)


def _vector(
    text: str, dimensions: int, as_base64: bool, embedder: Callable[[str, int], Sequence[float]] | None = None
) -> list[float] | str:
    if embedder is not None:
        vector = [float(value) for value in embedder(text, dimensions)]
    else:
        seed = hashlib.sha256(text.encode()).digest()
        vector = _unit([(seed[index % len(seed)] - 127.5) / 127.5 for index in range(dimensions)])
    if as_base64:
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


_Route = Callable[[FakeOpenAI, FakeRequest, int], Payload]

_ROUTES: Mapping[tuple[str, str], _Route] = {
    ("POST", "/chat/completions"): _chat,
    ("POST", "/responses"): _responses,
    ("POST", "/completions"): _completion,
    ("POST", "/embeddings"): _embeddings,
}


def _endpoint(path: str) -> str:
    """The API endpoint of a request path (Azure deployment paths included)."""
    if path.startswith("/openai/deployments/"):
        parts = path.split("/", 4)
        return "/" + parts[4] if len(parts) > 4 else path
    return path.removeprefix("/v1")
