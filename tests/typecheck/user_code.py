"""User code written against llmguard's clients: `make typecheck` runs mypy --strict over it."""

from __future__ import annotations

from typing import Any

import openai

import llmguard
from llmguard import AsyncAnthropic, AsyncOpenAI, Guard, OpenAI


def construct(guard: Guard) -> list[Any]:
    return [
        OpenAI(api_key="k", timeout=5.0, max_retries=1, guard=guard),
        AsyncOpenAI(api_key="k"),
        llmguard.AzureOpenAI(
            api_key="k", api_version="2024-10-21", azure_endpoint="https://x.openai.azure.com"
        ),
        llmguard.Anthropic(api_key="k", guard=guard),
        AsyncAnthropic(api_key="k"),
    ]


def chat(client: OpenAI) -> str:
    copy: OpenAI = client.with_options(timeout=3).copy(guard=client.guard)
    stock: openai.OpenAI = copy  # a guarded client is an openai.OpenAI
    completion = stock.chat.completions.create(
        model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}]
    )
    for chunk in client.chat.completions.create(
        model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}], stream=True
    ):
        _ = chunk.choices[0].delta.content
    with client.chat.completions.stream(
        model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        _ = stream.get_final_completion()
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}]
    )
    _ = raw.parse().id
    with client.responses.stream(model="gpt-4o-2024-08-06", input="hi") as rstream:
        _ = rstream.get_final_response().output_text
    return completion.choices[0].message.content or ""


async def messages(client: AsyncAnthropic) -> str:
    async with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = await stream.get_final_text()
    message = await client.with_options(timeout=2).messages.create(
        model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    return text + str(message.usage.output_tokens)
