"""Hot-path shortcuts keep the public behaviour: records, chunk gaps, bulk ledger writes."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

import llmguard
from llmguard._core import CallContext
from llmguard._lifecycle import LifecycleBase
from llmguard._record import (
    CallRecord,
    Cost,
    Usage,
    build_cost,
    build_record,
    build_usage,
    call_id_of,
    new_call_id,
    next_call_number,
)
from llmguard._storage import open_database
from llmguard.exceptions import StorageError
from llmguard.telemetry import TelemetryOptions
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"


def _distinct_values(cls: type) -> dict[str, Any]:
    """A different value for every field, so a swapped or dropped field shows."""
    return {f.name: (f"v{i}", i) for i, f in enumerate(dataclasses.fields(cls))}


@pytest.mark.parametrize(
    ("cls", "make"), [(CallRecord, build_record), (Usage, build_usage), (Cost, build_cost)]
)
def test_positional_constructor_equals_the_dataclass(cls: type, make: Any) -> None:
    values = _distinct_values(cls)
    fast = make(*values.values())
    slow = cls(**values)
    assert type(fast) is cls
    for name, value in values.items():
        assert getattr(fast, name) == value == getattr(slow, name)
    assert make(**values) == slow  # keywords too
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.__setattr__(next(iter(values)), None)


def test_a_call_id_made_late_is_the_same_each_time_and_sorts_by_start() -> None:
    start = time.time_ns()
    number = next_call_number()
    first = call_id_of(start, number)
    assert call_id_of(start, number) == first  # whoever makes it first, the context or the index
    assert len(first) == 32
    assert int(first, 16) >> 80 == start // 1_000_000
    assert new_call_id(start) > first  # same millisecond: a later number sorts after
    assert new_call_id(start + 2_000_000) > new_call_id(start)


FORKED_IDS = """
import os, time
from llmguard._record import new_call_id
start = time.time_ns()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, new_call_id(start).encode())
    os._exit(0)
os.waitpid(pid, 0)
print(new_call_id(start), os.read(read, 64).decode())
"""


def test_a_forked_child_draws_its_own_call_ids() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKED_IDS], capture_output=True, text=True, timeout=60, check=True
    )
    parent, child = done.stdout.split()
    assert parent[:12] == child[:12]  # the same millisecond
    assert parent != child  # the child's 80-bit part starts from its own random base


def test_positional_constructor_requires_every_field() -> None:
    with pytest.raises(TypeError):
        build_usage(1, 2)


def test_cost_of_zero_shares_is_exact() -> None:
    from llmguard._pricing import PriceTable

    table = PriceTable({"m": {"input": 2.5, "output": 10, "cache_read": 1.25}}, bundled=False)
    plain = table("openai", "m", Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=0))
    cached = table("openai", "m", Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=400))
    assert plain is not None
    assert cached is not None
    assert plain.input == Decimal("0.0025")
    assert plain.output == Decimal("0.001")
    assert plain.cache_read == 0
    assert cached.cache_read == Decimal("0.0005")
    assert cached.input == Decimal("0.0015") + Decimal("0.0005")
    assert cached.total == cached.input + cached.output


class GapReader:
    """A plain observer (not a `Lifecycle`): it may read chunk gaps, so it gets them."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def on_start(self, call: CallContext) -> None:
        pass

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        self.records.append(record)


class Quiet(LifecycleBase, GapReader):
    """A `Lifecycle` observer that does not declare it reads gaps."""


def _stream(guard: llmguard.Guard) -> None:
    with FakeOpenAI(reply="one two three four five").client(llmguard.OpenAI, guard=guard) as client:
        for _ in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass


def test_chunk_gaps_kept_only_for_observers_that_read_them() -> None:
    quiet = Quiet()
    _stream(llmguard.Guard(pin_policy="off", observers=[quiet]))
    assert quiet.records[0].chunk_gaps_s == ()
    plain = GapReader()
    _stream(llmguard.Guard(pin_policy="off", observers=[plain]))
    assert len(plain.records[0].chunk_gaps_s) >= 2


@pytest.mark.parametrize("chunk_metric", [False, True])
def test_telemetry_declares_chunk_gaps_by_its_option(chunk_metric: bool) -> None:
    seen = Quiet()
    guard = llmguard.Guard(
        pin_policy="off",
        observers=[seen],
        tracer_provider=TracerProvider(),
        meter_provider=MeterProvider(),
        telemetry=TelemetryOptions(chunk_metric=chunk_metric),
    )
    _stream(guard)
    assert bool(seen.records[0].chunk_gaps_s) is chunk_metric


def test_the_runtime_record_takes_each_field_from_its_own_source() -> None:
    """`Runtime._record` passes the fields positionally: a distinct value at every source catches a swap."""
    seen = GapReader()
    guard = llmguard.Guard(pin_policy="off", observers=[seen])
    with FakeOpenAI(reply="hello").client(llmguard.OpenAI, guard=guard) as client:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    runtime = guard.runtime
    call = CallContext.__new__(CallContext)
    for name, value in {
        "_call_id": "call-id",
        "kind": "kind",
        "operation": "operation",
        "api": "api",
        "requested_model": "requested",
        "request_model": "request",
        "locked_model": "locked",
        "pin": SimpleNamespace(action="pin-action"),
        "stream": "stream",
        "start_ns": 1_000,
        "start_perf": 2.0,
        "first_chunk": 2.5,
        "retries": "retries",
        "chunk_gaps": ["gap"],
        "prompt": "prompt",
        "scope": "scope",
        "trace_id": "trace",
        "span_id": "span",
        "request": "request-body",
        "info": SimpleNamespace(provider="provider", server_address="address", server_port="port"),
        "acc": SimpleNamespace(
            response_model="served",
            response_id="response-id",
            finish_reasons=["finish"],
            service_tier="tier",
            system_fingerprint="fingerprint",
            dimensions="dimensions",
            output_text=lambda: "output",
        ),
    }.items():
        setattr(call, name, value)
    runtime.settings = SimpleNamespace(service_name="service", environment="environment")  # type: ignore[assignment]
    error = KeyError("x")
    record = runtime._record(call, error, "completed", "usage", "cost", "drift", 4.0)  # type: ignore[arg-type]
    expected = {
        "call_id": "call-id",
        "kind": "kind",
        "service_name": "service",
        "environment": "environment",
        "provider": "provider",
        "operation": "operation",
        "api": "api",
        "requested_model": "requested",
        "request_model": "request",
        "locked_model": "locked",
        "response_model": "served",
        "pin_action": "pin-action",
        "drift": "drift",
        "stream": "stream",
        "stream_completed": "completed",
        "response_id": "response-id",
        "finish_reasons": ("finish",),
        "usage": "usage",
        "start_time_ns": 1_000,
        "duration_s": 2.0,
        "time_to_first_chunk_s": 0.5,
        "retries": "retries",
        "error_type": "KeyError",
        "chunk_gaps_s": ("gap",),
        "error": error,
        "prompt": "prompt",
        "context": "scope",
        "cost": "cost",
        "trace_id": "trace",
        "span_id": "span",
        "server_address": "address",
        "server_port": "port",
        "service_tier": "tier",
        "system_fingerprint": "fingerprint",
        "embedding_dimensions": "dimensions",
        "request": "request-body",
        "output_text": "output",
    }
    assert [f.name for f in dataclasses.fields(CallRecord)] == list(expected)
    assert {name: getattr(record, name) for name in expected} == expected


def test_unwatched_call_keeps_its_response_identity() -> None:
    guard = llmguard.Guard(pin_policy="off")
    with FakeOpenAI(reply="hello").client(llmguard.OpenAI, guard=guard) as client:
        resp = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    known = llmguard._refs.by_response_id(resp.id)
    assert known is not None
    assert known.model == resp.model


SQL = "INSERT INTO t (id, v) VALUES (?, ?)"


def test_write_rows_commits_a_batch_or_nothing(tmp_path: Path) -> None:
    db = open_database(tmp_path / "w.db")
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    db.write_rows(SQL, [(1, "a"), (2, "b")])
    with pytest.raises(StorageError, match=r"w\.db.*IntegrityError"):
        db.write_rows(SQL, [(3, "c"), (4, None)])  # the second row breaks NOT NULL: none is stored
    db.write_rows(SQL, [(5, "e")])  # the held connection is usable after a failed batch
    with sqlite3.connect(tmp_path / "w.db") as raw:
        assert [r[0] for r in raw.execute("SELECT id FROM t ORDER BY id")] == [1, 2, 5]
    db.dispose()
    db.write_rows(SQL, [(6, "f")])  # a disposed handle reconnects
    assert [r[0] for r in db.query("SELECT id FROM t ORDER BY id")] == [1, 2, 5, 6]
    db.dispose()
