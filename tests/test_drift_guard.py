"""Drift wired into a Guard: sampling real calls, background embedding, storage, kinds, pins, alerts."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

import llmguard
from llmguard import CallRecorder
from llmguard.cost import Alert
from llmguard.drift import DriftConfig, DriftRow, DriftRule, DriftStore, check_drift, drift_stats
from llmguard.exceptions import ConfigurationError
from llmguard.testing import FakeOpenAI, word_embedding

MODEL = "gpt-4o-mini-2024-07-18"
EMBED = "text-embedding-3-small"


@pytest.fixture
def guards() -> Iterator[list[llmguard.Guard]]:
    made: list[llmguard.Guard] = []
    yield made
    for g in made:
        g.close(5)


def drift_guard(
    guards: list[llmguard.Guard], fake: FakeOpenAI, tmp_path: Path, **config: Any
) -> llmguard.Guard:
    config.setdefault("sampling", 1.0)
    config.setdefault("check_interval_s", 0)
    config.setdefault("client", lambda g: fake.client(llmguard.OpenAI, guard=g))
    config.setdefault("store", tmp_path / "drift.db")
    extra = config.pop("guard", {})
    g = llmguard.Guard(pin_policy="enforce", drift=DriftConfig(**config), db_path=tmp_path / "l.db", **extra)
    guards.append(g)
    return g


def ask(client: openai.OpenAI, text: str) -> None:
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]
    )


def stored(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT call_id, prompt_name, tags, model, dim, length(vector), content FROM llmguard_drift_vectors"
        ).fetchall()


def test_sampled_inputs_are_embedded_on_a_background_thread_as_drift_calls(
    guards: list[llmguard.Guard], tmp_path: Path
) -> None:
    threads: list[str] = []

    def embedder(text: str, dimensions: int) -> Sequence[float]:
        threads.append(threading.current_thread().name)
        return word_embedding(text, dimensions)

    fake = FakeOpenAI(reply="ok")
    fake.embedder = embedder
    recorder = CallRecorder()
    g = drift_guard(guards, fake, tmp_path, guard={"observers": [recorder]})
    with fake.client(llmguard.OpenAI, guard=g) as client, llmguard.context(tags=["support"]):
        ask(client, "where is my refund")
        ask(client, "reset my password")
    assert g.flush(5)
    assert threads
    assert set(threads) == {"llmguard-drift"}
    kinds = sorted(r.kind for r in recorder.records)
    assert kinds.count("app") == 2
    assert kinds.count("drift") >= 1
    embed_calls = [c for c in fake.calls if c.path.endswith("/embeddings")]
    texts = [t for c in embed_calls for t in c.body["input"]]
    assert sorted(texts) == ["reset my password", "where is my refund"]  # the last user message
    rows = stored(tmp_path / "drift.db")
    app_ids = {r.call_id for r in recorder.records if r.kind == "app"}
    assert {row[0] for row in rows} == app_ids
    assert all(row[2] == '["support"]' and row[3] == EMBED and row[5] == 4 * row[4] for row in rows)
    assert all(row[6] is None for row in rows)  # no content unless retained
    stats = drift_stats(g)
    assert stats is not None
    assert (stats.sampled, stats.embedded, stats.failed, stats.dropped, stats.pending) == (2, 2, 0, 0, 0)
    assert g.stats().drift == stats


def test_content_is_stored_only_when_retained_and_capped(
    guards: list[llmguard.Guard], tmp_path: Path
) -> None:
    fake = FakeOpenAI(reply="ok")
    g = drift_guard(guards, fake, tmp_path, retain_content=True, max_content_chars=5)
    with fake.client(llmguard.OpenAI, guard=g) as client:
        ask(client, "hello world")
    assert g.flush(5)
    assert [row[6] for row in stored(tmp_path / "drift.db")] == ["hello"]


def test_embedding_spend_is_its_own_kind_in_the_ledger(
    guards: list[llmguard.Guard], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeOpenAI(reply="ok")
    g = drift_guard(guards, fake, tmp_path, guard={"ledger": True})
    with fake.client(llmguard.OpenAI, guard=g) as client:
        for text in ("a b", "c d", "e f"):
            ask(client, text)
    assert g.flush(5)
    g.close(5)
    with sqlite3.connect(tmp_path / "l.db") as conn:
        kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM cost_ledger GROUP BY kind").fetchall())
    assert kinds["app"] == 3
    assert kinds["drift"] >= 1
    assert set(kinds) == {"app", "drift"}
    from typer.testing import CliRunner

    from llmguard.cli import app

    monkeypatch.setenv("LLMGUARD_DB", str(tmp_path / "l.db"))
    result = CliRunner().invoke(app, ["--json", "cost", "report", "--by", "kind"])
    assert result.exit_code == 0, result.output
    by_kind = {row["kind"]: row["calls"] for row in json.loads(result.output)["rows"]}
    assert by_kind == kinds  # monitoring spend is reported apart from app spend


def test_the_pin_policy_applies_to_the_embedding_model(guards: list[llmguard.Guard], tmp_path: Path) -> None:
    fake = FakeOpenAI(reply="ok")
    g = drift_guard(guards, fake, tmp_path, model="gpt-4o")  # a floating alias under enforce
    with fake.client(llmguard.OpenAI, guard=g) as client:
        ask(client, "hello")  # the app call is unaffected
    assert g.flush(5)
    stats = drift_stats(g)
    assert stats is not None
    assert (stats.embedded, stats.failed) == (0, 1)
    assert [c.path for c in fake.calls] == ["/v1/chat/completions"]  # refused before any I/O


def blocked_fake() -> tuple[FakeOpenAI, threading.Event, threading.Event]:
    """A fake whose embeddings block until ``release`` is set (``entered``: one is blocked)."""
    release, entered = threading.Event(), threading.Event()

    def blocked(text: str, dimensions: int) -> Sequence[float]:
        entered.set()
        release.wait(10)
        return word_embedding(text, dimensions)

    fake = FakeOpenAI(reply="ok")
    fake.embedder = blocked
    return fake, release, entered


def assert_dropped_then_drained(
    g: llmguard.Guard, release: threading.Event, totals: tuple[int, int, int]
) -> None:
    """Two samples were dropped as ``queue_full``; once released, (sampled, embedded, dropped) == ``totals``."""
    stats = drift_stats(g)
    assert stats is not None
    assert stats.dropped_by_reason == {"queue_full": 2}
    release.set()
    assert g.flush(5)
    stats = drift_stats(g)
    assert stats is not None
    assert (stats.sampled, stats.embedded, stats.dropped) == totals


def test_the_caller_never_waits_and_a_full_queue_drops_and_counts(
    guards: list[llmguard.Guard], tmp_path: Path
) -> None:
    fake, release, entered = blocked_fake()
    g = drift_guard(guards, fake, tmp_path, sampling={"rate": 1.0, "max_queue": 1}, batch_size=1)
    with fake.client(llmguard.OpenAI, guard=g) as client:
        ask(client, "first")
        assert entered.wait(5)
        for text in ("second", "third", "fourth"):
            ask(client, text)  # returns while the embedding of "first" is blocked
    assert_dropped_then_drained(g, release, (4, 2, 2))


def test_the_queue_is_bounded_by_the_bytes_of_the_waiting_requests(
    guards: list[llmguard.Guard], tmp_path: Path
) -> None:
    """10 KB prompts under a 25 KB cap: two wait behind the blocked one, the rest are dropped."""
    fake, release, entered = blocked_fake()
    sampling = {"rate": 1.0, "max_queue": 100, "max_queue_bytes": 25_000}
    g = drift_guard(guards, fake, tmp_path, sampling=sampling, batch_size=1)
    with fake.client(llmguard.OpenAI, guard=g) as client:
        ask(client, "first")
        assert entered.wait(5)
        for n in range(4):
            ask(client, f"{n} " + "y" * 10_000)
    assert_dropped_then_drained(g, release, (5, 3, 2))


def test_only_app_chat_calls_are_sampled(guards: list[llmguard.Guard], tmp_path: Path) -> None:
    fake = FakeOpenAI(reply="ok")
    g = drift_guard(guards, fake, tmp_path)
    with fake.client(llmguard.OpenAI, guard=g) as client:
        client.embeddings.create(model=EMBED, input="an app embedding call")
        with llmguard.judge_calls():
            ask(client, "a judge's call")
    assert g.flush(5)
    stats = drift_stats(g)
    assert stats is not None
    assert stats.sampled == 0


def test_sampling_is_deterministic_and_salted_apart_from_judging(
    guards: list[llmguard.Guard], tmp_path: Path
) -> None:
    from llmguard.judging import Sampling

    config = DriftConfig(sampling=0.5)
    assert config.sampling.salt == "llmguard:drift:v1"
    assert config.sampling.salt != Sampling().salt
    keys = [f"{i:032x}" for i in range(200)]
    assert [config.sampling.decide(k) for k in keys] == [config.sampling.decide(k) for k in keys]
    assert 60 < sum(config.sampling.decide(k) for k in keys) < 140


def test_an_unguarded_client_is_refused(guards: list[llmguard.Guard], tmp_path: Path) -> None:
    fake = FakeOpenAI(reply="ok")
    g = drift_guard(guards, fake, tmp_path, client=fake.client(openai.OpenAI))
    with (
        pytest.raises(ConfigurationError, match="not a guarded client"),
        fake.client(llmguard.OpenAI, guard=g) as c,
    ):
        ask(c, "hi")


def test_configuring_drift_without_the_extra_names_it(
    guards: list[llmguard.Guard], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    fake = FakeOpenAI(reply="ok")
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.cluster", None)
    g = llmguard.Guard(drift=True, db_path=tmp_path / "x.db")
    guards.append(g)
    with (
        pytest.raises(ConfigurationError, match=r"pip install 'llmguard\[drift\]'"),
        fake.client(llmguard.OpenAI, guard=g) as client,
    ):
        ask(client, "hi")


def test_import_llmguard_does_not_import_the_extra() -> None:
    import subprocess
    import sys

    code = "import sys, llmguard, llmguard.drift; print(any(m in sys.modules for m in ('numpy', 'scipy', 'sklearn')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_config_comes_from_the_config_file(tmp_path: Path, guards: list[llmguard.Guard]) -> None:
    (tmp_path / "llmguard.toml").write_text(
        "[drift]\nmodel = 'text-embedding-3-large'\nrate = 0.25\nretention_days = 7\n"
        "[[drift.rules]]\nmetric = 'topic'\nalpha = 0.05\nmin_samples = 20\ntag = 'support'\n",
        encoding="utf-8",
    )
    from llmguard.drift._observer import build

    g = llmguard.Guard(db_path=tmp_path / "d.db")
    guards.append(g)
    observer = build(g)
    assert observer is not None
    assert (observer.config.model, observer.sampling.rate, observer.store.retention_days) == (
        "text-embedding-3-large",
        0.25,
        7,
    )
    assert observer.config.rules == (DriftRule(metric="topic", alpha=0.05, min_samples=20, tag="support"),)
    observer.shutdown()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"rate": 2}, "rate between 0 and 1"),
        ({"colour": 1}, "unknown key 'colour'"),
        ({"rules": [{"metric": "vibes"}]}, "valid metrics"),
        ({"rules": [{"metric": "mmd", "alpha": 0.001}], "permutations": 100}, "raise permutations"),
        ({"baseline": ["2025-03-08", "2025-03-01"]}, "is before"),
        ({"retention_days": -1}, "retention_days"),
    ],
)
def test_bad_config_names_the_field(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        DriftConfig.coerce(table)


def _rows(day: datetime, vectors: Any, prompt: str = "bot") -> list[DriftRow]:
    start = int(day.timestamp() * 1e9)
    return [
        DriftRow(f"{day:%d}-{i}", start + i * 1_000_000, list(map(float, v)), prompt, "1", ("t",), EMBED)
        for i, v in enumerate(vectors)
    ]


def test_alerts_use_the_cost_alert_path_once_per_window(
    guards: list[llmguard.Guard], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    received: list[Alert] = []
    fake = FakeOpenAI(reply="ok")
    rule = DriftRule(metric="mmd", alpha=0.05, min_samples=40, prompt="bot")
    g = drift_guard(
        guards,
        fake,
        tmp_path,
        rules=[rule],
        callbacks=[received.append],
        permutations=99,
        guard={"logger_provider": logs},
    )
    store = DriftStore(tmp_path / "drift.db")
    rng = np.random.default_rng(0)
    today = datetime(2025, 3, 20, 12, tzinfo=UTC)
    for back in range(1, 8):
        store.write(_rows(today - timedelta(days=back), rng.normal(size=(10, 8)) + 3))
    store.write(_rows(today, rng.normal(size=(50, 8)) + 3))
    assert check_drift(g, now=today) == []  # same distribution
    store.write(_rows(today + timedelta(days=1), rng.normal(size=(50, 8)) + 3 + np.eye(8)[0] * 2))
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        (alert,) = check_drift(g, now=today + timedelta(days=1))
    assert (alert.rule, alert.kind, alert.window, dict(alert.scope)) == (
        "drift:mmd[prompt=bot]",
        "drift",
        "2025-03-21",
        {"prompt": "bot"},
    )
    assert received == [alert]
    assert "input drift on prompt=bot" in caplog.text
    (event,) = exporter.get_finished_logs()
    assert event.log_record.attributes is not None
    assert event.log_record.attributes["llmguard.alert.kind"] == "drift"
    assert check_drift(g, now=today + timedelta(days=1)) == []  # delivered once
    assert DriftStore(tmp_path / "drift.db").claim_alert(alert.rule, alert.window, "again") is False


def test_retention_prunes_old_vectors(db_url: str, tmp_path: Path) -> None:
    store = DriftStore(db_url, retention_days=30)
    now = datetime(2025, 3, 20, tzinfo=UTC)
    store.write(
        _rows(now - timedelta(days=31), np.ones((3, 4))) + _rows(now - timedelta(days=29), np.ones((2, 4)))
    )
    assert store.prune(int(now.timestamp() * 1e9)) == 3
    assert store.count() == 2
    assert DriftStore(tmp_path / "e.db", retention_days=None).prune() == 0


def test_store_round_trips_vectors_and_filters_by_prompt_and_tag(db_url: str) -> None:
    store = DriftStore(db_url)
    day = datetime(2025, 3, 20, tzinfo=UTC)
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    store.write(
        [
            *_rows(day, vectors, prompt="a"),
            DriftRow("x", int(day.timestamp() * 1000000000.0), [1.0] * 4, tags=("u",)),
        ]
    )
    start, end = int(day.timestamp() * 1e9), int((day + timedelta(days=1)).timestamp() * 1e9)
    matrix, meta = store.load(start, end, prompt="a")
    assert np.array_equal(matrix, vectors)
    assert [m.call_id for m in meta] == ["20-0", "20-1", "20-2"]
    tagged, _ = store.load(start, end, tag="u")
    assert tagged.shape == (1, 4)
    assert store.groups(start, end) == (["a"], ["t", "u"])
    assert store.claim_alert("drift:mmd", "2025-03-20", "first") is True  # one replica delivers it ...
    assert DriftStore(db_url).claim_alert("drift:mmd", "2025-03-20", "again") is False  # ... once


def test_the_background_thread_prunes_and_checks_rules(guards: list[llmguard.Guard], tmp_path: Path) -> None:
    received: list[Alert] = []
    fake = FakeOpenAI(reply="ok")
    rule = DriftRule(metric="mmd", alpha=0.05, min_samples=40, prompt="bot")
    store = DriftStore(tmp_path / "drift.db")
    rng = np.random.default_rng(1)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    store.write(_rows(today - timedelta(days=40), np.ones((5, 8))))  # past the 30-day retention
    for back in range(1, 8):
        store.write(_rows(today - timedelta(days=back), rng.normal(size=(10, 8)) + 3))
    store.write(_rows(today, rng.normal(size=(50, 8)) + 3 + np.eye(8)[0] * 2))
    g = drift_guard(
        guards,
        fake,
        tmp_path,
        rules=[rule],
        callbacks=[received.append],
        permutations=99,
        check_interval_s=1e-6,
        prune_interval_s=1e-6,
    )
    with fake.client(llmguard.OpenAI, guard=g) as client:
        ask(client, "hello")  # the worker wakes, embeds, then prunes and checks
    assert g.flush(5)
    g.close(5)
    assert [a.rule for a in received] == ["drift:mmd[prompt=bot]"]
    assert store.count() == 7 * 10 + 50 + 1
    stats = drift_stats(g)
    assert stats is not None
    assert stats.alerts == 1


def test_the_centroid_distance_is_a_series_rules_and_reports_can_watch(db_url: str) -> None:
    from llmguard.cost import SQLLedger
    from llmguard.cost._series import SERIES, load_series

    assert "drift_centroid_distance" in SERIES
    ledger = SQLLedger(db_url)
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    assert load_series(ledger, "drift_centroid_distance", today.date()).values == {}  # no vectors yet
    store = DriftStore(db_url)
    rng = np.random.default_rng(3)
    for back in range(1, 9):
        store.write(_rows(today - timedelta(days=back), rng.normal(size=(40, 8)) + 3))
    store.write(_rows(today, rng.normal(size=(40, 8)) + 3 + np.eye(8)[0] * 3))  # today's inputs moved
    series = load_series(
        ledger, "drift_centroid_distance", (today - timedelta(days=1)).date(), {"prompt": "bot"}
    )
    yesterday, now = (today - timedelta(days=1)).date(), today.date()
    assert set(series.values) == {yesterday, now}
    assert series.values[now] > 5 * series.values[yesterday]  # the shift stands out from an ordinary day
    assert series.counts[now] == 40
    with pytest.raises(ValueError, match="use prompt or tag"):
        load_series(ledger, "drift_centroid_distance", now, {"model": "x"})
    ledger.close()
