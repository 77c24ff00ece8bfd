"""The call context (`llmguard.context`, `llmguard.context_headers`): spans, ledger, budgets, judging, feedback."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmguard
from llmguard import PromptRef
from llmguard._record import PROMPT_HEADER, encode_prompt_header
from llmguard._scope import CONTEXT_HEADER, MAX_TAGS
from llmguard.cost import Budget, SQLiteLedger, budget_spent
from llmguard.exceptions import BudgetExceededError, ContextError
from llmguard.judging import InMemorySink, JudgingObserver, Sampling
from llmguard.telemetry import semconv as sc
from llmguard.testing import FakeAnthropic, FakeOpenAI
from test_cost_ledger import guarded

MODEL = "gpt-4o-mini-2024-07-18"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def guards() -> Iterator[list[llmguard.Guard]]:
    made: list[llmguard.Guard] = []
    yield made
    for guard in made:
        guard.close(5)


def recorded(guards: list[llmguard.Guard], **kwargs: Any) -> tuple[llmguard.Guard, llmguard.CallRecorder]:
    recorder = llmguard.CallRecorder()
    guard = llmguard.Guard(pin_policy="off", observers=[recorder], **kwargs)
    guards.append(guard)
    return guard, recorder


def ask(client: Any, **kwargs: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=MESSAGES, **kwargs)


# -- the values ---------------------------------------------------------------------------------------


def test_nested_contexts_merge() -> None:
    with llmguard.context(user_id="u1", session_id="s1", tags=["a"], metadata={"tenant": "acme"}):
        with llmguard.context(user_id="u2", tags=["b", "a"], metadata={"plan": "pro"}) as inner:
            assert inner.user_id == "u2"
            assert inner.session_id == "s1"
            assert inner.tags == ("a", "b")
            assert dict(inner.metadata) == {"tenant": "acme", "plan": "pro"}
        from llmguard._scope import current_context

        outer = current_context.get()
        assert outer is not None
        assert outer.user_id == "u1"
    assert current_context.get() is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"user_id": 42}, "user_id must be a string"),
        ({"user_id": "x" * 257}, "user_id must be 1 to 256"),
        ({"session_id": ""}, "session_id must be 1 to 256"),
        ({"tags": "checkout"}, "tags must be a list"),
        ({"tags": 5}, "tags must be a list"),
        ({"tags": {"a": "b"}}, "tags must be a list"),
        ({"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, "at most 32 tags"),
        ({"tags": ["x" * 65]}, r"tags\[\] must be 1 to 64"),
        ({"metadata": {"bad key": "v"}}, "metadata key 'bad key'"),
        ({"metadata": {"k": 1}}, r"metadata\['k'\] must be a string"),
        ({"metadata": ["k"]}, "metadata must be a mapping"),
    ],
)
def test_bad_values_raise_a_context_error_naming_the_field(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ContextError, match=match), llmguard.context(**kwargs):
        pass
    with pytest.raises(ContextError, match=match):
        llmguard.context_headers(**kwargs)


# -- calls, threads and tasks ---------------------------------------------------------------------


def test_context_reaches_the_record_and_unused_means_none(guards: list[llmguard.Guard]) -> None:
    guard, recorder = recorded(guards)
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        ask(client)
        with llmguard.context(
            user_id="u-42", session_id="s-9", tags=["checkout"], metadata={"tenant": "acme"}
        ):
            ask(client)
    plain, scoped = recorder.records
    assert plain.context is None
    assert scoped.context is not None
    assert (scoped.context.user_id, scoped.context.session_id, scoped.context.tags) == (
        "u-42",
        "s-9",
        ("checkout",),
    )
    assert dict(scoped.context.metadata) == {"tenant": "acme"}


def test_threads_keep_their_own_context(guards: list[llmguard.Guard]) -> None:
    guard, recorder = recorded(guards)
    fake = FakeOpenAI()
    barrier = threading.Barrier(4)

    def work(user: str) -> None:
        with fake.client(llmguard.OpenAI, guard=guard) as client, llmguard.context(user_id=user):
            barrier.wait(10)  # every thread is inside its block before anyone calls
            for _ in range(3):
                ask(client)

    threads = [threading.Thread(target=work, args=(f"u{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    users = sorted(str(r.context.user_id) for r in recorder.records if r.context is not None)
    assert users == sorted([f"u{i}" for i in range(4)] * 3)


def test_asyncio_tasks_inherit_and_isolate(guards: list[llmguard.Guard]) -> None:
    guard, recorder = recorded(guards)
    fake = FakeOpenAI()

    async def main() -> None:
        async with fake.client(llmguard.AsyncOpenAI, guard=guard) as client:

            async def one(session: str) -> None:
                with llmguard.context(session_id=session):
                    await asyncio.sleep(0)
                    await client.chat.completions.create(model=MODEL, messages=MESSAGES)

            with llmguard.context(user_id="shared"):
                await asyncio.gather(one("a"), one("b"), one("c"))

    asyncio.run(main())
    seen = sorted((r.context.user_id, r.context.session_id) for r in recorder.records if r.context)
    assert seen == [("shared", "a"), ("shared", "b"), ("shared", "c")]


def test_per_call_headers_are_applied_and_never_sent(guards: list[llmguard.Guard]) -> None:
    guard, recorder = recorded(guards)
    fake = FakeOpenAI()
    ref = PromptRef(name="greeter", version="1.0.0")
    with fake.client(llmguard.OpenAI, guard=guard) as client, llmguard.context(user_id="u1", tags=["outer"]):
        headers = {
            PROMPT_HEADER: encode_prompt_header(ref),
            **llmguard.context_headers(session_id="s2", tags=["inner"]),
            "x-keep": "yes",
        }
        ask(client, extra_headers=headers)
    sent = fake.calls[0].headers
    assert CONTEXT_HEADER not in sent
    assert PROMPT_HEADER not in sent
    assert sent["x-keep"] == "yes"
    (record,) = recorder.records
    assert record.prompt is not None
    assert record.prompt.name == "greeter"
    assert record.context is not None
    assert (record.context.user_id, record.context.session_id) == ("u1", "s2")
    assert record.context.tags == ("outer", "inner")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"u": 42}', "user_id must be a string"),
        ('{"t": 5}', "tags must be a list"),
        ('{"m": {"k": ["v"]}}', "metadata['k'] must be a string"),
        ("[1, 2]", "expected a JSON object"),
        ("{not json", "not JSON"),
        ("x" * 70_000, "too long"),
    ],
    ids=["user", "tags", "metadata", "array", "json", "size"],
)
def test_a_malformed_context_header_is_ignored_with_an_advisory(
    value: str, message: str, guards: list[llmguard.Guard], caplog: pytest.LogCaptureFixture
) -> None:
    guard, recorder = recorded(guards)
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        ask(client, extra_headers={CONTEXT_HEADER: value})
    assert message in caplog.text
    assert CONTEXT_HEADER not in fake.calls[0].headers
    assert CONTEXT_HEADER not in fake.calls[0].headers
    assert recorder.records[0].context is None


def test_prompt_tags_join_the_context_tags(guards: list[llmguard.Guard]) -> None:
    guard, recorder = recorded(guards)
    ref = PromptRef(name="support", version="2.0.0", tags=("support", "checkout"))
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        with llmguard.use_prompt(ref), llmguard.context(tags=["checkout", "beta"]):
            ask(client)
        ask(client, extra_headers={PROMPT_HEADER: encode_prompt_header(ref)})
    joined, header_only = recorder.records
    assert joined.context is not None
    assert joined.context.tags == ("checkout", "beta", "support")
    assert header_only.context is not None
    assert header_only.context.tags == ("support", "checkout")


# -- spans ----------------------------------------------------------------------------------------------


def _span_attrs(exporter: InMemorySpanExporter) -> dict[str, Any]:
    (span,) = exporter.get_finished_spans()
    return dict(span.attributes or {})


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_spans_carry_the_context(
    vendor: str, provider: TracerProvider, exporter: InMemorySpanExporter, guards: list[llmguard.Guard]
) -> None:
    guard = llmguard.Guard(pin_policy="off", tracer_provider=provider)
    guards.append(guard)
    with llmguard.context(user_id="u-42", session_id="s-9", tags=["checkout"], metadata={"tenant": "acme"}):
        if vendor == "openai":
            with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
                ask(client)
        else:
            with FakeAnthropic().client(llmguard.Anthropic, guard=guard) as anthropic_client:
                anthropic_client.messages.create(model="claude-sonnet-4-6", max_tokens=8, messages=MESSAGES)
    a = _span_attrs(exporter)
    assert a[sc.GEN_AI_CONVERSATION_ID] == "s-9"
    assert a[sc.SESSION_ID] == "s-9"
    assert a[sc.USER_ID] == "u-42"
    assert a[sc.LLMGUARD_TAGS] == ("checkout",)
    assert a[sc.LLMGUARD_METADATA_PREFIX + "tenant"] == "acme"


def test_user_id_can_be_left_off_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter, guards: list[llmguard.Guard]
) -> None:
    guard = llmguard.Guard(pin_policy="off", tracer_provider=provider, telemetry={"user_id": False})
    guards.append(guard)
    with (
        FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client,
        llmguard.context(user_id="u", session_id="s"),
    ):
        ask(client)
    a = _span_attrs(exporter)
    assert sc.USER_ID not in a
    assert a[sc.GEN_AI_CONVERSATION_ID] == "s"


def test_no_context_no_context_attributes(
    provider: TracerProvider, exporter: InMemorySpanExporter, guards: list[llmguard.Guard]
) -> None:
    guard = llmguard.Guard(pin_policy="off", tracer_provider=provider)
    guards.append(guard)
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        ask(client)
    a = _span_attrs(exporter)
    assert not {sc.GEN_AI_CONVERSATION_ID, sc.USER_ID, sc.SESSION_ID, sc.LLMGUARD_TAGS} & set(a)
    assert not any(k.startswith(sc.LLMGUARD_METADATA_PREFIX) for k in a)


# -- ledger and report ----------------------------------------------------------------------------------


def _ledger_calls(guard: llmguard.Guard) -> None:
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        with llmguard.context(user_id="alice", session_id="s1", tags=["checkout", "beta"]):
            ask(client)
            ask(client)
        with llmguard.context(user_id="bob", tags=["checkout"], metadata={"tenant": "acme"}):
            ask(client)
        ask(client)


def test_ledger_rows_hold_the_context(tmp_path: Path, guards: list[llmguard.Guard]) -> None:
    guard = llmguard.Guard(ledger=True, db_path=tmp_path / "l.db", pin_policy="off")
    guards.append(guard)
    guarded(guard, "0.01")
    _ledger_calls(guard)
    assert guard.flush()
    ledger = SQLiteLedger(tmp_path / "l.db")
    try:
        rows = ledger.query("SELECT user_id, session_id, tags, metadata FROM cost_ledger ORDER BY ts_ns")
    finally:
        ledger.close()
    assert rows == [
        ("alice", "s1", '["checkout", "beta"]', None),
        ("alice", "s1", '["checkout", "beta"]', None),
        ("bob", None, '["checkout"]', '{"tenant": "acme"}'),
        (None, None, None, None),
    ]


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("user", {"alice": (2, 0.02), "bob": (1, 0.01), "-": (1, 0.01)}),
        ("session", {"s1": (2, 0.02), "-": (2, 0.02)}),
        ("tag", {"checkout": (3, 0.03), "beta": (2, 0.02), "-": (1, 0.01)}),
    ],
)
def test_cost_report_by_context(
    by: str, expected: dict[str, tuple[int, float]], tmp_path: Path, guards: list[llmguard.Guard]
) -> None:
    guard = llmguard.Guard(ledger=True, db_path=tmp_path / "l.db", pin_policy="off")
    guards.append(guard)
    guarded(guard, "0.01")
    _ledger_calls(guard)
    assert guard.flush()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmguard",
            "--db",
            str(tmp_path / "l.db"),
            "--json",
            "cost",
            "report",
            "--by",
            by,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert {row[by]: (row["calls"], row["cost_usd"]) for row in rows} == expected


# -- budgets ----------------------------------------------------------------------------------------------


def test_per_user_hard_budget_refuses_only_that_user(guards: list[llmguard.Guard]) -> None:
    budget = Budget(hard_usd=0.03, per="user")
    guard = llmguard.Guard(pin_policy="off", budgets=[budget])
    guards.append(guard)
    guarded(guard, "0.01")
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        with llmguard.context(user_id="heavy"):
            for _ in range(3):
                ask(client)
        with llmguard.context(user_id="light"):
            ask(client)
        sent = fake.call_count
        with llmguard.context(user_id="heavy"), pytest.raises(BudgetExceededError, match="user='heavy'"):
            ask(client)
        assert fake.call_count == sent  # refused before any I/O
        with llmguard.context(user_id="light"):
            ask(client)  # the other user is unaffected
        ask(client)  # and so is a call without a user
        ask(client, extra_headers=llmguard.context_headers(user_id="light"))
        with pytest.raises(BudgetExceededError):
            ask(client, extra_headers=llmguard.context_headers(user_id="heavy"))  # the per-call form too
    assert budget_spent(guard, budget, group="heavy") == pytest.approx(0.03)
    assert budget_spent(guard, budget, group="light") == pytest.approx(0.03)


@pytest.mark.parametrize(
    ("budget", "blocked", "allowed"),
    [
        (Budget(tag="batch", hard_usd=0.02), {"tags": ["batch", "x"]}, {"tags": ["interactive"]}),
        (Budget(metadata={"tenant": "acme"}, hard_usd=0.02), {"metadata": {"tenant": "acme"}}, {}),
        (
            Budget(per="metadata.tenant", hard_usd=0.02),
            {"metadata": {"tenant": "acme"}},
            {"metadata": {"tenant": "z"}},
        ),
        (Budget(per="tag", hard_usd=0.02), {"tags": ["batch"]}, {"tags": ["other"]}),
        (Budget(user="alice", hard_usd=0.02), {"user_id": "alice"}, {"user_id": "bob"}),
    ],
    ids=["tag", "metadata", "per-metadata", "per-tag", "user"],
)
def test_budgets_by_tag_and_metadata(
    budget: Budget, blocked: dict[str, Any], allowed: dict[str, Any], guards: list[llmguard.Guard]
) -> None:
    guard = llmguard.Guard(pin_policy="off", budgets=[budget])
    guards.append(guard)
    guarded(guard, "0.01")
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
        with llmguard.context(**blocked):
            ask(client)
            ask(client)
            with pytest.raises(BudgetExceededError):
                ask(client)
        with llmguard.context(**allowed):
            ask(client)


def test_per_user_budgets_are_seeded_and_checked_from_the_ledger(
    tmp_path: Path, guards: list[llmguard.Guard]
) -> None:
    from llmguard.cost import check_alerts

    db = tmp_path / "l.db"
    first = llmguard.Guard(ledger=True, db_path=db, pin_policy="off")
    guards.append(first)
    guarded(first, "0.01")
    _ledger_calls(first)  # alice $0.02, bob $0.01
    assert first.flush()
    budget = Budget(soft_usd=0.015, hard_usd=0.02, per="user")
    live: list[Any] = []
    second = llmguard.Guard(ledger=True, db_path=db, pin_policy="off", budgets=[budget, live.append])
    guards.append(second)
    guarded(second, "0.01")
    with FakeOpenAI().client(llmguard.OpenAI, guard=second) as client:
        with llmguard.context(user_id="alice"), pytest.raises(BudgetExceededError):
            ask(client)
        with llmguard.context(user_id="bob"):
            ask(client)
    assert second.flush()
    # bob crossed his limit live (alerted once, so not again); alice was over from the ledger already
    assert [(a.rule, a.scope["user"]) for a in live] == [
        ("budget:day(per user)[user=bob]:soft", "bob"),
        ("budget:day(per user)[user=bob]:hard", "bob"),
    ]
    fired = {(a.rule, a.scope.get("user")) for a in check_alerts(second)}
    assert ("budget:day(per user)[user=alice]:hard", "alice") in fired


def test_budget_per_is_validated() -> None:
    with pytest.raises(ValueError, match="Budget per 'tenant'"):
        Budget(hard_usd=1, per="tenant")


# -- judging and feedback ----------------------------------------------------------------------------------


def test_sampling_rates_per_tag_apply_to_context_and_prompt_tags(guards: list[llmguard.Guard]) -> None:
    sink = InMemorySink()
    guard = llmguard.Guard(
        pin_policy="off",
        judges=["min_length"],
        sampling=Sampling(rate=0.0, tags={"checkout": 1.0}),
        judgment_sink=sink,
    )
    guards.append(guard)
    observer = next(o for o in guard.runtime.observers if isinstance(o, JudgingObserver))
    with FakeOpenAI(reply="fine").client(llmguard.OpenAI, guard=guard) as client:
        ask(client)  # no tag: rate 0
        with llmguard.context(tags=["checkout"]):
            ask(client)
        with llmguard.use_prompt(PromptRef(name="p", version="1.0.0", tags=("checkout",))):
            ask(client)
        with llmguard.context(tags=["other"]):
            ask(client)
    assert guard.flush(5)
    assert observer.stats().sampled == 2


def test_feedback_inherits_the_calls_user_and_session(tmp_path: Path, guards: list[llmguard.Guard]) -> None:
    guard = llmguard.Guard(db_path=tmp_path / "fb.db", pin_policy="off")
    guards.append(guard)
    try:
        with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
            with llmguard.context(user_id="u-42", session_id="s-9"):
                response = ask(client)
            plain = ask(client)
        inherited = llmguard.feedback(response, "thumbs", True)
        given = llmguard.feedback(response, "rating", 4, user_id="reviewer", session_id="other")
        none = llmguard.feedback(plain, "thumbs", False)
        assert (inherited.user_id, inherited.session_id) == ("u-42", "s-9")
        assert (given.user_id, given.session_id) == ("reviewer", "other")
        assert (none.user_id, none.session_id) == (None, None)
    finally:
        llmguard._feedback.close_sinks(guard)
    conn = sqlite3.connect(tmp_path / "fb.db")
    try:
        rows = conn.execute(
            "SELECT name, user_id, session_id FROM llmguard_feedback ORDER BY name, user_id"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [("rating", "reviewer", "other"), ("thumbs", "", None), ("thumbs", "u-42", "s-9")]
