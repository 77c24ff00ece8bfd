"""The llmguard pytest plugin's fixtures and marker."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from llmguard.testing import DEFAULT_REPLY, FakeAnthropic, FakeOpenAI, FakeUsage

MESSAGES: Any = [{"role": "user", "content": "hi"}]


def test_fixtures_give_fresh_default_fakes(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> None:
    assert fake_openai.call_count == fake_anthropic.call_count == 0
    assert fake_openai.reply == fake_anthropic.reply == DEFAULT_REPLY
    assert fake_openai.base_url == "https://fake-openai.test/v1"
    assert fake_anthropic.base_url == "https://fake-anthropic.test"


@pytest.mark.llmguard_fake(reply="pong", model="gpt-4o-2024-08-06", usage=FakeUsage(output_tokens=9))
def test_marker_configures_both_fakes(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> None:
    with fake_openai.client(openai.OpenAI) as client:
        completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.choices[0].message.content == "pong"
    assert completion.model == "gpt-4o-2024-08-06"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 9
    assert fake_anthropic.reply == "pong"


@pytest.mark.llmguard_fake(reply="everyone", latency=0.0)
@pytest.mark.llmguard_fake(reply="from anthropic", provider="anthropic")  # closest to the test: wins
def test_provider_marker_targets_one_fake_and_closest_wins(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    with fake_anthropic.client(anthropic.Anthropic) as client:
        message = client.messages.create(model="claude-test-model", max_tokens=5, messages=MESSAGES)
    assert message.content[0].type == "text"
    assert message.content[0].text == "from anthropic"
    assert fake_openai.reply == "everyone"


def test_marker_is_registered(pytestconfig: pytest.Config) -> None:
    assert any(line.startswith("llmguard_fake(") for line in pytestconfig.getini("markers"))


def test_make_record_builds_a_complete_record_with_overrides() -> None:
    from llmguard import CallRecord, Usage
    from llmguard.testing import make_record

    record = make_record(usage=Usage(input_tokens=3, output_tokens=1), service_name="svc")
    assert isinstance(record, CallRecord)
    assert (record.service_name, record.usage.input_tokens, record.kind) == ("svc", 3, "app")
    assert make_record().call_id != make_record().call_id
