"""The review page: a real uvicorn server on loopback, reviewer tokens, and headless Chromium by keyboard."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from llmguard import FeedbackTokenError, Guard
from llmguard.review import ReviewStore
from llmguard.review._tokens import read_reviewer_token, reviewer_token
from llmguard.review._web import review_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IDS = [f"{i:032x}" for i in range(1, 4)]


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    g = Guard(db_path=tmp_path / "web.db", pin_policy="off", feedback_secret="s3cret")
    store = ReviewStore(g.db_path)
    for i, call_id in enumerate(IDS):
        content = {
            "input": {"messages": [{"role": "user", "content": f"<b>question {i}</b>"}]},
            "output": f"a{i}",
        }
        store.enqueue(call_id, "random", content, prompt_name="faq", prompt_version="1.0.0")
    return g


@pytest.fixture
def base(guard: Guard) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(review_app(guard), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def rows(guard: Guard) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(guard.db_path)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'llmguard_feedback'").fetchone() is None:
            return []
        return conn.execute(
            "SELECT call_id, user_id, source, label FROM llmguard_feedback WHERE name = 'review' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def test_tokens_are_signed_scoped_and_expire(guard: Guard) -> None:
    token = reviewer_token(guard, "ann")
    assert read_reviewer_token(guard, token) == "ann"
    other = Guard(feedback_secret="other")
    for bad in (reviewer_token(other, "ann"), token[:-2] + "xx", "lgr1.e30.x", "x" * 5000, 7):
        with pytest.raises(FeedbackTokenError):
            read_reviewer_token(guard, bad)
    with pytest.raises(FeedbackTokenError, match="expired"):
        read_reviewer_token(guard, reviewer_token(guard, "ann", ttl=-10))


def test_api_needs_a_token_and_validates_labels(guard: Guard, base: str) -> None:
    auth = {"authorization": f"Bearer {reviewer_token(guard, 'ann')}"}
    assert httpx.get(f"{base}/api/next").status_code == 401
    assert httpx.get(f"{base}/api/next", headers={"authorization": "Bearer nope"}).status_code == 401
    page = httpx.get(f"{base}/")
    assert page.status_code == 200
    assert "nonce-" in page.headers["content-security-policy"]
    assert httpx.get(f"{base}/api/next", headers=auth).json()["call_id"] == IDS[0]
    assert httpx.get(f"{base}/api/next?after={IDS[0]}", headers=auth).json()["call_id"] == IDS[1]
    cases = [
        ({"call_id": "f" * 32, "passed": True}, 404),
        ({"call_id": IDS[0], "passed": "yes"}, 422),
        ({"call_id": IDS[0]}, 400),
        ({"call_id": IDS[0], "passed": True, "extra": 1}, 400),
    ]
    for body, status in cases:
        assert httpx.post(f"{base}/api/label", json=body, headers=auth).status_code == status, body
    assert httpx.post(f"{base}/api/label", content=b"x" * 70_000, headers=auth).status_code == 413
    assert httpx.delete(f"{base}/api/label", headers=auth).status_code == 405
    assert httpx.get(f"{base}/nope", headers=auth).status_code == 404
    assert rows(guard) == []


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_headless_chromium_labels_three_calls_by_keyboard(guard: Guard, base: str, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    token = reviewer_token(guard, "ann")
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=10000", "--dump-dom", f"{base}/#token={token}&keys=pnpf"],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert '<p id="status">done: 3 labelled</p>' in dom.stdout, dom.stdout[-3000:] + dom.stderr[-2000:]
    assert "<b>question" not in dom.stdout  # content is text, never markup
    # p labels IDS[0]; n skips IDS[1]; p labels IDS[2]; f: the queue wraps back to the skipped IDS[1]
    assert rows(guard) == [(IDS[0], "ann", "review", "true"), (IDS[2], "ann", "review", "true"),
                           (IDS[1], "ann", "review", "false")]  # fmt: skip


def test_skipping_walks_the_queue_and_wraps_around(guard: Guard) -> None:
    store = ReviewStore(guard.db_path)
    seen: list[str] = []
    item = store.next_item("ann")
    while item is not None and len(seen) < 5:
        seen.append(item.call_id)
        item = store.next_item("ann", after=item.call_id)
    assert seen == [*IDS, IDS[0], IDS[1]]  # skipping never ends the queue while calls are left
    from llmguard.review import record_label

    for call_id in IDS[:2]:
        record_label(guard, store, call_id, "ann", True)
    assert store.next_item("ann", after=IDS[2]) is None  # the only call left is the one skipped
    last = store.next_item("ann")
    assert last is not None
    assert last.call_id == IDS[2]
    assert store.next_item("bob", after="unknown") is not None


def test_mounted_in_starlette(guard: Guard) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    app = Starlette(routes=[Mount("/review", app=review_app(guard))])
    auth = {"authorization": f"Bearer {reviewer_token(guard, 'ann')}"}
    with TestClient(app) as client:
        assert "llmguard review" in client.get("/review/").text
        assert client.get("/review/api/next", headers=auth).json()["call_id"] == IDS[0]
        done = client.post("/review/api/label", json={"call_id": IDS[0], "passed": False}, headers=auth)
        assert done.status_code == 200, done.text
    assert rows(guard) == [(IDS[0], "ann", "review", "false")]


def test_cli_serve(guard: Guard, tmp_path: Path) -> None:
    import os
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LLMGUARD_REVIEW_SECRET": "s3cret"}
    cmd = [
        sys.executable,
        "-m",
        "llmguard",
        "--db",
        str(guard.db_path),
        "review",
        "serve",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "review serve did not start"
                time.sleep(0.2)
        assert page.status_code == 200
        auth = {"authorization": f"Bearer {reviewer_token(guard, 'ann')}"}  # same secret as the server's
        assert httpx.get(f"http://127.0.0.1:{port}/api/next", headers=auth).json()["call_id"] == IDS[0]
    finally:
        server.terminate()
        server.communicate(timeout=30)
