"""Judging wired into a Guard: sampling on real calls, sinks, events, metrics and the judge's own calls."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import openai
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import llmguard
from llmguard import CallRecorder
from llmguard.judging import (
    EVENT_NAME,
    InMemorySink,
    JudgeInput,
    JudgeResult,
    JudgingObserver,
    JudgingTelemetry,
    Judgment,
    LLMJudge,
    Sampling,
    SQLiteSink,
)
from llmguard.judging._observer import build
from llmguard.testing import FakeOpenAI, FakeRequest

MODEL = "gpt-4o-mini-2024-07-18"
MESSAGES: Any = [{"role": "user", "content": "What is the capital of France?"}]


def reply(request: FakeRequest) -> str:
    if "response_format" in request.body:
        return json.dumps({"score": 2, "reason": "too terse"})
    return "Paris."


@pytest.fixture
def guards() -> Iterator[list[llmguard.Guard]]:
    made: list[llmguard.Guard] = []
    yield made
    for g in made:
        g.close(5)


def guard_with(guards: list[llmguard.Guard], **kwargs: Any) -> llmguard.Guard:
    kwargs.setdefault("pin_policy", "enforce")
    kwargs.setdefault("judgment_sink", InMemorySink())
    g = llmguard.Guard(**kwargs)
    guards.append(g)
    return g


def judging(g: llmguard.Guard) -> JudgingObserver:
    return next(o for o in g.runtime.observers if isinstance(o, JudgingObserver))


def ask(client: openai.OpenAI) -> str | None:
    return client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content


def test_the_caller_returns_while_the_judge_is_blocked(guards: list[llmguard.Guard]) -> None:
    release, entered = threading.Event(), threading.Event()

    def blocked(item: JudgeInput) -> float:
        entered.set()
        release.wait(10)
        return 1.0

    sink = InMemorySink()
    g = guard_with(guards, judges=[blocked], sampling=1.0, judgment_sink=sink)
    with FakeOpenAI(reply=reply).client(llmguard.OpenAI, guard=g) as client:
        assert ask(client) == "Paris."
        assert entered.wait(5)
        assert ask(client) == "Paris."  # judging the first call is still blocked
        assert not sink.judgments
    release.set()
    assert g.flush(5)
    assert len(sink.judgments) == 2
    (judgment, _) = sink.judgments
    assert judgment.result is not None
    assert judgment.result.passed


@pytest.mark.anyio
async def test_async_clients_are_judged_too(guards: list[llmguard.Guard]) -> None:
    sink = InMemorySink()
    g = guard_with(guards, judges=["no_refusal"], judgment_sink=sink)
    async with FakeOpenAI(reply=reply).client(llmguard.AsyncOpenAI, guard=g) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async for _ in stream:
            pass
    assert g.flush(5)
    (judgment,) = sink.judgments
    assert judgment.status == "ok"


def test_only_sampled_calls_keep_their_output(guards: list[llmguard.Guard]) -> None:
    recorder = CallRecorder()
    g = guard_with(guards, judges=["no_refusal"], sampling=0.5, observers=[recorder])
    with FakeOpenAI(reply=reply).client(llmguard.OpenAI, guard=g) as client:
        for _ in range(40):
            ask(client)
    assert g.flush(5)
    kept = [r for r in recorder.records if r.output_text is not None]
    assert 0 < len(kept) < 40
    assert judging(g).stats().sampled == len(kept)
    assert {j.call_id for j in cast(InMemorySink, g.judgment_sink).judgments} == {r.call_id for r in kept}


def test_llm_judge_calls_are_judge_calls_never_judged(guards: list[llmguard.Guard]) -> None:
    recorder = CallRecorder()
    fake = FakeOpenAI(reply=reply)
    g = guard_with(guards, observers=[recorder], sampling=1.0)
    judge_client = fake.client(llmguard.OpenAI, guard=g)
    g.judges = [LLMJudge(rubric="Answers fully", model=MODEL, client=judge_client)]
    with fake.client(llmguard.OpenAI, guard=g) as client:
        ask(client)
    assert g.flush(5)
    assert [r.kind for r in recorder.records] == ["app", "judge"]
    (judgment,) = cast(InMemorySink, g.judgment_sink).judgments
    assert judgment.result is not None
    assert (judgment.result.score, judgment.result.passed, judgment.result.reason) == (2, False, "too terse")
    assert judging(g).stats().sampled == 1  # the judge's own call was not sampled
    judge_client.close()


def test_alias_judge_model_is_refused_with_the_pin_error(guards: list[llmguard.Guard]) -> None:
    fake = FakeOpenAI(reply=reply)
    g = guard_with(guards)
    judge_client = fake.client(llmguard.OpenAI, guard=g)
    g.judges = [LLMJudge(rubric="r", model="gpt-4o-mini", client=judge_client)]
    with fake.client(llmguard.OpenAI, guard=g) as client:
        assert ask(client) == "Paris."  # the app call is unaffected
    assert g.flush(5)
    (judgment,) = cast(InMemorySink, g.judgment_sink).judgments
    assert (judgment.status, judgment.error_type) == ("error", "UnpinnedModelError")
    assert fake.call_count == 1
    judge_client.close()


def test_failed_calls_are_judged_only_when_asked(guards: list[llmguard.Guard]) -> None:
    fake = FakeOpenAI(reply=reply)
    plain = guard_with(guards, judges=["min_length"])
    errors = guard_with(guards, judges=["min_length"], sampling=Sampling(rate=0.0, errors=True))
    for g in (plain, errors):
        fake.fail_next(400)
        with (
            fake.client(llmguard.OpenAI, guard=g, max_retries=0) as client,
            pytest.raises(openai.BadRequestError),
        ):
            ask(client)
        assert g.flush(5)
    assert judging(plain).stats().sampled == 0
    assert judging(errors).stats().sampled == 1


def test_default_sink_is_the_local_database(guards: list[llmguard.Guard], tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    g = guard_with(guards, judges=["no_refusal", "min_length"], judgment_sink=None, db_path=db)
    with FakeOpenAI(reply=reply).client(llmguard.OpenAI, guard=g) as client:
        ask(client)
    assert g.flush(5)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT judge, status, score, passed FROM llmguard_judgments ORDER BY judge"
        ).fetchall()
    conn.close()
    assert rows == [("min_length", "ok", 1.0, 1), ("no_refusal", "ok", 1.0, 1)]


def test_config_file_keys(guards: list[llmguard.Guard]) -> None:
    Path("llmguard.toml").write_text(
        'judges = ["no_refusal", { name = "min_length", min_chars = 3 }]\nsampling = { rate = 0.25, max_queue = 7 }\n'
    )
    g = guard_with(guards)
    observer = judging(g)
    assert [j.name for j in observer.judges] == ["no_refusal", "min_length"]
    assert observer.sampling.rate == 0.25
    assert observer.queue.max_queue == 7


def test_no_judges_no_observer() -> None:
    assert build(llmguard.Guard()) is None


def test_sampling_keys_on_the_trace_id(guards: list[llmguard.Guard]) -> None:
    observer = judging(guard_with(guards, judges=["no_refusal"], sampling=0.5))

    def start(trace_id: str | None, call_id: str, kind: str = "app", operation: str = "chat") -> bool:
        call = SimpleNamespace(
            kind=kind,
            operation=operation,
            prompt=None,
            scope=None,
            extras={},
            trace_id=trace_id,
            call_id=call_id,
            want_output=False,
        )
        observer.on_start(cast(Any, call))
        return bool(call.want_output)

    traces = [f"{i:032x}" for i in range(200)]
    decisions = [start(t, f"c{i}") for i, t in enumerate(traces)]
    assert decisions == [start(t, f"other{i}") for i, t in enumerate(traces)]  # call ids do not matter
    assert 40 < sum(decisions) < 160
    assert not any(start(None, "x", kind="judge") for _ in range(3))
    assert not any(start(t, "x", operation="embeddings") for t in traces)


# -- telemetry ------------------------------------------------------------------------------------


def logs() -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


def judgment(**kwargs: Any) -> Judgment:
    result = JudgeResult.of("llm_judge", 4, scale=(1, 5), threshold=0.75, reason="solid answer")
    defaults: dict[str, Any] = {"call_id": "c", "judge": "llm_judge", "status": "ok", "result": result}
    return Judgment(**{**defaults, **kwargs})


@pytest.mark.parametrize("capture", [False, True])
def test_evaluation_event_links_the_judged_call(capture: bool) -> None:
    provider, exporter = logs()
    telemetry = JudgingTelemetry(logger_provider=provider, capture_content=capture)
    telemetry.judged(
        judgment(trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b7ad6b7169203331", response_id="r1")
    )
    (data,) = exporter.get_finished_logs()
    rec = data.log_record
    assert rec.event_name == EVENT_NAME
    assert rec.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert rec.span_id == 0xB7AD6B7169203331
    attrs = dict(rec.attributes or {})
    assert attrs["gen_ai.evaluation.name"] == "llm_judge"
    assert attrs["gen_ai.evaluation.score.value"] == 4.0
    assert attrs["gen_ai.evaluation.score.label"] == "pass"
    assert attrs["gen_ai.response.id"] == "r1"
    assert ("gen_ai.evaluation.explanation" in attrs) is capture
    provider.shutdown()


def test_errored_judgment_event_and_unlinked_calls() -> None:
    provider, exporter = logs()
    telemetry = JudgingTelemetry(logger_provider=provider)
    telemetry.judged(
        judgment(status="timeout", result=None, error_type="TimeoutError", trace_id="zz", span_id="1")
    )
    (data,) = exporter.get_finished_logs()
    attrs = dict(data.log_record.attributes or {})
    assert attrs["error.type"] == "TimeoutError"
    assert "gen_ai.evaluation.score.value" not in attrs
    assert not data.log_record.trace_id
    provider.shutdown()


def test_guard_events_and_metrics(guards: list[llmguard.Guard]) -> None:
    provider, exporter = logs()
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    g = guard_with(
        guards,
        judges=["no_refusal"],
        sampling=Sampling(max_queue=1, workers=1),
        logger_provider=provider,
        meter_provider=meters,
    )
    release = threading.Event()
    g.judges = [lambda item: release.wait(10)]
    with FakeOpenAI(reply=reply).client(llmguard.OpenAI, guard=g) as client:
        for _ in range(4):
            ask(client)
    release.set()
    assert g.flush(5)
    stats = judging(g).stats()
    assert stats.dropped >= 1
    assert stats.judged + stats.dropped == 4
    names = {log.log_record.event_name for log in exporter.get_finished_logs()}
    assert names == {EVENT_NAME}
    data = reader.get_metrics_data()
    assert data is not None
    metrics = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {
        "llmguard.judging.dropped",
        "llmguard.judging.duration",
        "llmguard.judging.queue.depth",
    } <= metrics
    meters.shutdown()
    provider.shutdown()


def test_sqlite_sink_reads_back(tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "x.db")
    sink.write([judgment(), judgment(status="error", result=None, error_type="ValueError")])
    rows = sink.rows()
    assert [r["status"] for r in rows] == ["error", "ok"]
    assert rows[1]["normalized"] == 0.75
    sink.close()
