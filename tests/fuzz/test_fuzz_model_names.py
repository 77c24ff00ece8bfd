"""Fuzz: model names (argument and ``extra_body``) through a guarded client under each pin policy.

A call either succeeds, is refused with a typed `llmguard.LLMGuardError` before any I/O, or fails
with the SDK's own exception (provider errors are never wrapped).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fuzz_support import fuzz, typed
from hypothesis import given
from hypothesis import strategies as st

import llmguard
from llmguard import Guard
from llmguard.testing import FakeOpenAI

KNOWN = [
    "gpt-4o",
    "gpt-4o-2024-08-06",
    "gpt-4o-2024-08-06 ",
    " gpt-4o",
    "GPT-4O",
    "o1",
    "claude-3-5-sonnet-latest",
]
models = st.one_of(
    st.sampled_from(KNOWN),
    st.text(max_size=40),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._:/ ", max_size=60),
    st.tuples(st.sampled_from(KNOWN), st.text(max_size=5)).map("".join),
)


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {}
    fakes = []
    for policy in ("enforce", "warn", "off"):
        fake = FakeOpenAI()
        fakes.append(fake)
        made[policy] = fake.client(llmguard.OpenAI, guard=Guard(pin_policy=policy))
    yield made
    for client in made.values():
        client.close()


@fuzz(300)
@given(model=models, policy=st.sampled_from(["enforce", "warn", "off"]), with_extra=st.booleans())
def test_model_names(clients: dict[str, Any], model: str, policy: str, with_extra: bool) -> None:
    client = clients[policy]
    extra = {"extra_body": {"model": model}} if with_extra else {}
    target = "gpt-4o-2024-08-06" if with_extra else model

    def call() -> Any:
        try:
            return client.chat.completions.create(
                model=target, messages=[{"role": "user", "content": "hi"}], **extra
            )
        except openai.APIError:
            return None  # the SDK's own error, untouched

    typed("model names", call)
