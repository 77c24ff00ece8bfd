"""Browser feedback: a chat answer with 👍/👎 buttons that POST a signed token to the feedback endpoint.

Run ``python examples/feedback_web.py`` to self-test in-process (no network at all, exits 0), or
``python examples/feedback_web.py --serve`` to open http://127.0.0.1:8000 in a browser.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import httpx

import llmguard
from llmguard import Guard, feedback_app
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-mini-2024-07-18"

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>llmguard feedback demo</title></head>
<body>
<p id="answer">{answer}</p>
<button id="up" data-value="true">👍</button> <button id="down" data-value="false">👎</button>
<p id="status">waiting</p>
<script>
const token = {token};
async function send(value) {{
  const r = await fetch("/feedback", {{method: "POST", headers: {{"content-type": "application/json"}},
    body: JSON.stringify({{token: token, name: "thumbs", value: value}})}});
  document.getElementById("status").textContent = r.ok ? "thanks" : "error " + r.status;
}}
for (const b of document.querySelectorAll("button")) b.onclick = () => send(b.dataset.value === "true");
if (location.search.includes("autoclick")) document.getElementById("up").click();
</script>
</body></html>
"""

Scope = dict[str, Any]


def build_app(guard: Guard, client: llmguard.OpenAI) -> Any:
    """An ASGI app: ``GET /`` answers a question and renders the page, ``/feedback`` records the click."""
    endpoint = feedback_app(guard)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/feedback":
            await endpoint(scope, receive, send)
            return
        if scope["type"] != "http":
            await endpoint(scope, receive, send)  # lifespan
            return
        answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello?"}])
        token = guard.feedback_token(answer, ttl=3600, names=["thumbs"])  # bind user_id= too when you know it
        body = PAGE.format(
            answer=html.escape(answer.choices[0].message.content or ""), token=json.dumps(token)
        )
        data = body.encode()
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(data)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return app


async def self_test(app: Any, db: Path) -> None:
    """Load the page and click 👎 through an in-process transport; check the row is linked to the call."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo.local") as http:
        page = await http.get("/")
        found = re.search(r'const token = "([^"]+)"', page.text)
        assert found is not None, "no token in the page"
        sent = await http.post("/feedback", json={"token": found.group(1), "name": "thumbs", "value": False})
        assert sent.status_code == 200, sent.text
        call_id = sent.json()["call_id"]
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT call_id, score, source, model FROM llmguard_feedback").fetchone()
    finally:
        conn.close()
    assert row == (call_id, 0.0, "token", MODEL), row
    print(f"feedback from the page stored for call {call_id}: {row}")


def main() -> None:
    """Self-test, or serve with ``--serve``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help="serve on 127.0.0.1 until interrupted")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "llmguard.db"
        guard = Guard(db_path=db, pin_policy="off", feedback_secret="demo-secret-change-me")
        with FakeOpenAI(reply="Hello! How can I help?").client(llmguard.OpenAI, guard=guard) as client:
            app = build_app(guard, client)
            if args.serve:
                import uvicorn

                uvicorn.run(app, host="127.0.0.1", port=args.port)
            else:
                asyncio.run(self_test(app, db))
        guard.close()  # closes the feedback database too


if __name__ == "__main__":
    main()
