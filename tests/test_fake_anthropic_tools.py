"""`FakeAnthropic` answers a request that lists tools with ``tool_use`` blocks, streamed or not."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

import llmguard
from llmguard import CallRecorder, Guard
from llmguard.testing import FakeAnthropic, FakeRequest, FakeToolUse

MODEL = "claude-sonnet-4-5-20250929"
WEATHER: Any = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
        },
        "required": ["city", "unit"],
    },
}
TIME: Any = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]


def _create(fake: FakeAnthropic, **kwargs: Any) -> anthropic.types.Message:
    with fake.client(anthropic.Anthropic) as client:
        message: anthropic.types.Message = client.messages.create(
            model=MODEL, max_tokens=256, messages=ASK, **kwargs
        )
    return message


def test_explicit_tool_use() -> None:
    fake = FakeAnthropic(
        tool_use=FakeToolUse("get_weather", {"city": "Paris", "unit": "celsius"}, id="toolu_1")
    )
    message = _create(fake, tools=[WEATHER])
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert isinstance(block, anthropic.types.ToolUseBlock)
    assert (block.id, block.name, block.input) == (
        "toolu_1",
        "get_weather",
        {"city": "Paris", "unit": "celsius"},
    )
    assert message.usage.output_tokens > 0


def test_auto_builds_input_from_the_schema_and_honours_tool_choice() -> None:
    fake = FakeAnthropic(tool_use="auto")
    [first] = _create(fake, tools=[WEATHER, TIME]).content
    assert isinstance(first, anthropic.types.ToolUseBlock)
    assert (first.name, first.input) == ("get_weather", {"city": "fake", "unit": "celsius"})
    [chosen] = _create(fake, tools=[WEATHER, TIME], tool_choice={"type": "tool", "name": "get_time"}).content
    assert isinstance(chosen, anthropic.types.ToolUseBlock)
    assert (chosen.name, chosen.input) == ("get_time", {})


def test_text_without_tools_or_with_tool_choice_none() -> None:
    fake = FakeAnthropic(reply="Sunny.", tool_use="auto")
    assert [b.type for b in _create(fake).content] == ["text"]
    assert [b.type for b in _create(fake, tools=[WEATHER], tool_choice={"type": "none"}).content] == ["text"]
    default = FakeAnthropic(reply="Sunny.")
    assert _create(default, tools=[WEATHER]).stop_reason == "end_turn"


def test_callable_decides_per_request() -> None:
    def decide(request: FakeRequest) -> FakeToolUse | None:
        last = request.body["messages"][-1]["content"]
        return FakeToolUse("get_time") if "time" in str(last) else None

    fake = FakeAnthropic(reply="no tool needed", tool_use=decide)
    assert _create(fake, tools=[TIME]).content[0].type == "text"
    with fake.client(anthropic.Anthropic) as client:
        message = client.messages.create(
            model=MODEL,
            max_tokens=64,
            tools=[TIME],
            messages=[{"role": "user", "content": "What time is it?"}],
        )
    assert message.content[0].type == "tool_use"


@pytest.mark.parametrize("guarded", [False, True])
def test_streamed_tool_use(guarded: bool) -> None:
    uses = [FakeToolUse("get_weather", {"city": "Paris", "unit": "celsius"}), FakeToolUse("get_time")]
    fake = FakeAnthropic(tool_use=uses)
    recorder = CallRecorder()
    cls: Any = llmguard.Anthropic if guarded else anthropic.Anthropic
    kwargs: dict[str, Any] = {"guard": Guard(pin_policy="off", observers=[recorder])} if guarded else {}
    with fake.client(cls, **kwargs) as client:
        with client.messages.stream(
            model=MODEL, max_tokens=256, messages=ASK, tools=[WEATHER, TIME]
        ) as stream:
            message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "name", None), getattr(b, "input", None)) for b in message.content] == [
        ("tool_use", "get_weather", {"city": "Paris", "unit": "celsius"}),
        ("tool_use", "get_time", {}),
    ]
    assert len({getattr(b, "id", None) for b in message.content}) == 2
    if guarded:
        record = recorder.last
        assert record is not None
        assert record.usage.output_tokens == message.usage.output_tokens
