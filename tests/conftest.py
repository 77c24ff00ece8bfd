"""Shared test setup: a clean environment, no network, fresh llmguard globals."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from _postgres import postgres_server  # noqa: F401  (a fixture)
from llmguard._guard import reset_default_guard
from llmguard._internal import reset_advisories
from llmguard._storage import reset_databases

_ENV_PREFIXES = ("OPENAI_", "ANTHROPIC_", "LLMGUARD_", "OTEL_", "AZURE_OPENAI", "AWS_", "GOOGLE_", "CLOUD_ML")
_real_connect = socket.socket.connect
LIFECYCLE_DAY = date(2026, 8, 21)
"""The day tests judge model lifecycles on: the bundled table's dataset snapshot."""


def _loopback_only(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    if (
        isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost"))
    ) or self.family == socket.AF_UNIX:
        return _real_connect(self, address)
    raise RuntimeError(f"test tried to reach the network: {address!r}")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    # Never read a model table a developer refreshed with `llmguard pins update`: tests see the
    # bundled snapshot unless they install their own (`.cache` is a folder `pins check` skips).
    monkeypatch.setenv("LLMGUARD_CACHE_DIR", str(tmp_path / ".cache" / "llmguard"))
    # The run-time pin policy judges model retirements as of one fixed day, so no test changes
    # its outcome as real shutdown dates pass (tests about retirements pick their own day).
    monkeypatch.setattr("llmguard._pin_policy.today_utc", lambda: LIFECYCLE_DAY)
    monkeypatch.chdir(tmp_path)
    reset_default_guard()
    reset_advisories()
    yield
    reset_default_guard()
    reset_databases()  # close every pooled connection the test opened (SQLite and PostgreSQL)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """Finished spans, in memory."""
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """A tracer provider exporting to `exporter` as each span ends."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider
    tracer_provider.shutdown()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database at the newest schema, on each engine: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'llmguard.db'}"
    server = request.getfixturevalue("postgres_server")
    return str(server.new_database())
