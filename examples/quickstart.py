"""llmguard quickstart: runs offline against the built-in fake provider.

    python examples/quickstart.py          # offline, no key, no network
    python examples/quickstart.py --live   # the real OpenAI API (needs OPENAI_API_KEY)

It walks through what every guarded call gets: the one-line swap, a floating alias refused
before any I/O, a locked alias rewritten to its snapshot, a streamed call, and the call record.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

import llmguard
from llmguard import CallRecord, CallRecorder, Guard, OpenAI  # was: from openai import OpenAI
from llmguard.testing import FakeOpenAI, FakeUsage

console = Console(highlight=False)
MODEL = "gpt-4o-mini-2024-07-18"


def make_client(guard: Guard, live: bool) -> OpenAI:
    """The same constructor as openai.OpenAI, plus guard=. Offline, the fake provider answers."""
    if live:
        return OpenAI(guard=guard)
    fake = FakeOpenAI(
        reply=lambda request: f"(fake) You said: {request.body['messages'][-1]['content']}",
        usage=FakeUsage(input_tokens=12, output_tokens=9, cached_tokens=4),
    )
    return fake.client(OpenAI, guard=guard)


def show_record(title: str, record: CallRecord | None) -> None:
    """Print the fields of a call record that matter most."""
    if record is None:
        return
    table = Table(title=title, show_header=False, title_justify="left")
    rows: dict[str, Any] = {
        "call_id": record.call_id,
        "requested -> sent -> served": f"{record.requested_model} -> {record.request_model} -> {record.response_model}",
        "pin decision": record.pin_action,
        "tokens in/out (cached)": f"{record.usage.input_tokens}/{record.usage.output_tokens} "
        f"({record.usage.cache_read_tokens})",
        "stream": f"{record.stream} (completed={record.stream_completed})",
        "latency": f"{record.duration_s * 1000:.1f} ms",
        "cost (USD)": "unknown" if record.cost is None else f"{record.cost.total:.8f}",
        "trace/span": f"{record.trace_id}/{record.span_id}",
    }
    for key, value in rows.items():
        table.add_row(key, str(value))
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Run the tour; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--live", action="store_true", help="call the real OpenAI API (uses OPENAI_API_KEY)")
    args = parser.parse_args(argv)

    recorder = CallRecorder()
    guard = Guard(
        environment="production",  # production => the pin policy enforces
        pins={"gpt-4o": "gpt-4o-2024-08-06"},  # a lock: this alias is rewritten to its snapshot
        observers=[recorder],
    )
    console.print(f"[bold]1. One-line swap[/bold]  {guard!r}")
    client = make_client(guard, args.live)
    messages: list[Any] = [{"role": "user", "content": "Hello, llmguard!"}]
    reply = client.chat.completions.create(model=MODEL, messages=messages)
    console.print(f"   reply: {reply.choices[0].message.content!r}  (a plain openai ChatCompletion)")
    show_record("   call record", recorder.last)

    console.print("[bold]2. A floating alias is refused before any network I/O[/bold]")
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    except llmguard.UnpinnedModelError as exc:
        console.print(f"   [red]UnpinnedModelError[/red]: {exc}")

    console.print("[bold]3. A locked alias is rewritten to its snapshot[/bold]")
    client.chat.completions.create(model="gpt-4o", messages=messages)
    show_record("   locked call", recorder.last)

    console.print("[bold]4. Streaming works as in the SDK (usage is collected for you)[/bold]")
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    console.print(f"   streamed: {text!r}")
    show_record("   streamed call", recorder.last)

    console.print(f"[bold green]Done:[/bold green] {len(recorder)} calls recorded.")
    client.close()
    guard.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
