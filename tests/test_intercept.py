"""The interception core: one record per logical call, for every endpoint and shape."""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

import llmguard
from _sdk import needs
from llmguard import CallRecord, CallRecorder, Guard
from llmguard.testing import FakeAnthropic, FakeOpenAI, FakeUsage

OPENAI_MODEL = "gpt-4o-2024-08-06"
ANTHROPIC_MODEL = "claude-sonnet-4-6"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


@pytest.fixture
def recorder() -> CallRecorder:
    return CallRecorder()


@pytest.fixture
def guard(recorder: CallRecorder) -> Guard:
    return Guard(pin_policy="enforce", observers=[recorder])


def _only(recorder: CallRecorder) -> CallRecord:
    assert len(recorder) == 1, recorder.records
    record = recorder.last
    assert record is not None
    return record


@pytest.mark.parametrize("stream", [False, True])
def test_openai_chat_sync(guard: Guard, recorder: CallRecorder, stream: bool) -> None:
    fake = FakeOpenAI(reply="hello there", usage=FakeUsage(input_tokens=7, output_tokens=3, cached_tokens=2))
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        if stream:
            chunks = list(client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True))
            assert all(chunk.choices for chunk in chunks), "the injected usage chunk must be hidden"
            text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
        else:
            completion = client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
            text = completion.choices[0].message.content or ""
    assert text == "hello there"
    record = _only(recorder)
    assert record.provider == "openai"
    assert record.operation == "chat"
    assert record.api == "chat.completions"
    assert record.stream is stream
    assert record.usage.input_tokens == 9  # prompt tokens include the cached ones
    assert record.usage.cache_read_tokens == 2
    assert record.usage.output_tokens == 3
    assert record.response_model == OPENAI_MODEL
    assert record.finish_reasons == ("stop",)
    assert record.error_type is None
    assert (record.time_to_first_chunk_s is not None) is stream
    assert record.stream_completed is (True if stream else None)
    if stream:
        assert fake.calls[0].body["stream_options"] == {"include_usage": True}


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_messages_async(guard: Guard, recorder: CallRecorder, stream: bool) -> None:
    fake = FakeAnthropic(reply="bonjour", usage=FakeUsage(input_tokens=5, output_tokens=2, cached_tokens=4))
    client = fake.client(llmguard.AsyncAnthropic, guard=guard)
    async with client:
        if stream:
            events = await client.messages.create(
                model=ANTHROPIC_MODEL, max_tokens=16, messages=MESSAGES, stream=True
            )
            async for _ in events:
                pass
        else:
            message = await client.messages.create(model=ANTHROPIC_MODEL, max_tokens=16, messages=MESSAGES)
            assert message.content[0].type == "text"
    record = _only(recorder)
    assert record.provider == "anthropic"
    assert record.api == "messages"
    assert record.usage.input_tokens == 9  # Anthropic's input excludes cache; ours includes it
    assert record.usage.cache_read_tokens == 4
    assert record.usage.output_tokens == 2
    assert record.finish_reasons == ("stop",)  # end_turn, in the conventions' terms


@pytest.mark.anyio
async def test_openai_async_stream_break_is_not_an_error(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="one two three four")
    client = fake.client(llmguard.AsyncOpenAI, guard=guard)
    async with client:
        stream = await client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True)
        async for _ in stream:
            break
        await stream.close()
    record = _only(recorder)
    assert record.stream_completed is False
    assert record.error_type is None


def test_stream_abandoned_by_gc_finishes_once(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="one two three four")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        stream = client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True)
        next(iter(stream))
        del stream
        gc.collect()
        record = _only(recorder)
    assert record.stream_completed is False
    assert record.error_type is None


def test_stream_cut_records_the_error(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="one two three four five")
    fake.fail_next("stream_cut", after_chunks=2)
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        stream = client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True)
        with pytest.raises(Exception) as raised:  # noqa: PT011
            for _ in stream:
                pass
    # Newer openai releases wrap the transport's ReadError as APIConnectionError; older ones let it out.
    seen = raised.value
    assert isinstance(seen, openai.APIConnectionError) or type(seen).__name__ == "ReadError", seen
    record = _only(recorder)
    assert record.error_type == f"{type(seen).__module__.split('.')[0]}.{type(seen).__qualname__}"
    assert record.stream_completed is False


def test_context_exit_finishes_the_stream(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="a b c")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        with client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True) as stream:
            next(iter(stream))
        assert _only(recorder).stream_completed is False


def test_user_stream_options_are_left_alone(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="x y")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        chunks = list(
            client.chat.completions.create(
                model=OPENAI_MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )
    assert chunks[-1].choices == []  # the user asked for it: they get the usage chunk
    assert _only(recorder).usage.output_tokens is not None


def test_inject_stream_usage_can_be_disabled(recorder: CallRecorder) -> None:
    guard = Guard(pin_policy="enforce", observers=[recorder], inject_stream_usage=False)
    fake = FakeOpenAI(reply="x y")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        list(client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True))
    assert "stream_options" not in fake.calls[0].body
    assert _only(recorder).usage.output_tokens is None


def test_raw_response_is_recorded_without_consuming_parse(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="raw body")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        raw = client.chat.completions.with_raw_response.create(model=OPENAI_MODEL, messages=MESSAGES)
        assert raw.headers.get("content-type", "").startswith("application/json")
        record = _only(recorder)
        assert record.usage.output_tokens is not None
        assert raw.parse().choices[0].message.content == "raw body"
    assert len(recorder) == 1


def test_streaming_response_body_untouched(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="p q")
    with (
        fake.client(llmguard.OpenAI, guard=guard) as client,
        client.chat.completions.with_streaming_response.create(
            model=OPENAI_MODEL, messages=MESSAGES, stream=True
        ) as response,
    ):
        lines = [line for line in response.iter_lines() if line]
    assert "stream_options" not in fake.calls[0].body  # raw bytes: no injected usage chunk
    assert lines[-1] == "data: [DONE]"
    gc.collect()
    assert _only(recorder).api == "chat.completions"


def test_streaming_response_parse_records_usage(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="p q")
    with (
        fake.client(llmguard.OpenAI, guard=guard) as client,
        client.chat.completions.with_streaming_response.create(
            model=OPENAI_MODEL, messages=MESSAGES
        ) as response,
    ):
        completion = response.parse()
    assert completion.usage is not None
    assert _only(recorder).usage.output_tokens == completion.usage.completion_tokens


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda c: c.chat.completions.parse(model=OPENAI_MODEL, messages=MESSAGES),
            marks=needs("openai chat.completions.parse"),
        ),
        pytest.param(
            lambda c: c.responses.create(model=OPENAI_MODEL, input="hi"), marks=needs("openai responses")
        ),
        lambda c: c.embeddings.create(model="text-embedding-3-small", input="hi"),
        lambda c: c.completions.create(model="gpt-3.5-turbo-instruct-0914", prompt="hi"),
    ],
    ids=["parse", "responses", "embeddings", "completions"],
)
def test_every_endpoint_is_recorded(guard: Guard, recorder: CallRecorder, call: Callable[[Any], Any]) -> None:
    with FakeOpenAI(reply="ok").client(llmguard.OpenAI, guard=guard) as client:
        call(client)
    record = _only(recorder)
    assert record.usage.input_tokens is not None
    assert record.operation in {"chat", "embeddings", "text_completion"}


@needs(
    "openai chat.completions.stream",
    "openai responses",
    "anthropic messages.stream() keeps the guarded stream",
)
def test_stream_helpers(guard: Guard, recorder: CallRecorder) -> None:
    with FakeOpenAI(reply="helper text").client(llmguard.OpenAI, guard=guard) as client:
        with client.chat.completions.stream(model=OPENAI_MODEL, messages=MESSAGES) as stream:
            final = stream.get_final_completion()
            assert final.choices[0].message.content == "helper text"
            # the SDK helper consumes the usage chunk llmguard asked for: it is not hidden from it
            assert final.usage is not None
        with client.responses.stream(model=OPENAI_MODEL, input="hi") as rstream:
            assert rstream.get_final_response().output_text == "helper text"
    with FakeAnthropic(reply="anthropic text").client(llmguard.Anthropic, guard=guard) as aclient:
        with aclient.messages.stream(model=ANTHROPIC_MODEL, max_tokens=8, messages=MESSAGES) as mstream:
            assert mstream.get_final_text() == "anthropic text"
    assert [r.api for r in recorder.records] == ["chat.completions", "responses", "messages"]
    assert all(r.stream and r.usage.output_tokens for r in recorder.records)


def test_retries_are_one_logical_call(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="after retry")
    fake.fail_next(429, retry_after=0.001)
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert fake.call_count == 2
    record = _only(recorder)
    assert record.retries == 1
    assert record.error_type is None


@pytest.mark.parametrize("stream", [False, True])
def test_retries_are_counted_for_streams_and_anthropic(
    guard: Guard, recorder: CallRecorder, stream: bool
) -> None:
    openai_fake = FakeOpenAI(reply="after retries")
    openai_fake.fail_next(503, times=2, retry_after=0.001)
    with openai_fake.client(llmguard.OpenAI, guard=guard) as client:
        if stream:
            assert list(client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True))
        else:
            client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    anthropic_fake = FakeAnthropic(reply="after a retry")
    anthropic_fake.fail_next(529, retry_after=0.001)
    with anthropic_fake.client(llmguard.Anthropic, guard=guard) as aclient:
        if stream:
            with aclient.messages.stream(model=ANTHROPIC_MODEL, max_tokens=8, messages=MESSAGES) as mstream:
                assert mstream.get_final_text() == "after a retry"
        else:
            aclient.messages.create(model=ANTHROPIC_MODEL, max_tokens=8, messages=MESSAGES)
    assert [(r.provider, r.retries, r.stream, r.error_type) for r in recorder.records] == [
        ("openai", 2, stream, None),
        ("anthropic", 1, stream, None),
    ]


@needs("openai _sleep_for_retry")
def test_retries_are_counted_when_they_run_out(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI()
    fake.fail_next(500, times=3, retry_after=0.001)
    with fake.client(llmguard.OpenAI, guard=guard, max_retries=2) as client:
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert fake.call_count == 3
    record = _only(recorder)
    assert (record.retries, record.error_type) == (2, "openai.InternalServerError")


@pytest.mark.anyio
async def test_async_retries_are_counted(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI(reply="after retry")
    fake.fail_next(429, retry_after=0.001)
    async with fake.client(llmguard.AsyncOpenAI, guard=guard) as client:
        stream = await client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True)
        assert [chunk async for chunk in stream]
    assert fake.call_count == 2
    record = _only(recorder)
    assert (record.retries, record.stream_completed) == (1, True)


def test_provider_errors_pass_through_untouched(guard: Guard, recorder: CallRecorder) -> None:
    fake = FakeOpenAI()
    fake.fail_next(500, times=3)
    with fake.client(llmguard.OpenAI, guard=guard, max_retries=0) as client:
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert type(info.value) is openai.InternalServerError
    assert _only(recorder).error_type == "openai.InternalServerError"


def test_non_generative_endpoints_pass_through(guard: Guard, recorder: CallRecorder) -> None:
    with FakeAnthropic().client(llmguard.Anthropic, guard=guard) as client:
        client.messages.count_tokens(model=ANTHROPIC_MODEL, messages=MESSAGES)
    assert len(recorder) == 0


def test_drift_is_recorded(recorder: CallRecorder) -> None:
    guard = Guard(pin_policy="enforce", observers=[recorder])
    fake = FakeOpenAI(model="gpt-4o-2024-11-20")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    record = _only(recorder)
    assert record.drift is True
    assert record.response_model == "gpt-4o-2024-11-20"


def test_call_ids_are_unique_and_sortable(guard: Guard, recorder: CallRecorder) -> None:
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(20):
            client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    ids = [r.call_id for r in recorder.records]
    assert len(set(ids)) == 20
    assert ids == sorted(ids)
    assert all(len(i) == 32 for i in ids)


def test_isinstance_copy_and_with_options_keep_the_guard(guard: Guard) -> None:
    client = llmguard.OpenAI(api_key="k", guard=guard)
    assert isinstance(client, openai.OpenAI)
    assert client.guard is guard
    for copy in (client.copy(timeout=3), client.with_options(max_retries=5)):
        assert type(copy) is llmguard.OpenAI
        assert copy.guard is guard
    other = Guard()
    assert client.copy(guard=other).guard is other
    aclient = llmguard.AsyncAnthropic(api_key="k", guard=guard)
    assert isinstance(aclient, anthropic.AsyncAnthropic)
    assert aclient.with_options(timeout=1).guard is guard


def test_unconfigured_client_uses_the_default_guard() -> None:
    client = llmguard.OpenAI(api_key="k")
    assert client.guard is llmguard.get_default_guard()
    configured = llmguard.configure(pin_policy="off")
    assert client.guard is configured


@needs("anthropic open_telemetry=")
def test_anthropic_sdk_spans_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert llmguard.Anthropic(api_key="k").open_telemetry["traces"]["enabled"] is False
    mine = llmguard.Anthropic(api_key="k", open_telemetry={"traces": {"enabled": True}})
    assert mine.open_telemetry["traces"]["enabled"] is True
    assert mine.copy().open_telemetry["traces"]["enabled"] is True
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY_PROPAGATION", "false")
    assert llmguard.Anthropic(api_key="k").open_telemetry["traces"]["enabled"] is True


def test_every_client_class_is_a_drop_in() -> None:
    pairs = {
        "OpenAI": openai.OpenAI,
        "AsyncOpenAI": openai.AsyncOpenAI,
        "AzureOpenAI": openai.AzureOpenAI,
        "AsyncAzureOpenAI": openai.AsyncAzureOpenAI,
        "Anthropic": anthropic.Anthropic,
        "AsyncAnthropic": anthropic.AsyncAnthropic,
        "AnthropicBedrock": anthropic.AnthropicBedrock,
        "AsyncAnthropicBedrock": anthropic.AsyncAnthropicBedrock,
        "AnthropicVertex": anthropic.AnthropicVertex,
        "AsyncAnthropicVertex": anthropic.AsyncAnthropicVertex,
    }
    for name, base in pairs.items():
        cls = getattr(llmguard, name)
        assert issubclass(cls, base)
        assert cls.with_options is cls.copy
        assert "guard" in inspect.signature(cls.copy).parameters
        # the constructor's run-time signature is the SDK's own; guard= is accepted and typed
        assert inspect.signature(cls.__init__) == inspect.signature(base.__init__)  # type: ignore[misc]


@needs("anthropic credential providers")
@pytest.mark.parametrize("name", ["Anthropic", "AsyncAnthropic"])
def test_anthropic_copy_keeps_the_credential_provider_like_the_sdk(name: str) -> None:
    from anthropic.lib.credentials._providers import StaticToken

    provider = StaticToken("sk-ant-oat-test-token-123456")
    stock = getattr(anthropic, name)(credentials=provider)
    guarded = getattr(llmguard, name)(credentials=provider)
    for client in (stock, guarded):
        copied = client.with_options(timeout=3)
        assert copied.credentials is provider
        assert copied._token_cache is client._token_cache
    assert type(guarded.copy()) is getattr(llmguard, name)


def test_a_chunk_with_more_than_usage_is_never_hidden() -> None:
    from openai.types.chat import ChatCompletionChunk

    from llmguard._core import _usage_only

    usage: Any = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    base: Any = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": []}
    assert _usage_only(ChatCompletionChunk.construct(**base, usage=usage))
    assert not _usage_only(ChatCompletionChunk.construct(**base, usage=usage, moderation={"flagged": True}))
    assert not _usage_only(
        ChatCompletionChunk.construct(**base, prompt_filter_results=[])
    )  # Azure's first chunk


def test_anthropic_raw_response_is_recorded(guard: Guard, recorder: CallRecorder) -> None:
    with FakeAnthropic(reply="raw anthropic").client(llmguard.Anthropic, guard=guard) as client:
        raw = client.messages.with_raw_response.create(model=ANTHROPIC_MODEL, max_tokens=8, messages=MESSAGES)
        record = _only(recorder)
        assert record.usage.output_tokens is not None
        assert record.response_id is not None
        assert raw.parse().content[0].type == "text"
