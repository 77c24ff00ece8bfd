#!/usr/bin/env python3
"""The 5-call smoke of a supported SDK pair: each call gives exactly one record, with usage.

For openai and anthropic alike: a sync and an async create, a sync and an async stream, and a raw
response. It runs against the offline fakes of `llmguard.testing`, with the pin policy enforced, in
whatever environment it is started from (the version matrix runs it in one venv per SDK pair).

Usage: ``python compat/smoke.py`` (exit 0 when all ten calls pass, 1 otherwise).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import anthropic
import openai

import llmguard
from llmguard import CallRecorder, Guard
from llmguard.testing import FakeAnthropic, FakeOpenAI, FakeUsage

OPENAI_MODEL = "gpt-4o-2024-08-06"
ANTHROPIC_MODEL = "claude-sonnet-4-6"  # a live snapshot: a retired one is refused under enforce
MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]
USAGE = FakeUsage(input_tokens=7, output_tokens=3)


def _openai_calls(fake: FakeOpenAI, guard: Guard) -> dict[str, Callable[[], object]]:
    create = {"model": OPENAI_MODEL, "messages": MESSAGES}

    def sync_create() -> object:
        with fake.client(llmguard.OpenAI, guard=guard) as client:
            return client.chat.completions.create(**create).choices[0].message.content

    def sync_stream() -> object:
        with fake.client(llmguard.OpenAI, guard=guard) as client:
            return list(client.chat.completions.create(**create, stream=True))

    def raw() -> object:
        with fake.client(llmguard.OpenAI, guard=guard) as client:
            return client.chat.completions.with_raw_response.create(**create).parse()

    async def _async(stream: bool) -> object:
        async with fake.client(llmguard.AsyncOpenAI, guard=guard) as client:
            if stream:
                return [c async for c in await client.chat.completions.create(**create, stream=True)]
            return (await client.chat.completions.create(**create)).choices[0].message.content

    return {
        "sync create": sync_create,
        "async create": lambda: asyncio.run(_async(False)),
        "sync stream": sync_stream,
        "async stream": lambda: asyncio.run(_async(True)),
        "raw response": raw,
    }


def _anthropic_calls(fake: FakeAnthropic, guard: Guard) -> dict[str, Callable[[], object]]:
    create = {"model": ANTHROPIC_MODEL, "messages": MESSAGES, "max_tokens": 64}

    def sync_create() -> object:
        with fake.client(llmguard.Anthropic, guard=guard) as client:
            return client.messages.create(**create).content

    def sync_stream() -> object:
        # The SDK's own helper: before anthropic 0.43 it discarded the guarded stream (no usage).
        with fake.client(llmguard.Anthropic, guard=guard) as client, client.messages.stream(**create) as s:
            return s.get_final_message()

    def raw() -> object:
        with fake.client(llmguard.Anthropic, guard=guard) as client:
            return client.messages.with_raw_response.create(**create).parse()

    async def _async(stream: bool) -> object:
        async with fake.client(llmguard.AsyncAnthropic, guard=guard) as client:
            if stream:
                return [e async for e in await client.messages.create(**create, stream=True)]
            return (await client.messages.create(**create)).content

    return {
        "sync create": sync_create,
        "async create": lambda: asyncio.run(_async(False)),
        "sync stream": sync_stream,
        "async stream": lambda: asyncio.run(_async(True)),
        "raw response": raw,
    }


def _check(name: str, call: Callable[[], object], recorder: CallRecorder) -> str | None:
    before = len(recorder)
    try:
        call()
    except Exception as exc:
        return f"{name}: raised {type(exc).__name__}: {exc}"
    records = recorder.records[before:]
    if len(records) != 1:
        return f"{name}: {len(records)} records (expected exactly 1)"
    record = records[0]
    if record.error_type is not None:
        return f"{name}: recorded error {record.error_type}"
    if record.usage.input_tokens is None or record.usage.output_tokens is None:
        return f"{name}: no usage recorded ({record.usage})"
    return None


def main() -> int:
    recorder = CallRecorder()
    guard = Guard(pin_policy="enforce", observers=[recorder])
    suites = {
        f"openai {openai.__version__}": _openai_calls(FakeOpenAI(usage=USAGE), guard),
        f"anthropic {anthropic.__version__}": _anthropic_calls(FakeAnthropic(usage=USAGE), guard),
    }
    failures = 0
    for sdk, calls in suites.items():
        problems = [p for name, call in calls.items() if (p := _check(name, call, recorder))]
        failures += len(problems)
        print(f"smoke {sdk}: {len(calls) - len(problems)}/{len(calls)}")
        for problem in problems:
            print(f"  FAILED {problem}")
    guard.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
