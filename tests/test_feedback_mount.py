"""The documented way to serve ``feedback_app`` answers ``fetch("/feedback")`` directly, no redirect."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

import llmguard
from llmguard import Guard
from llmguard.testing import FakeOpenAI

DOCS = Path(__file__).resolve().parents[1] / "docs" / "feedback.md"
MODEL = "gpt-4o-mini-2024-07-18"


def _guard_and_token(tmp_path: Path) -> tuple[Guard, str]:
    guard = Guard(db_path=tmp_path / "fb.db", pin_policy="off", feedback_secret="test-secret")
    with FakeOpenAI(reply="Paris.").client(llmguard.OpenAI, guard=guard) as client:
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Capital?"}]
        )
    return guard, guard.feedback_token(answer, ttl=600)


def _documented_line() -> str:
    """The line of docs/feedback.md that serves the endpoint on ``app``."""
    lines = [
        line for line in DOCS.read_text(encoding="utf-8").splitlines() if "llmguard.feedback_app(" in line
    ]
    [line] = [line for line in lines if line.startswith("app.")]
    return line


async def _post(app: Any, path: str, token: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://app.example") as http:
        body = {"token": token, "name": "thumbs", "value": True}
        return await http.post(path, json=body, headers=headers)


@pytest.mark.anyio
async def test_the_documented_starlette_route_answers_at_feedback(tmp_path: Path) -> None:
    applications = pytest.importorskip("starlette.applications")
    guard, token = _guard_and_token(tmp_path)
    app = applications.Starlette()
    exec(_documented_line(), {"app": app, "llmguard": llmguard, "guard": guard})
    response = await _post(app, "/feedback", token, origin="https://app.example")
    assert response.status_code == 200, (response.status_code, response.headers)
    assert response.json()["ok"] is True
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    guard.close()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("root_path", "path"),
    [("", "/feedback"), ("/feedback", "/feedback"), ("/feedback", "/feedback/"), ("/api", "/api/feedback")],
)
async def test_raw_asgi_scopes_with_root_path_are_answered(tmp_path: Path, root_path: str, path: str) -> None:
    guard, token = _guard_and_token(tmp_path)
    endpoint = llmguard.feedback_app(guard)

    async def mounted(scope: Any, receive: Any, send: Any) -> None:
        await endpoint({**scope, "root_path": root_path}, receive, send)

    response = await _post(mounted, path, token)
    assert response.status_code == 200, response.text
    guard.close()


def test_docs_do_not_mount_at_a_path_fetched_without_slash() -> None:
    text = DOCS.read_text(encoding="utf-8")
    fetched = set(re.findall(r'fetch\("([^"]+)"', text))
    mounted = set(re.findall(r'app\.mount\("([^"]+)"', text))
    assert fetched
    assert not fetched & mounted, "a Starlette mount answers that path with a 307 redirect"
