"""The bounded background queue that embeds sampled inputs, stores them, prunes and checks rules.

The caller's thread only runs `DriftWorker.offer`: a counter check under a lock and a ``put``
on an unbounded C queue. Past ``max_queue`` waiting records, or ``max_queue_bytes`` of their
request bodies (`content_bytes`; a record is always taken when none waits), a new sample is
dropped and counted (reason ``queue_full``; ``closed`` after shutdown). One daemon thread takes
records in batches, extracts the text, calls the embeddings API through the guarded client inside
`llmguard._context.drift_calls` (so those calls are recorded as ``kind="drift"``: monitoring
spend, never sampled), writes the vectors, and every so often prunes old rows and evaluates the
rules. Any failure is counted and logged once; nothing reaches the caller.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmguard._context import drift_calls
from llmguard._internal import advise_once, handle_internal_errors
from llmguard._record import CallRecord, content_bytes

from ._store import DriftRow, DriftStore

__all__ = ["DriftStats", "DriftWorker"]

_STOP = object()


@dataclass(frozen=True, kw_only=True, slots=True)
class DriftStats:
    """A consistent snapshot of the drift queue's counters (``embedded + skipped + failed + dropped + pending == sampled``).

    Attributes:
        sampled: Calls offered for embedding.
        embedded: Calls whose vector was stored.
        skipped: Calls with no text to embed.
        failed: Calls whose embedding or storage failed (the pin policy refused, the API failed...).
        dropped: Calls dropped before embedding.
        pending: Calls waiting or in progress.
        dropped_by_reason: ``dropped`` split by reason.
        alerts: Alerts delivered by the background checks.
    """

    sampled: int = 0
    embedded: int = 0
    skipped: int = 0
    failed: int = 0
    dropped: int = 0
    pending: int = 0
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    alerts: int = 0


Embedder = Callable[[list[str]], Sequence[Sequence[float]]]
"""Texts -> vectors (one per text, in order)."""


class DriftWorker:
    """Bounded, never-blocking background embedding of sampled call records.

    Args:
        embed: Texts -> vectors (runs on the worker thread, inside ``drift_calls()``).
        store: Where rows go.
        extract: Record -> the text to embed (None: skip).
        model: The embedding model name stored with each row.
        max_queue: Records that may wait.
        max_queue_bytes: Request-body content the waiting records may hold (`content_bytes`).
        batch_size: Texts per embeddings request.
        retain_content: Store the (capped) text too.
        max_chars: The cap on text embedded and stored.
        on_idle: Called on the worker thread after each batch (prune and rule checks).
    """

    def __init__(
        self,
        embed: Embedder,
        store: DriftStore,
        extract: Callable[[CallRecord], str | None],
        *,
        model: str,
        max_queue: int = 1000,
        max_queue_bytes: int = 8 * 2**20,
        batch_size: int = 32,
        retain_content: bool = False,
        max_chars: int = 2000,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.embed = embed
        self.store = store
        self.extract = extract
        self.model = model
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.batch_size = batch_size
        self.retain_content = retain_content
        self.max_chars = max_chars
        self.on_idle = on_idle
        self.alerts = 0
        self._closed = False
        self._reset()
        _live.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._queued = self._sampled = self._embedded = self._skipped = self._failed = self._pending = 0
        self._queued_bytes = 0
        self._dropped: dict[str, int] = {}

    # -- the caller's side ------------------------------------------------------------------------
    def offer(self, record: CallRecord) -> bool:
        """Queue ``record`` without blocking; False when it was dropped (and counted)."""
        size = content_bytes(record, self.max_queue_bytes)
        with self._lock:
            self._sampled += 1
            full = self._queued >= self.max_queue or (
                self._queued and self._queued_bytes + size > self.max_queue_bytes
            )
            if self._closed or full:
                reason = "closed" if self._closed else "queue_full"
                self._dropped[reason] = self._dropped.get(reason, 0) + 1
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="llmguard-drift", daemon=True)
                self._thread.start()
            self._queued += 1
            self._queued_bytes += size
            self._pending += 1
            self._queue.put((record, size))
        return True

    # -- the worker's side ------------------------------------------------------------------------
    def _work(self) -> None:
        while (first := self._queue.get()) is not _STOP:
            batch = [first]
            stop = False
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            with self._lock:
                self._queued -= len(batch)
                self._queued_bytes -= sum(size for _, size in batch)
            self._process([record for record, _ in batch])
            del batch
            if self.on_idle is not None:
                with handle_internal_errors("drift checks"):
                    self.on_idle()
            if stop:
                return

    def _process(self, batch: list[CallRecord]) -> None:
        texts: list[tuple[CallRecord, str]] = []
        skipped = 0
        for record in batch:
            text = None
            with handle_internal_errors("drift input extractor"):
                text = self.extract(record)
            if isinstance(text, str) and text.strip():
                texts.append((record, text[: self.max_chars]))
            else:
                skipped += 1
        embedded = failed = 0
        try:
            if texts:
                rows = self._rows(texts)
                self.store.write(rows)
                embedded = len(rows)
        except Exception as exc:  # the provider, the pin policy or the store failed: count it
            failed = len(texts)
            advise_once(
                "drift-embed",
                type(exc).__name__,
                f"llmguard: input drift could not embed or store {len(texts)} inputs ({type(exc).__name__}: "
                f"{exc}); they are counted in stats().failed, your LLM calls are unaffected",
            )
        with self._lock:
            self._embedded += embedded
            self._skipped += skipped
            self._failed += failed
            self._pending -= len(batch)
            if self._pending == 0:
                self._idle.notify_all()

    def _rows(self, texts: list[tuple[CallRecord, str]]) -> list[DriftRow]:
        with drift_calls():
            vectors = self.embed([text for _, text in texts])
        if len(vectors) != len(texts):
            raise ValueError(f"the embeddings API returned {len(vectors)} vectors for {len(texts)} inputs")
        rows = []
        for (record, text), vector in zip(texts, vectors, strict=True):
            prompt = record.prompt
            tags = (*(record.context.tags if record.context else ()),)
            rows.append(
                DriftRow(
                    record.call_id,
                    record.start_time_ns,
                    list(vector),
                    prompt.name if prompt else None,
                    prompt.version if prompt else None,
                    tuple(dict.fromkeys(tags)),
                    self.model,
                    text if self.retain_content else None,
                )
            )
        return rows

    # -- control ----------------------------------------------------------------------------------
    def stats(self) -> DriftStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return DriftStats(
                sampled=self._sampled,
                embedded=self._embedded,
                skipped=self._skipped,
                failed=self._failed,
                dropped=sum(self._dropped.values()),
                pending=self._pending,
                dropped_by_reason=dict(self._dropped),
                alerts=self.alerts,
            )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds until nothing is pending."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting work, embed what is pending for up to ``timeout`` seconds, stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self.flush(timeout)
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def _after_fork(self) -> None:
        self._reset()  # the parent's thread and waiting records do not exist here


_live: weakref.WeakSet[DriftWorker] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for worker in list(_live):
        worker._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
