"""The fake providers against the stock openai and anthropic SDK clients."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any, Literal, cast

import anthropic
import httpx
import openai
import pytest
import respx

import llmguard.testing
from llmguard.testing import FakeAnthropic, FakeOpenAI, FakeRequest, FakeUsage

Wire = Literal["httpx2", "httpx"]
MESSAGES: Any = [{"role": "user", "content": "Say hello to the test suite"}]
REPLY = "Hello there, test suite!"
USAGE = FakeUsage(input_tokens=12, output_tokens=5, cached_tokens=4, cache_write_tokens=2, reasoning_tokens=3)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["httpx2", "httpx"])
def wire(request: pytest.FixtureRequest) -> Wire:
    return cast(Wire, request.param)


def sync_openai(fake: FakeOpenAI, wire: Wire, **kwargs: Any) -> openai.OpenAI:
    http = fake.http_client() if wire == "httpx2" else fake.legacy_http_client()
    return openai.OpenAI(api_key="k", base_url=fake.base_url, http_client=cast(Any, http), **kwargs)


def async_openai(fake: FakeOpenAI, wire: Wire, **kwargs: Any) -> openai.AsyncOpenAI:
    http = fake.async_http_client() if wire == "httpx2" else fake.legacy_async_http_client()
    return openai.AsyncOpenAI(api_key="k", base_url=fake.base_url, http_client=cast(Any, http), **kwargs)


def assert_chat_usage(usage: openai.types.CompletionUsage | None) -> None:
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (18, 8, 26)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 4
    assert usage.prompt_tokens_details.cache_write_tokens == 2
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 3


def test_exported_members() -> None:
    assert llmguard.testing.__all__ == sorted(llmguard.testing.__all__)
    assert all(hasattr(llmguard.testing, name) for name in llmguard.testing.__all__)
    assert {"FakeAnthropic", "FakeOpenAI", "FakeUsage", "FakeRequest"} <= set(llmguard.testing.__all__)


# -- OpenAI chat completions ----------------------------------------------------------------------


def test_openai_chat_sync(wire: Wire) -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    with sync_openai(fake, wire) as client:
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.id == "chatcmpl-fake-000001"
    assert_chat_usage(completion.usage)
    assert fake.calls[0].path == "/v1/chat/completions"
    assert fake.calls[0].body["messages"] == MESSAGES


@pytest.mark.anyio
async def test_openai_chat_async(wire: Wire) -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    async with async_openai(fake, wire) as client:
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == REPLY
    assert_chat_usage(completion.usage)
    assert fake.calls[0].headers["x-stainless-async"].startswith("async")


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_chat_stream_sync(wire: Wire, include_usage: bool) -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    with sync_openai(fake, wire) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": include_usage},
        )
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    usage_chunks = [c for c in chunks if not c.choices]
    assert len(usage_chunks) == int(include_usage)
    if include_usage:
        assert_chat_usage(usage_chunks[0].usage)
    assert {c.id for c in chunks} == {"chatcmpl-fake-000001"}


@pytest.mark.anyio
@pytest.mark.parametrize("include_usage", [True, False])
async def test_openai_chat_stream_async(wire: Wire, include_usage: bool) -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    async with async_openai(fake, wire) as client:
        options: Any = {"include_usage": True} if include_usage else openai.omit
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=options
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert sum(1 for c in chunks if c.usage is not None) == int(include_usage)


def test_openai_chat_stream_helper_sync() -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    with (
        fake.client(openai.OpenAI) as client,
        client.chat.completions.stream(
            model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
        ) as stream,
    ):
        final = stream.get_final_completion()
    assert final.choices[0].message.content == REPLY
    assert_chat_usage(final.usage)


@pytest.mark.anyio
async def test_openai_chat_stream_helper_async() -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    async with (
        fake.client(openai.AsyncOpenAI) as client,
        client.chat.completions.stream(
            model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
        ) as stream,
    ):
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == REPLY
    assert_chat_usage(final.usage)


def test_openai_default_usage_is_estimated_from_lengths() -> None:
    fake = FakeOpenAI(reply="x" * 40)
    with fake.client(openai.OpenAI) as client:
        usage = client.chat.completions.create(model="m", messages=MESSAGES).usage
    assert usage is not None
    assert usage.completion_tokens == 10
    assert usage.prompt_tokens == 7  # 27 characters of prompt
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0


# -- OpenAI responses -----------------------------------------------------------------------------


def assert_response_usage(usage: openai.types.responses.ResponseUsage | None) -> None:
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (18, 8, 26)
    assert usage.input_tokens_details.cached_tokens == 4
    assert usage.output_tokens_details.reasoning_tokens == 3


def test_openai_responses_sync(wire: Wire) -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    with sync_openai(fake, wire) as client:
        response = client.responses.create(model="gpt-5", input="hello", instructions="be brief")
    assert response.output_text == REPLY
    assert response.id == "resp-fake-000001"
    assert response.status == "completed"
    assert_response_usage(response.usage)


def test_openai_responses_raw_stream_event_sequence() -> None:
    fake = FakeOpenAI(reply="one two")
    with fake.client(openai.OpenAI) as client:
        events = list(client.responses.create(model="gpt-5", input="hello", stream=True))
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(10))


def test_openai_responses_stream_helper_sync(wire: Wire) -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    with sync_openai(fake, wire) as client, client.responses.stream(model="gpt-5", input="hello") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == REPLY
    assert final.output_text == REPLY
    assert_response_usage(final.usage)


@pytest.mark.anyio
async def test_openai_responses_stream_helper_async(wire: Wire) -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    async with (
        async_openai(fake, wire) as client,
        client.responses.stream(model="gpt-5", input=MESSAGES) as stream,
    ):
        final = await stream.get_final_response()
    assert final.output_text == REPLY
    assert_response_usage(final.usage)


# -- OpenAI embeddings and legacy completions -----------------------------------------------------


def test_openai_embeddings_float_and_default_base64() -> None:
    fake = FakeOpenAI()
    with fake.client(openai.OpenAI) as client:
        floats = client.embeddings.create(model="te-3", input=["a", "b"], encoding_format="float")
        decoded = client.embeddings.create(model="te-3", input=["a", "b"])
        sized = client.embeddings.create(model="te-3", input="a", dimensions=3)
    assert len(floats.data) == 2
    assert len(floats.data[0].embedding) == FakeOpenAI.embedding_dimensions
    assert floats.data[0].embedding == pytest.approx(decoded.data[0].embedding, rel=1e-6)
    assert floats.data[0].embedding != floats.data[1].embedding
    assert floats.usage.prompt_tokens == 2
    assert len(sized.data[0].embedding) == 3
    assert fake.calls[1].body["encoding_format"] == "base64"


def test_openai_embeddings_base64_payload_is_float32() -> None:
    fake = FakeOpenAI()
    with fake.http_client() as http:
        body = http.post("/embeddings", json={"model": "m", "input": "a", "encoding_format": "base64"}).json()
    raw = base64.b64decode(body["data"][0]["embedding"])
    assert len(struct.unpack("<8f", raw)) == 8


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_legacy_completions(wire: Wire, include_usage: bool) -> None:
    fake = FakeOpenAI(reply=REPLY, usage=USAGE)
    with sync_openai(fake, wire) as client:
        completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hello")
        chunks = list(
            client.completions.create(
                model="gpt-3.5-turbo-instruct",
                prompt="Say hello",
                stream=True,
                stream_options={"include_usage": include_usage},
            )
        )
    assert completion.choices[0].text == REPLY
    assert_chat_usage(completion.usage)
    assert completion.id == "cmpl-fake-000001"
    assert "".join(c.choices[0].text for c in chunks if c.choices) == REPLY
    assert sum(1 for c in chunks if c.usage is not None) == int(include_usage)


# -- Anthropic messages ---------------------------------------------------------------------------


def assert_anthropic_usage(usage: anthropic.types.Usage) -> None:
    assert usage.input_tokens == 12
    assert usage.cache_read_input_tokens == 4
    assert usage.cache_creation_input_tokens == 2
    assert usage.output_tokens == 8


def test_anthropic_messages_sync() -> None:
    fake = FakeAnthropic(reply=REPLY, usage=USAGE)
    with fake.client(anthropic.Anthropic) as client:
        message = client.messages.create(model="claude-test-model", max_tokens=64, messages=MESSAGES)
    assert message.content[0].type == "text"
    assert message.content[0].text == REPLY
    assert message.model == "claude-test-model"
    assert message.id == "msg-fake-000001"
    assert message.stop_reason == "end_turn"
    assert_anthropic_usage(message.usage)
    assert fake.calls[0].path == "/v1/messages"


@pytest.mark.anyio
async def test_anthropic_messages_async() -> None:
    fake = FakeAnthropic(reply=REPLY, usage=USAGE)
    async with fake.client(anthropic.AsyncAnthropic) as client:
        message = await client.messages.create(model="claude-test-model", max_tokens=64, messages=MESSAGES)
    assert message.content[0].type == "text"
    assert message.content[0].text == REPLY
    assert_anthropic_usage(message.usage)


def test_anthropic_raw_stream_events() -> None:
    fake = FakeAnthropic(reply=REPLY, usage=USAGE)
    with fake.client(anthropic.Anthropic) as client:
        events = list(client.messages.create(model="c", max_tokens=64, messages=MESSAGES, stream=True))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 4
    start, delta = events[0], events[-2]
    assert start.type == "message_start"
    assert start.message.usage.input_tokens == 12
    assert delta.type == "message_delta"
    assert delta.usage.output_tokens == 8
    assert delta.delta.stop_reason == "end_turn"


def test_anthropic_stream_helper_sync() -> None:
    fake = FakeAnthropic(reply=REPLY, usage=USAGE)
    with (
        fake.client(anthropic.Anthropic) as client,
        client.messages.stream(model="claude-test-model", max_tokens=64, messages=MESSAGES) as stream,
    ):
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == REPLY
    assert final.content[0].type == "text"
    assert final.content[0].text == REPLY
    assert_anthropic_usage(final.usage)


@pytest.mark.anyio
async def test_anthropic_stream_helper_async() -> None:
    fake = FakeAnthropic(reply=REPLY, usage=USAGE)
    async with (
        fake.client(anthropic.AsyncAnthropic) as client,
        client.messages.stream(
            model="claude-test-model", max_tokens=64, messages=MESSAGES, system="Be nice."
        ) as stream,
    ):
        final = await stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert_anthropic_usage(final.usage)


def test_anthropic_count_tokens() -> None:
    fake = FakeAnthropic()
    with fake.client(anthropic.Anthropic) as client:
        counted = client.messages.count_tokens(model="c", messages=MESSAGES)
    assert counted.input_tokens == 7


def test_anthropic_sdk_rejects_legacy_httpx_clients() -> None:
    fake = FakeAnthropic()
    with fake.legacy_http_client() as http, pytest.raises(TypeError, match="httpx2"):
        anthropic.Anthropic(api_key="k", base_url=fake.base_url, http_client=cast(Any, http))


def test_legacy_httpx_client_serves_anthropic_shapes_directly() -> None:
    fake = FakeAnthropic(reply="hi")
    with fake.legacy_http_client() as http:
        body = http.post("/v1/messages", json={"model": "c", "max_tokens": 5, "messages": MESSAGES}).json()
    assert body["content"][0]["text"] == "hi"


# -- configuration --------------------------------------------------------------------------------


def test_reply_and_model_functions() -> None:
    def reply(request: FakeRequest) -> str:
        return f"echo: {request.body['messages'][-1]['content']}"

    fake = FakeOpenAI(reply=reply, model=lambda request: f"{request.model}-2024-08-06")
    with fake.client(openai.OpenAI) as client:
        completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.choices[0].message.content == "echo: Say hello to the test suite"
    assert completion.model == "gpt-4o-2024-08-06"


def test_fixed_model_id_factory_and_chunker() -> None:
    fake = FakeAnthropic(
        reply="abcdef",
        model="claude-fixed",
        chunker=lambda text: [text[i : i + 2] for i in range(0, len(text), 2)],
        id_factory=lambda kind, n: f"{kind}_{n}",
    )
    with (
        fake.client(anthropic.Anthropic) as client,
        client.messages.stream(model="claude-alias", max_tokens=5, messages=MESSAGES) as stream,
    ):
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["ab", "cd", "ef"]
    assert (final.model, final.id) == ("claude-fixed", "msg_1")


def test_reset_restarts_counter_and_forgets_calls() -> None:
    fake = FakeOpenAI()
    with fake.client(openai.OpenAI) as client:
        client.chat.completions.create(model="m", messages=MESSAGES)
        fake.reset()
        assert fake.call_count == 0
        completion = client.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.id == "chatcmpl-fake-000001"
    assert fake.call_count == 1


def test_unknown_paths_get_provider_shaped_404s() -> None:
    openai_fake, anthropic_fake = FakeOpenAI(), FakeAnthropic()
    with openai_fake.client(openai.OpenAI) as client, pytest.raises(openai.NotFoundError) as openai_error:
        client.models.list()
    with (
        anthropic_fake.client(anthropic.Anthropic) as aclient,
        pytest.raises(anthropic.NotFoundError) as error,
    ):
        aclient.models.list()
    assert openai_error.value.code == "unknown_url"
    assert cast(Any, error.value.body)["error"]["type"] == "not_found_error"
    assert openai_fake.call_count == anthropic_fake.call_count == 1


def test_client_helper_picks_async_transport_and_accepts_overrides() -> None:
    fake = FakeOpenAI()
    client = fake.client(openai.AsyncOpenAI, api_key="other", max_retries=0)
    assert client.api_key == "other"
    assert client.max_retries == 0
    assert str(client.base_url).rstrip("/") == fake.base_url


# -- respx ----------------------------------------------------------------------------------------


@pytest.fixture
def respx_router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=FakeOpenAI.base_url, assert_all_called=True) as router:
        yield router


def test_respx_with_legacy_httpx_client(respx_router: respx.MockRouter) -> None:
    fake = FakeOpenAI(reply=REPLY)
    route = respx_router.post("/chat/completions").mock(side_effect=fake.handle)
    with (
        httpx.Client() as http,
        openai.OpenAI(api_key="k", base_url=fake.base_url, http_client=cast(Any, http)) as c,
    ):
        completion = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        chunks = list(c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert completion.choices[0].message.content == REPLY
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == REPLY
    assert route.call_count == fake.call_count == 2
