"""The feature contract: derived keys, typed options, declared lifecycle, typed links between features."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import llmguard
from llmguard import CallRecorder, Guard
from llmguard._contract import Feature, Links
from llmguard._core import CallContext
from llmguard._feedback import _observer as feedback_feature
from llmguard._guard import GUARD_KEYS
from llmguard._lifecycle import Lifecycle, LifecycleBase
from llmguard._options import (
    FEATURE_OPTIONS,
    CostOptions,
    FeedbackOptions,
    JudgingOptions,
    PricingOptions,
    TelemetryFeatureOptions,
)
from llmguard._pricing import FEATURE as PRICING
from llmguard._record import CallRecord
from llmguard._settings import FILE_KEYS, SETTINGS_KEYS
from llmguard.cost._feature import FEATURE as COST
from llmguard.judging import InMemorySink
from llmguard.judging._observer import FEATURE as JUDGING
from llmguard.judging._observer import JudgingObserver
from llmguard.telemetry._observer import FEATURE as TELEMETRY
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
DOCS = Path(__file__).parents[1] / "docs" / "configuration.md"

# Each feature satisfies the protocol with its own options type (checked by mypy).
_features: tuple[
    Feature[TelemetryFeatureOptions],
    Feature[JudgingOptions],
    Feature[FeedbackOptions],
    Feature[CostOptions],
    Feature[PricingOptions],
] = (TELEMETRY, JUDGING, feedback_feature.FEATURE, COST, PRICING)


# -- keys -------------------------------------------------------------------------------------------
def test_guard_keys_are_the_signature_of_guard() -> None:
    params = inspect.signature(Guard.__init__).parameters
    keywords = {name for name, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords == set(GUARD_KEYS)
    assert list(GUARD_KEYS) == sorted(GUARD_KEYS)


def test_every_guard_key_is_documented_in_the_docstring_and_the_docs() -> None:
    doc = inspect.getdoc(Guard) or ""
    assert {key for key in GUARD_KEYS if f"\n    {key}:" not in doc} == set()
    table = DOCS.read_text("utf-8").split("## Guard keywords", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)) == set(GUARD_KEYS)


def test_every_file_key_is_documented() -> None:
    table = DOCS.read_text("utf-8").split("**Keys accepted**", 1)[1].split("\n## ", 1)[0]
    documented = {
        key for row in re.findall(r"^\| (.+?) \|", table, re.MULTILINE) for key in re.findall(r"`(\w+)`", row)
    }
    assert documented == set(FILE_KEYS)


def test_keys_are_derived_from_the_option_types() -> None:
    owned = [key for options in FEATURE_OPTIONS for key in options.GUARD_KEYS]
    assert len(owned) == len(set(owned)), "a Guard keyword owned by two features"
    assert set(GUARD_KEYS) == SETTINGS_KEYS | set(owned)
    assert SETTINGS_KEYS | {key for options in FEATURE_OPTIONS for key in options.FILE_KEYS} == FILE_KEYS
    assert {"db_path", "pin_policy"} <= SETTINGS_KEYS
    assert "file_settings" not in SETTINGS_KEYS


def test_unknown_keys_name_the_derived_list() -> None:
    with pytest.raises(llmguard.ConfigurationError, match=r"unknown key 'judge'; valid keys: budgets, "):
        llmguard.configure(judge=["min_length"])


# -- options ----------------------------------------------------------------------------------------
def test_options_resolve_argument_over_file() -> None:
    Path("pyproject.toml").write_text(
        '[tool.llmguard]\njudges = ["no_refusal"]\nsampling = {rate = 0.5}\nledger = true\n', "utf-8"
    )
    from_file = JudgingOptions.resolve(Guard())
    assert (from_file.judges, from_file.sampling) == (["no_refusal"], {"rate": 0.5})
    from_code = JudgingOptions.resolve(Guard(judges=["min_length"], sampling=0.1))
    assert (from_code.judges, from_code.sampling) == (["min_length"], 0.1)
    assert CostOptions.resolve(Guard()).file_ledger is True
    assert CostOptions.resolve(Guard(ledger=False)).ledger is False


def test_a_bad_retain_unsampled_names_where_it_came_from() -> None:
    Path("pyproject.toml").write_text("[tool.llmguard]\nsampling = {retain_unsampled = -1}\n", "utf-8")
    with pytest.raises(llmguard.ConfigurationError, match=r"\[tool.llmguard\] sampling retain_unsampled"):
        FeedbackOptions.resolve(Guard())


# -- lifecycle --------------------------------------------------------------------------------------
class Tracked(LifecycleBase):
    """A user observer with a declared lifecycle that never reads the cost."""

    def __init__(self) -> None:
        self.asked = 0
        self.flushed: list[float] = []
        self.stopped: list[float] = []
        self.records: list[CallRecord] = []

    def needs_cost(self) -> bool:
        self.asked += 1
        return False

    def flush(self, timeout: float = 5.0) -> bool:
        self.flushed.append(timeout)
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        self.stopped.append(timeout)

    def on_start(self, call: CallContext) -> None:
        pass

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        self.records.append(record)


def test_the_guard_flushes_and_stops_declared_lifecycles_only() -> None:
    tracked, recorder = Tracked(), CallRecorder()
    guard = Guard(pin_policy="off", observers=[tracked, recorder])
    assert isinstance(tracked, Lifecycle)
    assert not isinstance(recorder, Lifecycle)
    with FakeOpenAI(reply="hi").client(llmguard.OpenAI, guard=guard) as client:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert guard.flush(1.5)
    guard.close(2.5)
    assert (tracked.flushed, tracked.stopped) == ([1.5], [2.5])


def test_needs_cost_is_asked_once_and_unpriced_calls_stay_unpriced() -> None:
    tracked = Tracked()
    guard = Guard(pin_policy="off", observers=[tracked])
    with FakeOpenAI(reply="hi").client(llmguard.OpenAI, guard=guard) as client:
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert tracked.asked == 1
    assert [r.cost for r in tracked.records] == [None, None, None]
    recorder = CallRecorder()  # no lifecycle: always priced
    priced = Guard(pin_policy="off", observers=[tracked, recorder])
    with FakeOpenAI(reply="hi").client(llmguard.OpenAI, guard=priced) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert recorder.last is not None
    assert recorder.last.cost is not None


def test_every_built_feature_object_declares_its_lifecycle(tmp_path: Path) -> None:
    guard = Guard(
        pin_policy="off",
        tracer_provider=TracerProvider(),
        judges=["min_length"],
        judgment_sink=InMemorySink(),
        sampling={"retain_unsampled": 2},
        ledger=tmp_path / "l.db",
    )
    built = guard.runtime.observers
    assert [type(o).__name__ for o in built] == [
        "TelemetryObserver",
        "JudgingObserver",
        "RetentionBuffer",
        "LedgerObserver",
    ]
    assert all(isinstance(o, Lifecycle) for o in built)
    guard.close()


# -- links ------------------------------------------------------------------------------------------
def test_feedback_is_linked_to_the_judging_that_was_built() -> None:
    guard = Guard(pin_policy="off", judges=["min_length"], judgment_sink=InMemorySink())
    judging = next(o for o in guard.runtime.observers if isinstance(o, JudgingObserver))
    compiled = guard._compiled
    assert compiled is not None
    assert isinstance(compiled.links, Links)
    assert compiled.links.judging is judging
    assert compiled.links.feedback is not None
    assert compiled.links.feedback.judging is judging
    assert compiled.links.feedback.buffer is None  # retain_unsampled is 0
    guard.close()
    off = Guard(pin_policy="off")
    off.runtime  # noqa: B018 - compile
    assert off._compiled is not None
    assert off._compiled.links.judging is None


def test_building_a_guard_imports_no_feature() -> None:
    features = (
        "llmguard.telemetry._observer",
        "llmguard.judging",
        "llmguard.cost",
        "llmguard._feedback",
        "sqlite3",
    )
    code = (
        "import sys, llmguard; llmguard.Guard(judges=['min_length'], budgets={'budgets': []}); "
        f"print(sorted(m for m in {features!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


FIRST_CALL = """
import json, sys, llmguard
from llmguard.testing import FakeOpenAI
guard = llmguard.Guard(pin_policy="off", db=sys.argv[1], **json.loads(sys.argv[2]))
with FakeOpenAI(reply="hello").client(llmguard.OpenAI, guard=guard) as client:
    client.chat.completions.create(model="gpt-4o-2024-08-06", messages=[{"role": "user", "content": "hi"}])
guard.flush(10)
print(sorted(m for m in ("llmguard.judging", "llmguard.cost", "llmguard.drift") if m in sys.modules))
print(len(guard.runtime.observers))
guard.close()
"""


@pytest.mark.parametrize(
    ("kwargs", "loaded", "observers"),
    [
        ("{}", [], 1),  # telemetry, waiting for a provider
        ('{"judges": []}', [], 1),
        ('{"judges": ["min_length"]}', ["llmguard.judging"], 2),
        ('{"ledger": true}', ["llmguard.cost"], 2),
        ('{"ledger": false}', ["llmguard.cost"], 1),  # named, so the feature decides: no ledger
        ('{"drift": false}', [], 1),
    ],
)
def test_a_first_call_imports_judging_and_cost_only_when_configured(
    tmp_path: Path, kwargs: str, loaded: list[str], observers: int
) -> None:
    db = f"sqlite:///{tmp_path / 'llmguard.db'}"
    done = subprocess.run(
        [sys.executable, "-c", FIRST_CALL, db, kwargs],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    modules, count = done.stdout.strip().splitlines()
    assert modules == repr(loaded)
    assert int(count) == observers


def _unused(*_: Any) -> None:
    """Keep ``_features`` referenced (its type annotation is the check)."""


_unused(_features)


def test_judging_that_fails_to_build_is_unavailable_not_unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    import llmguard.judging._observer as judging

    def broken(*_: object) -> None:
        raise RuntimeError("internal failure")

    monkeypatch.setenv("LLMGUARD_SWALLOW_INTERNAL_ERRORS", "1")
    monkeypatch.setattr(judging, "build_observer", broken)
    guard = Guard(pin_policy="off", judges=["min_length"], sampling={"retain_unsampled": 4})
    with FakeOpenAI(reply="hi").client(llmguard.OpenAI, guard=guard) as client:
        reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        entry = llmguard.feedback(reply, "thumbs", False, user_id="u1", guard=guard)
    guard.close()
    assert entry.judging == "skipped: judging queue unavailable"
