"""Injected failures, latency and call accounting of the fake providers."""

from __future__ import annotations

import threading
import time
from typing import Any, Literal, cast

import anthropic
import httpx
import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from llmguard.testing import FakeAnthropic, FakeOpenAI, FakeRequest

Wire = Literal["httpx2", "httpx"]
MESSAGES: Any = [{"role": "user", "content": "hi"}]
ANTHROPIC_MODEL = "claude-test-model"


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


# -- status failures and retries ------------------------------------------------------------------


def test_openai_429_with_retry_after_zero_is_retried(wire: Wire) -> None:
    fake = FakeOpenAI(reply="ok")
    fake.fail_next(429, retry_after="0")
    with sync_openai(fake, wire) as client:
        raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.retries_taken == 1
    assert raw.parse().choices[0].message.content == "ok"
    assert fake.call_count == 2
    assert fake.calls[1].headers["x-stainless-retry-count"] == "1"


@pytest.mark.anyio
async def test_openai_async_500_then_success(wire: Wire) -> None:
    fake = FakeOpenAI(reply="ok")
    fake.fail_next(500, retry_after=0.001)
    async with async_openai(fake, wire) as client:
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.retries_taken == 1
    assert fake.call_count == 2


def test_anthropic_429_then_success() -> None:
    fake = FakeAnthropic(reply="ok")
    fake.fail_next(429, retry_after=0.001)
    with fake.client(anthropic.Anthropic) as client:
        raw = client.messages.with_raw_response.create(model=ANTHROPIC_MODEL, max_tokens=5, messages=MESSAGES)
    assert raw.retries_taken == 1
    assert fake.call_count == 2


def test_errors_use_provider_shapes_and_retry_after_header() -> None:
    openai_fake, anthropic_fake = FakeOpenAI(), FakeAnthropic()
    openai_fake.fail_next(429, retry_after=7, message="slow down")
    anthropic_fake.fail_next(529)
    with (
        openai_fake.client(openai.OpenAI, max_retries=0) as client,
        pytest.raises(openai.RateLimitError) as error,
    ):
        client.chat.completions.create(model="m", messages=MESSAGES)
    with (
        anthropic_fake.client(anthropic.Anthropic, max_retries=0) as aclient,
        pytest.raises(anthropic.APIStatusError) as aerror,
    ):
        aclient.messages.create(model=ANTHROPIC_MODEL, max_tokens=5, messages=MESSAGES)
    assert error.value.body == {
        "message": "slow down",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert error.value.response.headers["retry-after"] == "7"
    assert aerror.value.status_code == 529
    assert cast(Any, aerror.value.body)["error"]["type"] == "overloaded_error"


def test_failures_repeat_for_times_then_clear() -> None:
    fake = FakeOpenAI()
    fake.fail_next(500, times=2, retry_after=None)
    with fake.client(openai.OpenAI, max_retries=0) as client:
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                client.chat.completions.create(model="m", messages=MESSAGES)
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert fake.call_count == 3


def test_fail_when_predicate() -> None:
    fake = FakeOpenAI()

    def is_gpt5(request: FakeRequest) -> bool:
        return request.model == "gpt-5"

    fake.fail_when(is_gpt5, 400, message="no gpt-5 here")
    with fake.client(openai.OpenAI) as client:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        with pytest.raises(openai.BadRequestError, match="no gpt-5 here"):
            client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert fake.call_count == 2


def test_queued_failures_apply_before_rules_and_reset_clears_both() -> None:
    fake = FakeOpenAI()
    fake.fail_when(lambda request: True, 500, times=1)
    fake.fail_next(404)
    with fake.client(openai.OpenAI, max_retries=0) as client:
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        fake.reset()
        client.chat.completions.create(model="m", messages=MESSAGES)


# -- timeouts -------------------------------------------------------------------------------------


def test_openai_timeout_without_retries_raises_api_timeout_error(wire: Wire) -> None:
    fake = FakeOpenAI()
    fake.fail_next("timeout")
    with sync_openai(fake, wire, max_retries=0) as client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_openai_async_timeout_is_retried(wire: Wire) -> None:
    fake = FakeOpenAI(reply="ok")
    fake.fail_next("timeout")
    async with async_openai(fake, wire, max_retries=1) as client:
        raw = await client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.retries_taken == 1
    assert fake.call_count == 2


def test_anthropic_timeout_raises_api_timeout_error() -> None:
    fake = FakeAnthropic()
    fake.fail_next("timeout")
    with fake.client(anthropic.Anthropic, max_retries=0) as client, pytest.raises(anthropic.APITimeoutError):
        client.messages.create(model=ANTHROPIC_MODEL, max_tokens=5, messages=MESSAGES)


def test_timeout_raises_the_transport_exception() -> None:
    fake = FakeOpenAI()
    fake.fail_next("timeout", times=2)
    with fake.http_client() as http, pytest.raises(httpx2.ReadTimeout):
        http.post("/chat/completions", json={})
    with fake.legacy_http_client() as legacy, pytest.raises(httpx.ReadTimeout):
        legacy.post("/chat/completions", json={})


# -- stream cuts ----------------------------------------------------------------------------------


def test_openai_stream_cut_raises_during_iteration(wire: Wire) -> None:
    fake = FakeOpenAI(reply="one two three four")
    fake.fail_next("stream_cut", after_chunks=2)
    received: list[str] = []
    with sync_openai(fake, wire) as client:
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIConnectionError):
            received.extend(chunk.choices[0].delta.content or "" for chunk in stream)
    assert received == ["", "one "]
    assert fake.call_count == 1


async def collect_deltas(stream: openai.AsyncStream[ChatCompletionChunk], into: list[str]) -> None:
    async for chunk in stream:
        into.append(chunk.choices[0].delta.content or "")


@pytest.mark.anyio
async def test_openai_async_stream_cut(wire: Wire) -> None:
    fake = FakeOpenAI(reply="one two three four")
    fake.fail_next("stream_cut", after_chunks=3)
    async with async_openai(fake, wire) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        received: list[str] = []
        with pytest.raises(openai.APIConnectionError):
            await collect_deltas(stream, received)
    assert received == ["", "one ", "two "]


def test_anthropic_stream_cut_raises_transport_error() -> None:
    fake = FakeAnthropic(reply="one two three")
    fake.fail_next("stream_cut", after_chunks=3)
    with (
        fake.client(anthropic.Anthropic) as client,
        client.messages.stream(model=ANTHROPIC_MODEL, max_tokens=5, messages=MESSAGES) as stream,
        pytest.raises((httpx2.ReadError, anthropic.APIConnectionError)),
    ):
        for _ in stream.text_stream:
            pass


@pytest.mark.anyio
async def test_anthropic_async_stream_cut() -> None:
    fake = FakeAnthropic(reply="one two three")
    fake.fail_next("stream_cut", after_chunks=1)
    async with fake.client(anthropic.AsyncAnthropic) as client:
        stream = await client.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=5, messages=MESSAGES, stream=True
        )
        with pytest.raises((httpx2.ReadError, anthropic.APIConnectionError)):
            async for _ in stream:
                pass


def test_stream_cut_on_a_non_streamed_request_drops_the_connection() -> None:
    fake = FakeOpenAI()
    fake.fail_next("stream_cut")
    with fake.client(openai.OpenAI, max_retries=0) as client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=MESSAGES)


# -- latency and accounting -----------------------------------------------------------------------


def test_sync_latency_is_applied_per_request() -> None:
    fake = FakeOpenAI(latency=0.05)
    with fake.client(openai.OpenAI) as client:
        started = time.monotonic()
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert time.monotonic() - started >= 0.05


@pytest.mark.anyio
async def test_async_latency_is_applied_per_request() -> None:
    fake = FakeAnthropic(latency=0.05)
    async with fake.client(anthropic.AsyncAnthropic) as client:
        started = time.monotonic()
        await client.messages.create(model=ANTHROPIC_MODEL, max_tokens=5, messages=MESSAGES)
    assert time.monotonic() - started >= 0.05


def test_concurrent_requests_are_all_recorded_with_unique_ids() -> None:
    fake = FakeOpenAI()
    ids: list[str] = []
    with fake.client(openai.OpenAI) as client:

        def call() -> None:
            ids.append(client.chat.completions.create(model="m", messages=MESSAGES).id)

        threads = [threading.Thread(target=call) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert fake.call_count == 16
    assert len(set(ids)) == 16


def test_stream_cut_after_the_last_event_still_drops_the_connection() -> None:
    fake = FakeOpenAI(reply="a")
    fake.fail_next("stream_cut", after_chunks=100)
    with (
        fake.http_client() as http,
        http.stream("POST", "/chat/completions", json={"stream": True}) as response,
        pytest.raises(httpx2.ReadError),
    ):
        response.read()


def test_non_json_bodies_are_recorded_empty_and_other_methods_get_404() -> None:
    fake = FakeAnthropic()
    with fake.http_client() as http:
        assert http.post("/v1/messages", content=b"not json").json()["model"] == "fake-model"
        assert http.get("/v1/messages").json() == {
            "type": "error",
            "error": {"type": "not_found_error", "message": "Unknown request URL: GET /v1/messages"},
        }
    assert fake.calls[0].body == {}
    assert fake.call_count == 2
