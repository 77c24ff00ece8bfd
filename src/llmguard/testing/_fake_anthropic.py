"""A fake of the Anthropic HTTP API: messages, streamed or not, and token counting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._fake import FakeProvider, ReplyContext, collect_text
from ._models import FakeRequest, TokenCounts, estimate_tokens
from ._sse import SSEEvent
from ._wire import Payload

__all__ = ["FakeAnthropic"]

_ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class FakeAnthropic(FakeProvider):
    """A fake Anthropic API at `https://fake-anthropic.test`.

    Serves `POST /v1/messages` (streamed or not) and `POST /v1/messages/count_tokens` with the
    JSON and SSE shapes the anthropic SDK parses; any other path gets a 404 in Anthropic's
    error shape. Reported `input_tokens` exclude cache reads and writes, as the real API does.

    Example:
        ```python
        fake = FakeAnthropic(reply="hi")
        with fake.client(anthropic.Anthropic) as client:
            client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=[...])
        ```
    """

    base_url: ClassVar[str] = "https://fake-anthropic.test"
    _request_id_header: ClassVar[str] = "request-id"

    def render(self, request: FakeRequest, sequence: int) -> Payload | None:
        """Render the answer to a request; see `FakeProvider.render`."""
        if request.method != "POST":
            return None
        if request.path == "/v1/messages":
            return _messages(self, request, sequence)
        if request.path == "/v1/messages/count_tokens":
            return {"input_tokens": estimate_tokens(_prompt(request))}
        return None

    def error_body(self, status: int, message: str) -> Mapping[str, Any]:
        """Render `{"type": "error", "error": {"type", "message"}}`; see `FakeProvider.error_body`."""
        kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


def _prompt(request: FakeRequest) -> str:
    return collect_text([request.body.get("system"), request.body.get("messages")])


def _messages(fake: FakeAnthropic, request: FakeRequest, sequence: int) -> Payload:
    ctx = fake.reply_context(request, sequence, "msg", _prompt(request))
    if request.stream:
        return _message_events(ctx)
    content = [{"type": "text", "text": ctx.text, "citations": None}]
    return {**_message(ctx, content, "end_turn"), "usage": _usage(ctx.tokens, ctx.tokens.output_total)}


def _message(ctx: ReplyContext, content: list[dict[str, Any]], stop_reason: str | None) -> dict[str, Any]:
    return {
        "id": ctx.id,
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }


def _usage(tokens: TokenCounts, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": tokens.input,
        "cache_creation_input_tokens": tokens.cache_write,
        "cache_read_input_tokens": tokens.cached,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message_events(ctx: ReplyContext) -> list[SSEEvent]:
    start = {**_message(ctx, [], None), "usage": _usage(ctx.tokens, 1)}
    delta = {"stop_reason": "end_turn", "stop_sequence": None}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"message": start}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("ping", {}),
        *(
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}})
            for p in ctx.pieces
        ),
        ("content_block_stop", {"index": 0}),
        ("message_delta", {"delta": delta, "usage": {"output_tokens": ctx.tokens.output_total}}),
        ("message_stop", {}),
    ]
    return [SSEEvent({"type": kind, **data}, event=kind) for kind, data in events]
