"""Exporter faults: the OTLP endpoint is down, or accepts the connection and never answers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from ._app import assert_accounted, build_app

pytestmark = pytest.mark.timeout(60)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens here any more: connections are refused


@pytest.fixture
def silent() -> Iterator[socket.socket]:
    """A loopback socket that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock


def _run(tmp_path: Path, port: int) -> None:
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=0.5)
    app = build_app(tmp_path, exporter=exporter, span_export_timeout_ms=1000)
    try:
        answers = [app.serve(f"question {n}") for n in range(5)]
        answers.append(app.serve("streamed", stream=True))
        assert all(answer.startswith("Open Settings") for answer in answers)
        acc = app.accounting()
        assert_accounted(app, acc)
        assert acc.ledger.written == app.calls == 6
        assert acc.feedback_rows == 6
    finally:
        app.close()  # returns: the exporter gives up after its timeout


def test_exporter_down(tmp_path: Path) -> None:
    _run(tmp_path, _closed_port())


def test_exporter_hanging(tmp_path: Path, silent: socket.socket) -> None:
    _run(tmp_path, silent.getsockname()[1])
    silent.settimeout(5)
    conn, _ = silent.accept()  # the exporter did connect, and got no answer
    conn.close()
