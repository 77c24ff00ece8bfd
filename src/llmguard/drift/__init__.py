"""Input drift: embedding drift and topic shift on a sample of production inputs.

Enable it (it stores and spends, so it is off by default; needs ``pip install 'llmguard[drift]'``)::

    guard = llmguard.Guard(
        drift=DriftConfig(
            model="text-embedding-3-small",
            sampling=0.05,  # 5% of app calls, chosen by a salted hash of the trace/call id
            rules=[DriftRule(metric="mmd", alpha=0.01), DriftRule(metric="topic", tag="support")],
            callbacks=[page_someone],
        ),
    )

A background thread embeds the sampled inputs through a guarded client (calls of
``kind="drift"``: monitoring spend, pinned like any call) and stores the vectors for
``retention_days``. Rules compare the current window with a baseline (centroid cosine distance,
MMD with a permutation p-value, k-means topic mix with a chi-square test) and alert on the cost
feature's alert path. ``llmguard drift report`` and ``llmguard drift check`` read the same store.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._compare import CompareOptions, Comparison, Windows, compare, compare_windows, windows_for
from ._config import DRIFT_SALT, DriftConfig, Extractor
from ._deps import EXTRA_HINT, require_drift_extra
from ._extract import last_user_text
from ._report import DriftAlerts, DriftReport, drift_report, drift_series, evaluate_drift
from ._rules import DEFAULT_THRESHOLDS, DriftMetric, DriftRule, default_rules
from ._stats import ClusterShift, MMDResult, TopicShift, centroid_distance, mmd_test
from ._store import DriftRow, DriftStore
from ._worker import DriftStats

if TYPE_CHECKING:
    from llmguard._guard import Guard
    from llmguard._record import CallRecord
    from llmguard.cost import Alert

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DRIFT_SALT",
    "EXTRA_HINT",
    "ClusterShift",
    "CompareOptions",
    "Comparison",
    "DriftAlerts",
    "DriftConfig",
    "DriftMetric",
    "DriftReport",
    "DriftRow",
    "DriftRule",
    "DriftStats",
    "DriftStore",
    "Extractor",
    "MMDResult",
    "TopicShift",
    "Windows",
    "centroid_distance",
    "check_drift",
    "compare",
    "compare_windows",
    "default_rules",
    "drift_report",
    "drift_series",
    "drift_stats",
    "evaluate_drift",
    "last_user_text",
    "mmd_test",
    "record_input",
    "require_drift_extra",
    "windows_for",
]


def _find_observer(guard: Guard) -> object | None:
    from ._observer import DriftObserver

    return next((o for o in guard.runtime.observers if isinstance(o, DriftObserver)), None)


def check_drift(guard: Guard, *, now: datetime | None = None) -> list[Alert]:
    """Embed what is queued, evaluate ``guard``'s drift rules now, deliver and return the new alerts."""
    observer = _find_observer(guard)
    if observer is None:
        return []
    observer.flush()  # type: ignore[attr-defined]
    return observer.check(now)  # type: ignore[attr-defined,no-any-return]


def record_input(guard: Guard, record: CallRecord, *, sample: bool = True) -> bool:
    """Queue one finished call's input for embedding as ``guard``'s clients do.

    For backfills and replays of past traffic (``examples/drift_week.py``): the row is dated by
    ``record.start_time_ns``. With ``sample=True`` the drift sample decides, as for a live call.

    Returns:
        False when drift is off, the call is not sampled, or the queue dropped it.
    """
    observer: Any = _find_observer(guard)
    if observer is None:
        return False
    if sample:
        tags = record.context.tags if record.context is not None else ()
        prompt = record.prompt.name if record.prompt is not None else None
        if not observer.sampling.decide(record.trace_id or record.call_id, prompt, tags):
            return False
    return bool(observer.worker.offer(record))


def drift_stats(guard: Guard) -> DriftStats | None:
    """The drift queue's counters (sampled, embedded, skipped, failed, dropped, pending), or None when off."""
    observer = _find_observer(guard)
    return None if observer is None else observer.stats()  # type: ignore[attr-defined]
