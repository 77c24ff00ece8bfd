"""Opted-in policies fail closed, decide on the body actually sent, and validate model names."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import llmguard
from llmguard import CallRecorder, Guard
from llmguard._pins import MAX_MODEL_NAME, classify, model_name_problem
from llmguard.cost import Budget
from llmguard.exceptions import ConfigurationError, PolicyUnavailableError, UnpinnedModelError
from llmguard.testing import FakeAnthropic, FakeOpenAI

DATED = "gpt-4o-2024-08-06"
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def _boom(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("internal failure")


def _chat(client: Any, model: str = DATED, **kwargs: Any) -> Any:
    return client.chat.completions.create(model=model, messages=MESSAGES, **kwargs)


# -- 1. guard= and fail closed -----------------------------------------------------------------


@pytest.mark.parametrize("cls", ["OpenAI", "AsyncOpenAI", "Anthropic", "AsyncAnthropic"])
@pytest.mark.parametrize("bad", ["production", object(), {"pin_policy": "enforce"}])
def test_a_guard_that_is_not_a_guard_is_refused_at_construction(cls: str, bad: object) -> None:
    with pytest.raises(ConfigurationError, match=r"guard=: expected an llmguard\.Guard"):
        getattr(llmguard, cls)(api_key="k", guard=bad)


def test_copy_and_with_options_refuse_a_wrong_guard_too() -> None:
    client = llmguard.OpenAI(api_key="k", guard=Guard(pin_policy="enforce"))
    with pytest.raises(ConfigurationError, match="guard="):
        client.with_options(guard="production")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="guard="):
        client.copy(guard="production")  # type: ignore[arg-type]


def test_enforce_fails_closed_when_the_pin_policy_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llmguard._pin_policy.decide", _boom)
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="enforce")) as client:
        with pytest.raises(
            PolicyUnavailableError, match="pin policy 'enforce' could not be evaluated"
        ) as info:
            _chat(client)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "the pin policy 'enforce'" in info.value.policy
    assert fake.calls == []


def test_warn_fails_open_when_the_pin_policy_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGUARD_SWALLOW_INTERNAL_ERRORS", "1")
    monkeypatch.setattr("llmguard._pin_policy.decide", _boom)
    fake = FakeOpenAI(reply="still served")
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="warn")) as client:
        assert _chat(client).choices[0].message.content == "still served"
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_a_custom_policy_that_breaks_refuses_the_call() -> None:
    def policy(call: Any) -> None:
        raise KeyError("tenant")

    fake = FakeOpenAI()
    async with fake.client(llmguard.AsyncOpenAI, guard=Guard(pin_policy="off", policies=[policy])) as client:
        with pytest.raises(PolicyUnavailableError, match="KeyError"):
            await _chat(client)
    assert fake.calls == []


def test_a_hard_budget_that_cannot_be_checked_refuses_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("llmguard.cost._budget.BudgetTracker.check", _boom)
    guard = Guard(pin_policy="off", ledger=False, budgets=[Budget(hard_usd=5.0)])
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        with pytest.raises(PolicyUnavailableError, match="pre-call policies"):
            _chat(client)
    assert fake.calls == []


@pytest.mark.parametrize(("budget", "refused"), [(Budget(hard_usd=5.0), True), (Budget(soft_usd=5.0), False)])
def test_a_hard_budget_that_cannot_be_built_refuses_calls(
    monkeypatch: pytest.MonkeyPatch, budget: Budget, refused: bool
) -> None:
    monkeypatch.setenv("LLMGUARD_SWALLOW_INTERNAL_ERRORS", "1")  # the cost observer's failure is only logged
    monkeypatch.setattr("llmguard.cost._state.build_state", _boom)
    fake = FakeOpenAI()
    with fake.client(
        llmguard.OpenAI, guard=Guard(pin_policy="off", ledger=False, budgets=[budget])
    ) as client:
        if refused:
            with pytest.raises(PolicyUnavailableError, match="hard budgets could not be evaluated"):
                _chat(client)
        else:
            _chat(client)  # a soft budget is an observer: it fails open
    assert fake.call_count == (0 if refused else 1)


@pytest.mark.parametrize(("mode", "refused"), [("enforce", True), ("warn", False)])
def test_a_runtime_that_cannot_be_built_fails_closed_only_when_opted_in(
    monkeypatch: pytest.MonkeyPatch, mode: Any, refused: bool
) -> None:
    monkeypatch.setenv("LLMGUARD_SWALLOW_INTERNAL_ERRORS", "1")
    monkeypatch.setattr("llmguard._features.build_runtime", _boom)
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy=mode)) as client:
        if refused:
            with pytest.raises(PolicyUnavailableError, match="RuntimeError: internal failure"):
                _chat(client)
        else:
            _chat(client)
    assert fake.call_count == (0 if refused else 1)


def test_observers_stay_fail_open_under_enforce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGUARD_SWALLOW_INTERNAL_ERRORS", "1")

    class Broken:
        def on_start(self, call: Any) -> None:
            raise RuntimeError("observer bug")

        def on_end(self, call: Any, record: Any) -> None:
            raise RuntimeError("observer bug")

    recorder = CallRecorder()
    fake = FakeOpenAI(reply="ok")
    with fake.client(
        llmguard.OpenAI, guard=Guard(pin_policy="enforce", observers=[Broken(), recorder])
    ) as client:
        assert _chat(client).choices[0].message.content == "ok"
    assert len(recorder) == 1


# -- 2. the body actually sent -----------------------------------------------------------------


def test_extra_body_model_is_judged_under_enforce() -> None:
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="enforce")) as client:
        with pytest.raises(UnpinnedModelError, match="'gpt-4o' is a floating alias") as info:
            _chat(client, extra_body={"model": "gpt-4o"})
    assert info.value.model == "gpt-4o"
    assert fake.calls == []


@pytest.mark.anyio
async def test_extra_body_model_is_judged_for_anthropic_too() -> None:
    fake = FakeAnthropic()
    async with fake.client(llmguard.AsyncAnthropic, guard=Guard(pin_policy="enforce")) as client:
        with pytest.raises(UnpinnedModelError, match="claude-3-5-sonnet-latest"):
            await client.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=8,
                messages=MESSAGES,
                extra_body={"model": "claude-3-5-sonnet-latest"},
            )
    assert fake.calls == []


@pytest.mark.parametrize("mode", ["enforce", "warn"])
def test_a_lock_rewrite_applies_to_the_sent_body(mode: Any) -> None:
    recorder = CallRecorder()
    guard = Guard(pin_policy=mode, pins={"gpt-4o": DATED}, observers=[recorder])
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        _chat(client, model="gpt-4o-2024-11-20", extra_body={"model": "gpt-4o", "seed": 7})
    sent = fake.calls[0].body
    assert sent["model"] == DATED
    assert sent["seed"] == 7  # the rest of extra_body is untouched
    record = recorder.last
    assert record is not None
    assert (record.requested_model, record.request_model, record.locked_model) == ("gpt-4o", DATED, DATED)
    assert record.request is not None
    assert record.request["model"] == DATED


def test_an_azure_deployment_hidden_by_extra_body_is_judged_too() -> None:
    guard = Guard(pin_policy="enforce", pins={"prod-chat": DATED})
    fake = FakeOpenAI()
    client = llmguard.AzureOpenAI(
        api_key="k",
        api_version="2024-10-21",
        azure_endpoint="https://example-resource.openai.azure.com",
        http_client=fake.http_client(),
        guard=guard,
    )
    with client:
        with pytest.raises(UnpinnedModelError, match="'rogue' cannot be judged by name") as info:
            _chat(client, model="rogue", extra_body={"model": "prod-chat"})  # the URL routes to 'rogue'
        assert "deployment in the request URL" in str(info.value)
        with pytest.raises(UnpinnedModelError, match="'rogue'"):
            _chat(client, model="prod-chat", extra_body={"model": "rogue"})
        assert fake.calls == []
        _chat(client, model="prod-chat", extra_body={"model": "prod-chat"})
    assert "/deployments/prod-chat/" in fake.calls[0].url


def test_extra_body_stream_options_are_respected() -> None:
    fake = FakeOpenAI(reply="a b")
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="enforce")) as client:
        chunks = list(_chat(client, stream=True, extra_body={"stream_options": {"include_usage": False}}))
    assert chunks
    assert fake.calls[0].body["stream_options"] == {"include_usage": False}


# -- 6. model names ------------------------------------------------------------------------------

_BAD_CHARS = st.sampled_from([" ", "\t", "\n", "\r", "\u00a0", "\u2028", "\u200b", "\x00", "\x1b", "\ufeff"])


@given(bad=_BAD_CHARS, where=st.sampled_from(["start", "end", "middle"]))
def test_names_with_whitespace_or_control_characters_are_never_pinned(bad: str, where: str) -> None:
    model = {"start": bad + DATED, "end": DATED + bad, "middle": f"gpt-4o-{bad}2024-08-06"}[where]
    assert model_name_problem(model) is not None
    for provider in ("openai", "azure", "anthropic", "bedrock", "vertex", "openai_compatible"):
        verdict = classify(model, provider)
        assert (verdict.pinned, verdict.kind) == (False, "invalid_name")


def test_the_rule_bounds_length_and_emptiness() -> None:
    assert model_name_problem("") == "the name is empty"
    assert model_name_problem("g" * MAX_MODEL_NAME) is None
    assert model_name_problem("g" * (MAX_MODEL_NAME + 1)) is not None
    assert model_name_problem(DATED) is None
    assert model_name_problem("ft:gpt-4o-mini-2024-07-18:org::abc123") is None
    assert model_name_problem("arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-x") is None
    assert model_name_problem("meta-llama/Llama-3.1-8B@" + "a" * 40) is None


def test_a_trailing_space_is_refused_under_enforce() -> None:
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="enforce")) as client:
        with pytest.raises(UnpinnedModelError, match="not a valid model name: it has a trailing") as info:
            _chat(client, model=DATED + " ")
    assert info.value.suggestion == DATED
    assert f"did you mean {DATED!r}" in str(info.value)
    assert fake.calls == []


def test_a_trailing_space_warns_once_and_never_reports_drift(caplog: pytest.LogCaptureFixture) -> None:
    recorder = CallRecorder()
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="warn", observers=[recorder])) as client:
        with caplog.at_level(logging.WARNING, logger="llmguard"):
            for _ in range(3):
                _chat(client, model=DATED + " ")
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("not a valid model name" in w for w in warnings) == 1
    assert not any("drift" in w for w in warnings)
    assert recorder.last is not None
    assert recorder.last.drift is False
    assert fake.call_count == 3  # warn never blocks


def test_a_lock_entry_with_an_invalid_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not a valid model name"):
        Guard(pins={"gpt-4o ": DATED})
    with pytest.raises(ConfigurationError, match="not pinned"):
        Guard(pins={"gpt-4o": DATED + "\n"})


# -- 9. advisories are bounded -----------------------------------------------------------------


def test_warn_advisories_are_bounded_by_configuration_not_traffic(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from llmguard import _internal

    monkeypatch.setattr(_internal, "MAX_ADVISORY_KEYS", 5)
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="warn")) as client:
        with caplog.at_level(logging.WARNING, logger="llmguard"):
            for n in range(40):
                _chat(client, model=f"my-model-{n}")
    assert fake.call_count == 40
    remembered = [key for category, key in _internal._seen if category == "unpinned"]
    assert len(remembered) == 5
    unpinned = [r.getMessage() for r in caplog.records if "my-model-" in r.getMessage()]
    assert len(unpinned) == 6  # five advisories, then one saying further ones are not logged
    assert "further new ones are not" in unpinned[-1]


def test_advise_once_remembers_at_most_the_cap_per_category() -> None:
    from llmguard import _internal

    for n in range(3 * _internal.MAX_ADVISORY_KEYS):
        _internal.advise_once("test-category", str(n), f"advisory {n}")
    assert (
        sum(1 for category, _ in _internal._seen if category == "test-category")
        == _internal.MAX_ADVISORY_KEYS
    )
    assert _internal.advise_once("other-category", "x", "still logged") is True
