"""``review_app(guard)``: the keyboard-driven review page and its JSON API, as one ASGI app.

``GET /`` serves the page (no data in it); the page reads the reviewer token from the URL fragment
(``#token=...``, never sent to the server or its logs) and calls the API with
``Authorization: Bearer <token>``:

- ``GET api/next[?after=CALL_ID]``: the next call to review (``null`` when none is left);
- ``POST api/label`` ``{"call_id", "passed", "score"?, "corrected"?, "comment"?}``: store a label;
- ``GET api/stats``.

Keys: ``p`` pass, ``f`` fail, ``n`` next (skip). Status codes: 200, 400 malformed JSON, 401 missing or
invalid token, 404 unknown path or call not queued, 405, 413 body too large, 415 not JSON, 422 invalid
label. Errors are JSON ``{"error": code, "detail": message}``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from llmguard.exceptions import FeedbackError, FeedbackTokenError

from ._labels import record_label
from ._store import ReviewStore
from ._tokens import read_reviewer_token

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmguard._guard import Guard

__all__ = ["ReviewApp", "review_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

LABEL_FIELDS = frozenset({"call_id", "passed", "score", "corrected", "comment"})

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>llmguard review</title>
<style nonce="{nonce}">body{{font:15px system-ui,sans-serif;margin:2em;max-width:60em}}pre{{white-space:pre-wrap;
background:#f4f4f4;padding:.6em}}kbd{{border:1px solid #999;border-radius:3px;padding:0 .3em}}</style></head>
<body><h1>llmguard review</h1>
<p>Keys: <kbd>p</kbd> pass, <kbd>f</kbd> fail, <kbd>n</kbd> next. Score and corrected answer are optional.</p>
<p id="status">loading</p>
<section id="call" hidden><p id="meta"></p><h2>Input</h2><pre id="input"></pre><h2>Output</h2><pre id="output"></pre>
<h2>Judges</h2><ul id="judges"></ul><h2>User feedback</h2><ul id="feedback"></ul>
<label>Score <input id="score" size="6"></label>
<p><label>Corrected answer<br><textarea id="corrected" rows="4" cols="80"></textarea></label></p>
<p><label>Comment<br><textarea id="comment" rows="2" cols="80"></textarea></label></p></section>
<p id="done" hidden>nothing left to review</p>
<script nonce="{nonce}">
const params = new URLSearchParams(location.hash.slice(1));
const token = params.get("token") || "";
const base = location.pathname.replace(/\\/?$/, "/");
let current = null, busy = false, labelled = 0;
const $ = (id) => document.getElementById(id);
async function api(path, body) {{
  const init = {{headers: {{"authorization": "Bearer " + token}}}};
  if (body !== undefined) {{
    init.method = "POST"; init.body = JSON.stringify(body); init.headers["content-type"] = "application/json";
  }}
  const response = await fetch(base + path, init);
  const data = await response.json();
  if (!response.ok) throw new Error(data.detail || response.status);
  return data;
}}
function list(id, items, text) {{
  const ul = $(id); ul.replaceChildren();
  for (const item of items) {{ const li = document.createElement("li"); li.textContent = text(item); ul.append(li); }}
}}
function show(item) {{
  current = item;
  $("call").hidden = !item; $("done").hidden = !!item;
  if (!item) {{ $("status").textContent = "done: " + labelled + " labelled"; return; }}
  $("meta").textContent = "call " + item.call_id + " | " + item.reason + " | prompt " +
    (item.prompt_name ? item.prompt_name + "@" + item.prompt_version : "-") + " | model " + (item.model || "-");
  $("input").textContent = JSON.stringify(item.content.input, null, 1);
  $("output").textContent = item.content.output || "";
  list("judges", item.judgments, (j) => j.judge + ": " + j.score + (j.passed ? " pass" : " fail") +
    (j.reason ? " (" + j.reason + ")" : ""));
  list("feedback", item.feedback, (f) => f.name + " = " + JSON.stringify(f.value) + (f.comment ? " " + f.comment : ""));
  for (const id of ["score", "corrected", "comment"]) $(id).value = "";
  $("status").textContent = "ready: " + item.call_id;
}}
async function load(after) {{
  show(await api("api/next" + (after ? "?after=" + encodeURIComponent(after) : "")));
}}
async function act(key) {{
  if (busy || !current) return;
  busy = true;
  try {{
    if (key === "n") {{ await load(current.call_id); return; }}
    const body = {{call_id: current.call_id, passed: key === "p"}};
    const score = $("score").value.trim();
    if (score) body.score = Number(score);
    for (const id of ["corrected", "comment"]) if ($(id).value.trim()) body[id] = $(id).value;
    await api("api/label", body);
    labelled += 1;
    await load(null);
  }} catch (error) {{ $("status").textContent = "error: " + error.message; }}
  finally {{ busy = false; }}
}}
function press(key) {{
  return new Promise((resolve) => {{
    document.dispatchEvent(new KeyboardEvent("keydown", {{key: key, bubbles: true}}));
    const wait = () => busy ? setTimeout(wait, 10) : resolve();
    setTimeout(wait, 0);
  }});
}}
document.addEventListener("keydown", (event) => {{
  const tag = event.target && event.target.tagName;
  if (tag === "TEXTAREA" || tag === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
  if (["p", "f", "n"].includes(event.key)) {{ event.preventDefault(); act(event.key); }}
}});
load(null).then(async () => {{
  for (const key of params.get("keys") || "") await press(key);
}}).catch((error) => {{ $("status").textContent = "error: " + error.message; }});
</script></body></html>
"""


class _HTTPError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class ReviewApp:
    """The ASGI application built by `review_app`."""

    def __init__(self, guard: Guard, store: ReviewStore, *, max_body: int) -> None:
        self.guard, self.store, self.max_body = guard, store, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path, root = scope["path"], scope.get("root_path") or ""
        if root and path.startswith(root):  # mounted (Starlette keeps the full path and sets root_path)
            path = path[len(root) :]
        path = "/" + path.strip("/")
        try:
            if path == "/":
                await self._page(scope, send)
                return
            status, body = await self._api(scope, receive, path)
        except _HTTPError as exc:
            status, body = exc.status, {"error": exc.code, "detail": exc.detail}
        data = json.dumps(body, ensure_ascii=False).encode()
        await _respond(send, status, data, b"application/json")

    async def _page(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            raise _HTTPError(405, "method_not_allowed", "use GET")
        nonce = secrets.token_urlsafe(16)
        csp = f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'".encode()
        page = PAGE.format(nonce=nonce).encode()
        await _respond(send, 200, page, b"text/html; charset=utf-8", [(b"content-security-policy", csp)])

    async def _api(self, scope: Scope, receive: Receive, path: str) -> tuple[int, Any]:
        import anyio.to_thread

        reviewer = self._reviewer(scope)
        method = scope["method"]
        if path == "/api/next" and method == "GET":
            after = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("after", [None])[0]
            item = await anyio.to_thread.run_sync(lambda: self.store.next_item(reviewer, after=after))
            return 200, item.as_dict() if item is not None else None
        if path == "/api/stats" and method == "GET":
            return 200, await anyio.to_thread.run_sync(self.store.stats, reviewer)
        if path == "/api/label" and method == "POST":
            payload = _label_payload(scope, await _body(receive, self.max_body))
            return 200, await anyio.to_thread.run_sync(self._label, reviewer, payload)
        if path in ("/api/next", "/api/stats", "/api/label"):
            raise _HTTPError(405, "method_not_allowed", f"{method} is not allowed on {path}")
        raise _HTTPError(404, "not_found", f"no such path {path!r}")

    def _reviewer(self, scope: Scope) -> str:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise _HTTPError(401, "unauthorized", "send Authorization: Bearer <reviewer token>")
        try:
            return read_reviewer_token(self.guard, auth[7:].strip())
        except FeedbackTokenError as exc:
            raise _HTTPError(401, "invalid_token", str(exc)) from None

    def _label(self, reviewer: str, payload: dict[str, Any]) -> dict[str, Any]:
        call_id = payload["call_id"]
        if not isinstance(call_id, str) or self.store.item(call_id) is None:
            raise _HTTPError(404, "not_queued", f"call {call_id!r} is not in the review queue")
        try:
            label = record_label(
                self.guard, self.store, call_id, reviewer, payload["passed"], score=payload.get("score"),
                corrected=payload.get("corrected"), comment=payload.get("comment"),
            )  # fmt: skip
        except FeedbackError as exc:
            raise _HTTPError(422, "invalid_label", str(exc)) from None
        return {"ok": True, "call_id": label.call_id, "reviewer": label.reviewer, "passed": label.passed}


def _label_payload(scope: Scope, body: bytes) -> dict[str, Any]:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
        raise _HTTPError(415, "unsupported_media_type", "send the label as application/json")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise _HTTPError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _HTTPError(400, "invalid_json", "the body must be a JSON object")
    unknown = sorted(set(payload) - LABEL_FIELDS)
    if unknown:
        raise _HTTPError(
            400, "unknown_field", f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(LABEL_FIELDS))}"
        )
    for key in ("call_id", "passed"):
        if key not in payload:
            raise _HTTPError(400, "missing_field", f"missing field {key!r}")
    return payload


async def _body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _HTTPError(400, "disconnected", "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _HTTPError(413, "payload_too_large", f"the body must be at most {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, data: bytes, kind: bytes, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    headers = [(b"content-type", kind), (b"content-length", str(len(data)).encode()), (b"cache-control", b"no-store"),
               (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"), *extra]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def review_app(
    guard: Guard | None = None,
    *,
    store: ReviewStore | str | Path | Engine | None = None,
    max_body: int = 65_536,
) -> ReviewApp:
    """The review page and API as an ASGI app (mount it, or run ``llmguard review serve``).

    Args:
        guard: Its ``feedback_secret`` verifies reviewer tokens and its feedback store keeps labels
            (default: the default guard).
        store: The review queue (default: in the guard's database).
        max_body: The largest accepted label body, in bytes.
    """
    if guard is None:
        from llmguard._guard import get_default_guard

        guard = get_default_guard()
    queue = store if isinstance(store, ReviewStore) else ReviewStore(store if store is not None else guard.db)
    return ReviewApp(guard, queue, max_body=max_body)
