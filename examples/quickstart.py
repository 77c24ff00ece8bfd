"""llmguard quickstart: runs offline against the built-in fake provider.

    python examples/quickstart.py          # offline, no key, no network
    python examples/quickstart.py --live   # the real OpenAI API (needs OPENAI_API_KEY)

It walks through what every guarded call gets: the one-line swap, a floating alias refused
before any I/O, a locked alias rewritten to its snapshot, a streamed call and the call record,
then the features around it: an OpenTelemetry span with tokens and cost, a versioned prompt
from the registry, sampled background judging, user feedback linked to the call, and the cost
ledger. (The eval gate has its own tour: ``python examples/eval_demo.py``.)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import llmguard
from llmguard import CallRecord, CallRecorder, Guard, OpenAI, telemetry  # was: from openai import OpenAI
from llmguard.judging import InMemorySink, Sampling
from llmguard.testing import FakeOpenAI, FakeUsage

console = Console(highlight=False)
MODEL = "gpt-4o-mini-2024-07-18"
PROMPTS = Path(__file__).parent / "prompts"


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
    otel = telemetry.setup("memory", set_global=False)  # or "console" / "otlp" in your app
    judgments = InMemorySink()
    feedback_rows: list[llmguard.FeedbackEntry] = []
    workdir = Path(tempfile.mkdtemp(prefix="llmguard-quickstart-"))
    guard = Guard(
        environment="production",  # production => the pin policy enforces
        pins={"gpt-4o": "gpt-4o-2024-08-06"},  # a lock: this alias is rewritten to its snapshot
        observers=[recorder],
        prompts=PROMPTS,  # prompts/<name>/v<semver>.yaml, reviewed in git
        judges=["no_refusal", ("min_length", {"min_chars": 5})],
        sampling=Sampling(rate=1.0),  # judge every call, in the background
        judgment_sink=judgments,
        feedback_sink=llmguard.CallbackFeedbackSink(feedback_rows.append),
        ledger=workdir / "ledger.db",  # the local cost ledger (opt-in)
        **otel.guard_kwargs(),
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

    tour_features(client, guard, otel, judgments, feedback_rows, reply)
    console.print(f"[bold green]Done:[/bold green] {len(recorder)} calls recorded.")
    client.close()
    guard.close()
    otel.shutdown()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def tour_features(
    client: OpenAI,
    guard: Guard,
    otel: telemetry.Telemetry,
    judgments: InMemorySink,
    feedback_rows: list[llmguard.FeedbackEntry],
    reply: Any,
) -> None:
    """Sections 5-9: telemetry, prompts, judging, feedback and the cost ledger."""
    console.print("[bold]5. One OpenTelemetry span per call, with tokens and cost[/bold]")
    span = otel.span_exporter.get_finished_spans()[0]
    attrs = dict(span.attributes or {})
    console.print(f"   span {span.name!r}: provider={attrs.get('gen_ai.provider.name')} ")
    console.print(
        f"   tokens in/out={attrs.get('gen_ai.usage.input_tokens')}/{attrs.get('gen_ai.usage.output_tokens')}"
        f"  cost=${attrs.get('gen_ai.usage.cost.amount')}  (no message content unless you opt in)"
    )

    console.print("[bold]6. A versioned prompt from the registry (prompts as code)[/bold]")
    prompt = guard.prompts.get("support-bot", "^2.1")
    rendered = prompt.render().with_user("How do I reset my password?")
    answer = client.chat.completions.create(**rendered.openai_chat())
    record = guard_last(guard)
    console.print(f"   support-bot@{prompt.version} (designed for {prompt.model!r}, locked to its snapshot)")
    console.print(f"   answer: {answer.choices[0].message.content!r}")
    if record is not None and record.prompt is not None:
        console.print(f"   the call record links the prompt: {record.prompt.name}@{record.prompt.version}")

    console.print("[bold]7. Sampled judging runs in the background, never blocking the call[/bold]")
    guard.flush(timeout=10)
    for judgment in sorted(judgments.judgments, key=lambda j: (j.call_id, j.judge))[:4]:
        result = judgment.result
        score = "-" if result is None else f"{result.score:g} (passed={result.passed})"
        console.print(f"   {judgment.judge:<11} call {judgment.call_id[-8:]}: {judgment.status} {score}")

    console.print("[bold]8. User feedback linked to the exact call[/bold]")
    ref = llmguard.call_ref(reply)
    llmguard.feedback(reply, "thumbs", True, user_id="user-42", guard=guard)
    console.print(f"   call_ref: call_id={ref.call_id} trace_id={ref.trace_id} response_id={ref.response_id}")
    stored = feedback_rows[-1]
    console.print(
        f"   stored: {stored.name}={stored.value} for call {stored.ref.call_id} (model {stored.ref.model})"
    )

    console.print("[bold]9. The cost ledger (try: llmguard --db <path> cost report)[/bold]")
    guard.flush(timeout=10)
    from llmguard.cost import ledger_stats

    stats = ledger_stats(guard)
    console.print(f"   ledger rows written: {stats.written if stats else 0}")


def guard_last(guard: Guard) -> CallRecord | None:
    """The most recent record of the guard's CallRecorder."""
    for observer in guard.observers:
        if isinstance(observer, CallRecorder):
            return observer.last
    return None


if __name__ == "__main__":
    sys.exit(main())
