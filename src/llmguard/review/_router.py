"""Routing calls to review as they happen: a call observer, and a judgment sink for judge rules.

On the hot path the observer does a hash and a compare (`Routing.on_call`) in ``on_start`` and, for a
routed call, one append to a bounded in-memory queue in ``on_end``. A background thread takes the
content (the guard's redaction and byte cap, only with content capture on) and writes the queue
rows. Calls sampled for judging are held, at most ``hold`` of them, until their judgments arrive:
a judgment that fails or scores below the threshold routes the call (`ReviewRouter.judgment_sink`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmguard._db import after_fork
from llmguard._feedback._judging import content_of
from llmguard._feedback._privacy import stored_content
from llmguard._feedback._ref import guard_of
from llmguard._internal import handle_internal_errors
from llmguard.judging._observer import SAMPLED_KEY

from ._rules import Routing
from ._store import ReviewStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmguard._core import CallContext
    from llmguard._guard import Guard
    from llmguard._record import CallRecord
    from llmguard.judging import Judgment, JudgmentSink

__all__ = ["ReviewRouter"]

_ROUTED = "llmguard.review.reason"
_OPERATIONS = frozenset({"chat", "text_completion"})


class ReviewRouter:
    """Routes calls to the human review queue: explicitly named, sampled at random, or judged badly.

    Args:
        store: The review store (or its database URL/path); default: the guard's database (``db``).
        routing: The rules (`Routing`, a mapping or a rate).
        max_pending: Routed calls waiting for the writer; beyond it new ones are dropped and counted.
        hold: Calls sampled for judging held (content in memory) until their judgments arrive.
    """

    def __init__(
        self,
        store: ReviewStore | str | Path | Engine | None = None,
        routing: Routing | Any = None,
        *,
        max_pending: int = 1000,
        hold: int = 1000,
    ) -> None:
        self.routing = Routing.coerce(routing)
        self._store = store if isinstance(store, ReviewStore) or store is None else ReviewStore(store)
        self.max_pending, self.hold = max_pending, hold
        self._pending: deque[tuple[Guard | None, CallRecord, str]] = deque()
        self._held: OrderedDict[str, tuple[Guard | None, CallRecord]] = OrderedDict()
        self._early: OrderedDict[str, str | None] = OrderedDict()
        """Verdicts of judgments that came before their call was held (a judging worker can finish
        before this observer's ``on_end`` runs on the caller's thread): call id -> routing reason."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._busy = 0
        self._thread: threading.Thread | None = None
        self._judge_rules = self.hold > 0 and (
            self.routing.failed_checks or self.routing.judge_threshold is not None
        )
        self.routed = self.dropped = self.written = self.without_content = self.failed = 0
        """Counters: calls routed, dropped (queue full), written, skipped (no content retained), lost
        to a store error (logged on the ``llmguard`` logger)."""
        after_fork(self)

    def _after_fork(self) -> None:
        self._early.clear()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending.clear()
        self._thread, self._busy = None, 0

    def needs_cost(self) -> bool:
        """Never reads the cost of a call."""
        return False

    def on_start(self, call: CallContext) -> None:
        """Decide (hash and compare) whether the call is routed; keep its output if so."""
        if call.kind != "app" or call.operation not in _OPERATIONS:
            return
        prompt = call.prompt.name if call.prompt is not None else None
        tags: Iterable[str] = call.scope.tags if call.scope is not None else ()
        reason = self.routing.on_call(call.call_id, prompt, tags)
        if reason is not None:
            call.want_output = True
            call.extras[_ROUTED] = reason

    def on_end(self, call: CallContext, record: CallRecord) -> None:
        """Enqueue a routed call; hold a call sampled for judging until its judgments come."""
        if record.error_type is not None or record.kind != "app":
            return
        reason = call.extras.get(_ROUTED)
        if reason is not None:
            self._offer(guard_of(call), record, reason)
        elif call.extras.get(SAMPLED_KEY) and self._judge_rules:
            with self._lock:
                judged = record.call_id in self._early
                early = self._early.pop(record.call_id, None)
                if not judged:
                    self._held[record.call_id] = (guard_of(call), record)
                    while len(self._held) > self.hold:
                        self._held.popitem(last=False)
            if early is not None:  # its judgments came first, and one of them routes it
                self._offer(guard_of(call), record, early)

    def _offer(self, guard: Guard | None, record: CallRecord, reason: str) -> None:
        with self._lock:
            if len(self._pending) >= self.max_pending:
                self.dropped += 1
                return
            self._pending.append((guard, record, reason))
            self.routed += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llmguard-review", daemon=True)
                self._thread.start()
            self._wake.notify()

    def judgment_sink(self, inner: JudgmentSink | None) -> JudgmentSink:
        """A judgment sink that hands judgments to ``inner`` and routes the calls the rules pick.

        Args:
            inner: Where judgments are stored, e.g. ``SQLJudgmentSink(db)`` (the guard's default);
                ``None`` keeps none (routing only).
        """
        return _RoutingSink(self, inner)

    def _judged(self, judgments: Iterable[Judgment]) -> None:
        """Route the held calls a judgment of this batch (all judges of a call) fails; release the rest."""
        reasons: dict[str, str | None] = {}
        for judgment in judgments:
            result = judgment.result
            reason = (
                self.routing.on_judgment(result.normalized, result.passed) if result is not None else None
            )
            reasons[judgment.call_id] = reasons.get(judgment.call_id) or reason
        for call_id, reason in reasons.items():
            with self._lock:
                held = self._held.pop(call_id, None)
                if held is None:  # not held yet: its on_end is still to run (or it was not sampled here)
                    self._early[call_id] = reason
                    while len(self._early) > self.hold:
                        self._early.popitem(last=False)
            if held is not None and reason is not None:
                self._offer(held[0], held[1], reason)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._wake.wait()
                batch = list(self._pending)
                self._pending.clear()
                self._busy += 1
            written = False
            try:
                with handle_internal_errors("review routing"):
                    self._write(batch)
                    written = True
            finally:
                with self._lock:
                    self.failed += 0 if written else len(batch)
                    self._busy -= 1
                    self._wake.notify_all()

    def _write(self, batch: list[tuple[Guard | None, CallRecord, str]]) -> None:
        rows = []
        for guard, record, reason in batch:
            content = stored_content(guard, content_of(record)) if guard is not None else None
            prompt = record.prompt
            rows.append({
                "call_id": record.call_id, "reason": reason, "enqueued_ns": record.start_time_ns,
                "prompt_name": prompt.name if prompt else None, "prompt_version": prompt.version if prompt else None,
                "model": record.response_model or record.request_model,
                "tags": _tags(record), "content": _json(content),
            })  # fmt: skip
        guard = next((g for g, _, _ in batch if g is not None), None)
        store = self.store(guard)
        missing = sum(row["content"] is None for row in rows)
        added = store.enqueue_rows(rows) if store is not None else 0
        with self._lock:
            self.written += added
            self.without_content += missing

    def store(self, guard: Guard | None = None) -> ReviewStore | None:
        """The store routed calls go to (in the guard's database when none was given)."""
        if self._store is None and guard is not None:
            self._store = ReviewStore(guard.db)
        return self._store

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds until every routed call is written; True if so."""
        with self._lock:
            return self._wake.wait_for(lambda: not self._pending and not self._busy, timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Write what is pending (bounded by ``timeout``) and forget held calls."""
        self.flush(timeout)
        with self._lock:
            self._held.clear()


def _tags(record: CallRecord) -> str:
    import json

    tags = record.context.tags if record.context is not None else ()
    return json.dumps(list(tags or ()))


def _json(content: Any) -> str | None:
    import json

    return json.dumps(content, default=str) if content is not None else None


class _RoutingSink:
    def __init__(self, router: ReviewRouter, inner: JudgmentSink | None) -> None:
        self.router, self.inner = router, inner

    def write(self, judgments: Iterable[Judgment]) -> None:
        batch = list(judgments)
        try:
            if self.inner is not None:
                self.inner.write(batch)
        finally:
            self.router._judged(batch)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()
