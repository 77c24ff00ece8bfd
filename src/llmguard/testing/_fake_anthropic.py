"""A fake of the Anthropic HTTP API: messages (text or ``tool_use``), streamed or not, and token counting."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from ._fake import DEFAULT_REPLY, FakeProvider, ReplyContext, collect_text
from ._models import FakeRequest, FakeUsage, TokenCounts, estimate_tokens
from ._sse import SSEEvent, split_words
from ._tools import FakeToolUse, ToolUseReply, resolve_tool_uses
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

    Args:
        tool_use: What to answer a request that lists ``tools`` with (see `ToolUseReply`):
            `FakeToolUse` calls, a function of the request, ``"auto"``, or `None` (text, the
            default). A tool answer has ``tool_use`` content blocks and ``stop_reason``
            ``"tool_use"``; streamed, each block's input arrives as ``input_json_delta`` events.
            A request without ``tools`` (or with ``tool_choice: {"type": "none"}``) gets text.
        reply: As for `FakeProvider`.
        model: As for `FakeProvider`.
        usage: As for `FakeProvider`.
        latency: As for `FakeProvider`.
        chunker: As for `FakeProvider`.
        id_factory: As for `FakeProvider`.

    Example:
        ```python
        fake = FakeAnthropic(reply="hi")
        with fake.client(anthropic.Anthropic) as client:
            client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=[...])

        fake = FakeAnthropic(tool_use=FakeToolUse("get_weather", {"city": "Paris"}))
        message = client.messages.create(..., tools=[weather_tool])
        assert message.stop_reason == "tool_use"
        ```
    """

    base_url: ClassVar[str] = "https://fake-anthropic.test"
    _request_id_header: ClassVar[str] = "request-id"

    def __init__(
        self,
        *,
        reply: str | Callable[[FakeRequest], str] = DEFAULT_REPLY,
        model: str | Callable[[FakeRequest], str] | None = None,
        usage: FakeUsage | None = None,
        latency: float = 0.0,
        chunker: Callable[[str], Sequence[str]] = split_words,
        id_factory: Callable[[str, int], str] | None = None,
        tool_use: ToolUseReply = None,
    ) -> None:
        super().__init__(
            reply=reply, model=model, usage=usage, latency=latency, chunker=chunker, id_factory=id_factory
        )
        self.tool_use = tool_use

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
    uses = resolve_tool_uses(fake.tool_use, request)
    if uses:
        return _tool_reply(fake, request, sequence, uses)
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


def _tool_reply(
    fake: FakeAnthropic, request: FakeRequest, sequence: int, uses: Sequence[FakeToolUse]
) -> Payload:
    blocks = [
        {
            "type": "tool_use",
            "id": use.id or f"toolu_fake_{sequence:06d}_{i}",
            "name": use.name,
            "input": dict(use.input),
        }
        for i, use in enumerate(uses)
    ]
    arguments = [json.dumps(block["input"], separators=(",", ":")) for block in blocks]
    tokens = fake.token_counts(_prompt(request), "".join(arguments))
    ctx = ReplyContext(
        id=fake.id_factory("msg", sequence),
        model=fake.served_model(request),
        text="",
        pieces=(),
        tokens=tokens,
        created=int(time.time()),
    )
    if not request.stream:
        return {**_message(ctx, blocks, "tool_use"), "usage": _usage(tokens, tokens.output_total)}
    start = {**_message(ctx, [], None), "usage": _usage(tokens, 1)}
    delta = {"stop_reason": "tool_use", "stop_sequence": None}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"message": start}),
        *_tool_block_events(blocks, arguments),
        ("message_delta", {"delta": delta, "usage": {"output_tokens": tokens.output_total}}),
        ("message_stop", {}),
    ]
    return [SSEEvent({"type": kind, **data}, event=kind) for kind, data in events]


def _tool_block_events(
    blocks: list[dict[str, Any]], arguments: list[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, (block, text) in enumerate(zip(blocks, arguments, strict=True)):
        yield "content_block_start", {"index": index, "content_block": {**block, "input": {}}}
        yield (
            "content_block_delta",
            {"index": index, "delta": {"type": "input_json_delta", "partial_json": text}},
        )
        yield "content_block_stop", {"index": index}
