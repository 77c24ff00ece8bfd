"""The feedback ASGI endpoint: a real uvicorn server on loopback, validation, CORS, and headless Chromium."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

import llmguard
from llmguard import Guard
from llmguard._feedback import call_ref, close_sinks, feedback_app
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-2024-08-06"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def guard(tmp_path: Path) -> Iterator[Guard]:
    g = Guard(db_path=tmp_path / "asgi.db", pin_policy="off", feedback_secret="s")
    yield g
    close_sinks(g)


@pytest.fixture
def client(guard: Guard) -> Iterator[llmguard.OpenAI]:
    with FakeOpenAI().client(llmguard.OpenAI, guard=guard) as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Any) -> str:
        port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def _rows(guard: Guard) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(guard.db_path)
    try:
        return conn.execute(
            "SELECT call_id, name, score, comment, source, response_id FROM llmguard_feedback"
        ).fetchall()
    finally:
        conn.close()


def test_real_server_links_feedback_to_the_call(client: llmguard.OpenAI, guard: Guard, serve: Any) -> None:
    first = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a"}])
    second = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "b"}])
    base = serve(feedback_app(guard, allow_origins=["https://app.example"]))
    with httpx.Client(base_url=base) as http:
        ok = http.post(
            "/", json={"token": guard.feedback_token(second), "name": "rating", "value": 2, "comment": "meh"}
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["call_id"] == call_ref(second).call_id
        pre = http.options(
            "/", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        )
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] == "https://app.example"
        evil = http.options(
            "/", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert evil.status_code == 403
        assert "access-control-allow-origin" not in evil.headers
    ref = call_ref(second)
    assert _rows(guard) == [(ref.call_id, "rating", 2.0, "meh", "token", ref.response_id)]
    assert call_ref(first).call_id != ref.call_id


def _post(
    app: Any, body: Any = None, *, content: bytes | None = None, headers: dict[str, str] | None = None
) -> Any:
    import asyncio

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://feedback.local") as http:
            if content is not None:
                return await http.post("/", content=content, headers=headers or {})
            return await http.post("/", json=body, headers=headers or {})

    return asyncio.run(go())


def test_validation_errors_are_clear_4xx(client: llmguard.OpenAI, guard: Guard) -> None:
    app = feedback_app(guard, max_body=512)
    token = guard.feedback_token(client.chat.completions.create(model=MODEL, messages=[]))
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"content": b"{nope", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
        ({"body": [1, 2]}, 400, "invalid_json"),
        ({"body": {"token": token, "name": "thumbs"}}, 400, "missing_field"),
        ({"body": {"token": token, "name": "thumbs", "value": 1, "extra": 1}}, 400, "unknown_field"),
        ({"body": {"token": 5, "name": "thumbs", "value": 1}}, 400, "invalid_field"),
        ({"body": {"token": token + "x", "name": "thumbs", "value": 1}}, 403, "invalid_token"),
        ({"body": {"token": token, "name": "thumbs", "value": None}}, 422, "invalid_feedback"),
        (
            {"body": {"token": token, "name": "thumbs", "value": 1, "comment": "x" * 600}},
            413,
            "payload_too_large",
        ),
        ({"content": b"value=1", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
        (
            {"body": {"token": token, "name": "t", "value": 1}, "headers": {"origin": "https://x.example"}},
            403,
            "origin",
        ),
    ]
    for kwargs, status, code in cases:
        response = _post(
            app, kwargs.get("body"), content=kwargs.get("content"), headers=kwargs.get("headers")
        )
        assert response.status_code == status, (kwargs, response.text)
        assert response.json()["error"].startswith(code)
    assert not guard.db_path.exists()  # nothing stored
    same_origin = _post(
        app, {"token": token, "name": "t", "value": 1}, headers={"origin": "http://feedback.local"}
    )
    assert same_origin.status_code == 200


def test_get_is_not_allowed(guard: Guard) -> None:
    import asyncio

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=feedback_app(guard)), base_url="http://x"
        ) as h:
            return await h.get("/")

    response = asyncio.run(go())
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_headless_chromium_clicks_thumbs_up(
    client: llmguard.OpenAI, guard: Guard, serve: Any, tmp_path: Path
) -> None:
    spec = importlib.util.spec_from_file_location("feedback_web_example", EXAMPLES / "feedback_web.py")
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    base = serve(example.build_app(guard, client))
    assert CHROMIUM is not None
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", f"{base}/?autoclick=1"],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert '<p id="status">thanks</p>' in dom.stdout, dom.stderr[-2000:]
    rows = _rows(guard)
    assert len(rows) == 1
    assert rows[0][1:3] == ("thumbs", 1.0)


def test_examples_run_offline() -> None:
    for name in ("feedback_backend.py", "feedback_web.py"):
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
