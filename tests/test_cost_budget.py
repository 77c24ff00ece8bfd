"""Budgets: soft alerts, hard refusal before any I/O, config parsing."""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai.types.chat import ChatCompletionMessageParam

import llmguard
from llmguard.cost import Alert, BaselineRule, Budget, CostPolicy, budget_spent, check_alerts
from llmguard.cost._config import resolve_ledger, resolve_policy
from llmguard.exceptions import BudgetExceededError, ConfigurationError
from llmguard.testing import FakeOpenAI
from test_cost_ledger import guarded, make_record

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


@pytest.fixture
def guards() -> Iterator[list[llmguard.Guard]]:
    made: list[llmguard.Guard] = []
    yield made
    for guard in made:
        guard.close()


def test_hard_budget_refuses_before_any_io(guards: list[llmguard.Guard]) -> None:
    alerts: list[Alert] = []
    budget = Budget(soft_usd=0.015, hard_usd=0.03, period="day")
    guard = llmguard.Guard(pin_policy="off", budgets=[budget, alerts.append])
    guards.append(guard)
    guarded(guard, "0.01")  # every call costs $0.01
    fake = FakeOpenAI(reply="ok")
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert fake.call_count == 3
        with pytest.raises(BudgetExceededError, match=r"hard budget budget:day is used up: \$0\.03"):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert fake.call_count == 3  # refused before any I/O
    assert budget_spent(guard, budget) == pytest.approx(0.03)
    assert guard.flush()
    assert [(a.rule, a.severity) for a in alerts] == [
        ("budget:day:soft", "warning"),
        ("budget:day:hard", "critical"),
    ]


def test_hard_budget_is_scoped(guards: list[llmguard.Guard]) -> None:
    guard = llmguard.Guard(pin_policy="off", budgets=[Budget(model="gpt-4o", hard_usd=0.01)])
    guards.append(guard)
    guarded(guard, "0.05")
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=guard) as client:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # other model: allowed
        with pytest.raises(BudgetExceededError):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert fake.call_count == 2


def test_budgets_without_hard_limits_add_no_policy() -> None:
    from llmguard.cost._policy import build_policy

    assert build_policy(llmguard.Guard(budgets=[Budget(soft_usd=1)])) is None
    assert build_policy(llmguard.Guard()) is None


def test_unpriced_calls_never_count_or_block() -> None:
    from llmguard.cost._budget import BudgetTracker

    tracker = BudgetTracker([Budget(hard_usd=0.0001)])
    record = make_record(usd=None)
    assert record.cost is None  # the observer skips None: nothing to add
    assert tracker.spent(tracker._states[0].budget) == 0.0


def test_daily_window_rolls_over() -> None:
    from llmguard.cost._budget import BudgetTracker

    budget = Budget(hard_usd=1.0)
    tracker = BudgetTracker([budget])
    yesterday = time.time_ns() - 86_400 * 1_000_000_000
    tracker.add({}, yesterday, 5 * 1_000_000_000)
    assert tracker.spent(budget) == 0.0
    assert tracker.spent(budget, yesterday) == 5.0


def test_budgets_are_seeded_from_the_ledger(tmp_path: Path) -> None:
    first = llmguard.Guard(ledger=tmp_path / "l.db", pin_policy="off")
    guarded(first, "0.40")
    with FakeOpenAI().client(llmguard.OpenAI, guard=first) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    first.close()
    budget = Budget(hard_usd=0.40)
    second = llmguard.Guard(ledger=tmp_path / "l.db", pin_policy="off", budgets=[budget])
    guarded(second, "0.40")
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=second) as client, pytest.raises(BudgetExceededError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert fake.call_count == 0
    second.close()


def test_soft_budget_alert_reaches_logger_and_otel(caplog: pytest.LogCaptureFixture) -> None:
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    guard = llmguard.Guard(pin_policy="off", budgets=[Budget(soft_usd=0.01)], logger_provider=provider)
    guarded(guard, "0.02")
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as client:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        guard.flush()
        guard.close()
    assert sum("reached the soft budget" in r.getMessage() for r in caplog.records) == 1
    logs = exporter.get_finished_logs()
    assert len(logs) == 1
    record = logs[0].log_record
    assert record.event_name == "llmguard.cost.alert"
    assert record.attributes is not None
    assert record.attributes["llmguard.alert.kind"] == "budget"
    provider.shutdown()


def test_config_file_budgets_and_rules(tmp_path: Path) -> None:
    (tmp_path / "llmguard.toml").write_text(
        textwrap.dedent(
            """
            [budgets]
            ledger = true
            retention_days = 30
            limits = [{ prompt = "bot", period = "month", soft_usd = 500, hard_usd = 800 }]
            rules = [{ type = "baseline", multiplier = 3.0, days = 7, min_value = 10 },
                     { type = "zscore", series = "p95_latency", threshold = 4 }]
            """
        )
    )
    guard = llmguard.Guard()
    policy = resolve_policy(guard)
    assert policy.budgets == [Budget(prompt="bot", period="month", soft_usd=500, hard_usd=800)]
    assert policy.rules[0] == BaselineRule(multiplier=3.0, days=7, min_value=10)
    ledger = resolve_ledger(guard, policy)
    assert ledger is not None
    assert getattr(ledger, "retention_days", None) == 30


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"limits": [{"soft_usd": 1, "period": "week"}]}, "period"),
        ({"limits": [{"usd": 1}]}, "unknown key 'usd'"),
        ({"rules": [{"type": "ewma"}]}, "unknown rule type"),
        ({"alerts": []}, "unknown key 'alerts'"),
    ],
)
def test_config_errors_name_the_problem(table: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        resolve_policy(llmguard.Guard(budgets=table))


def test_rules_enable_the_ledger_and_check_alerts_on_demand(tmp_path: Path) -> None:
    guard = llmguard.Guard(db_path=tmp_path / "x.db", budgets=CostPolicy(rules=[BaselineRule(baseline=1.0)]))
    assert resolve_ledger(guard, resolve_policy(guard)) is not None
    assert check_alerts(llmguard.Guard()) == []
    assert check_alerts(guard) == []
    from llmguard.cost._state import state_for

    state = state_for(guard)
    assert state is not None
    assert state.writer is not None
    state.writer.shutdown()
