"""The host app of the fault suite: a support bot with every llmguard feature on.

Pins under ``enforce`` (an alias rewritten by the lock), a registry prompt from a file store, spans
through a batch span processor into an exporter of the test's choosing, metrics, judging of every
call (a rule judge plus an optional extra judge) into the SQLite judgment table, the SQLite cost
ledger with a budget, and negative user feedback on every answer (which also queues a judgment).

`HostApp.accounting` flushes, then reads what the stores hold, so a test can check that every
row is accounted for: written, or counted as failed or dropped, never silently lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmguard
from llmguard._feedback import sink_errors
from llmguard.cost import Budget, CostPolicy, WriterStats, ledger_stats
from llmguard.judging import JudgingStats, Sampling
from llmguard.testing import FakeOpenAI

ALIAS = "gpt-4o-mini"
SNAPSHOT = "gpt-4o-mini-2024-07-18"
MESSAGES: Any = [{"role": "user", "content": "hello"}]
PROMPT = """\
version: "1.0.0"
model: "gpt-4o-mini-2024-07-18"
system_prompt: "You are the support bot of Acme."
user_template: "{{ question }}"
variables:
  question: {type: string}
parameters: {temperature: 0.2, max_tokens: 50}
"""


def write_prompts(root: Path) -> Path:
    """A file prompt store with ``support-bot`` 1.0.0 labelled ``production``."""
    folder = root / "support-bot"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "v1.0.0.yaml").write_text(PROMPT)
    (folder / "labels.yaml").write_text("production: 1.0.0\n")
    return root


class SpanCounter(SpanExporter):
    """Counts exported spans; lock-free, so a forked child can reset and reuse it safely."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Count the batch (the batch span processor exports from one thread)."""
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


@dataclass
class Accounting:
    """What the stores hold after a flush."""

    flushed: bool
    ledger: WriterStats
    ledger_rows: int
    judging: JudgingStats
    judgment_rows: int
    feedback_rows: int
    feedback_errors: int
    spans: int


@dataclass
class HostApp:
    """The guarded app: ``serve`` answers one question and records feedback on the answer."""

    guard: llmguard.Guard
    fake: FakeOpenAI
    client: llmguard.OpenAI
    db: Path
    exporter: SpanExporter
    tracer_provider: TracerProvider
    calls: int = 0
    feedbacks: int = 0
    feedback_errors_before: int = field(default_factory=lambda: sum(sink_errors().values()))

    def serve(self, question: str = "How do I reset my password?", *, stream: bool = False) -> str:
        """One request of the app: resolve the prompt, call the model, record (negative) feedback."""
        prompt = self.guard.prompts.get("support-bot", label="production")
        request = prompt.render(question=question).openai_chat()
        self.calls += 1
        if stream:
            chunks = self.client.chat.completions.create(**request, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            target: Any = chunks
        else:
            reply = self.client.chat.completions.create(**request)
            text = reply.choices[0].message.content or ""
            target = reply
        llmguard.feedback(target, "thumbs", False, user_id=f"user-{self.calls}", guard=self.guard)
        self.feedbacks += 1
        return text

    def serve_without_prompt(self) -> str:
        """The app's fallback when its prompt cannot be resolved: a built-in message."""
        self.calls += 1
        reply = self.client.chat.completions.create(model=SNAPSHOT, messages=MESSAGES)
        return reply.choices[0].message.content or ""

    def accounting(self, timeout: float = 10.0) -> Accounting:
        """Flush the background work, then count what every store holds."""
        flushed = self.guard.flush(timeout)
        self.tracer_provider.force_flush(int(timeout * 1000))
        stats = ledger_stats(self.guard)
        assert stats is not None
        judging = self.judging_stats()
        spans = -1  # an exporter that cannot be read back (OTLP)
        if isinstance(self.exporter, InMemorySpanExporter):
            spans = len(self.exporter.get_finished_spans())
        elif isinstance(self.exporter, SpanCounter):
            spans = self.exporter.exported
        return Accounting(
            flushed=flushed,
            ledger=stats,
            ledger_rows=count(self.db, "cost_ledger"),
            judging=judging,
            judgment_rows=count(self.db, "llmguard_judgments"),
            feedback_rows=count(self.db, "llmguard_feedback"),
            feedback_errors=sum(sink_errors().values()) - self.feedback_errors_before,
            spans=spans,
        )

    def judging_stats(self) -> JudgingStats:
        """The judging queue's counters."""
        for observer in self.guard.runtime.observers:
            stats = getattr(observer, "stats", None)
            if callable(stats):
                value = stats()
                if isinstance(value, JudgingStats):
                    return value
        raise AssertionError("judging is not on")

    def close(self) -> None:
        """Stop everything the app started."""
        self.client.close()
        self.guard.close(5.0)
        self.tracer_provider.shutdown()


def count(db: Path, table: str) -> int:
    """Rows in ``table`` (0 when the database or table does not exist)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def build_app(
    root: Path,
    *,
    exporter: SpanExporter | None = None,
    judges: Sequence[Any] = (),
    sampling: Sampling | None = None,
    prompts: Any = None,
    db: Path | None = None,
    fake: FakeOpenAI | None = None,
    max_retries: int = 0,
    timeout: float | None = None,
    span_export_timeout_ms: int = 2000,
) -> HostApp:
    """The host app with every feature on, over a fake OpenAI served in-process."""
    exporter = exporter or InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=50, export_timeout_millis=span_export_timeout_ms)
    )
    db = db or root / "llmguard.db"
    guard = llmguard.Guard(
        service_name="support",
        pin_policy="enforce",
        pins={ALIAS: SNAPSHOT},
        prompts=prompts if prompts is not None else write_prompts(root / "prompts"),
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        judges=["no_refusal", *judges],
        sampling=sampling or Sampling(rate=1.0, errors=True, judge_timeout=2.0),
        db_path=db,
        ledger=True,
        budgets=CostPolicy(budgets=[Budget(period="day", soft_usd=1e6, hard_usd=1e6)], check_interval_s=0),
    )
    fake = fake or FakeOpenAI(reply="Open Settings, then Security, then Reset Password.")
    options: dict[str, Any] = {"guard": guard, "max_retries": max_retries}
    if timeout is not None:
        options["timeout"] = timeout
    client = fake.client(llmguard.OpenAI, **options)
    return HostApp(guard, fake, client, db, exporter, tracer_provider)


def assert_accounted(app: HostApp, acc: Accounting, *, ledger_failed: int = 0) -> None:
    """Every call has its ledger row, every judgment and feedback is stored or counted; nothing pending."""
    assert acc.flushed
    ledger = acc.ledger
    assert ledger.pending == 0
    assert ledger.written + ledger.failed + ledger.dropped == app.calls
    assert (ledger.failed, ledger.dropped) == (ledger_failed, 0)
    assert acc.ledger_rows == ledger.written
    judging = acc.judging
    assert judging.pending == 0
    assert judging.judged + judging.errored + judging.dropped == judging.sampled
    assert acc.judgment_rows + judging.unsaved == judging.judged + judging.errored
    assert acc.feedback_rows + acc.feedback_errors == app.feedbacks
