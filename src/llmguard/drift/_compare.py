"""Comparing two windows of stored embeddings: the pure core of reports and rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ._deps import require_drift_extra
from ._stats import MMDResult, TopicShift, centroid_distance, fit_topics, mmd_test, topic_shift
from ._store import DriftStore

__all__ = ["CompareOptions", "Comparison", "Windows", "compare", "compare_windows", "day_ns", "windows_for"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CompareOptions:
    """How two windows are compared.

    Attributes:
        permutations: MMD permutations.
        max_samples: Rows per window fed to MMD (seeded subsample).
        min_samples: Minimum rows in each window; below it nothing is computed (``enough`` is False).
        topics: Also fit clusters and test the topic mix.
        mmd: Run the MMD permutation test (False: the centroid distance only, for cheap series).
        k: Force the number of clusters (None: the silhouette rule).
        examples: Representative inputs per cluster (only where content was retained).
        seed: Seed of subsampling, permutations and k-means.
        threads: BLAS/OpenMP threads for the statistics (`threadpoolctl`); 1 by default so the
            background checks never compete with the app for cores; None leaves the libraries' default.
    """

    permutations: int = 200
    max_samples: int = 500
    min_samples: int = 30
    topics: bool = True
    mmd: bool = True
    k: int | None = None
    examples: int = 3
    seed: int = 0
    threads: int | None = 1


_DEFAULT = CompareOptions()


@dataclass(frozen=True, slots=True)
class Windows:
    """A baseline and a current window, as half-open UTC day ranges ``[start, end)``."""

    baseline_start: date
    baseline_end: date
    current_start: date
    current_end: date

    @property
    def label(self) -> str:
        """The current window, as its dedupe key (``2025-03-20`` or ``2025-03-18..2025-03-20``)."""
        last = self.current_end - timedelta(days=1)
        return last.isoformat() if last == self.current_start else f"{self.current_start}..{last}"


def day_ns(day: date) -> int:
    """Midnight UTC of ``day`` in ns since the epoch."""
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp()) * 10**9


def windows_for(
    today: date, *, current_days: int = 1, baseline_days: int = 7, baseline: tuple[date, date] | None = None
) -> Windows:
    """The current window (``current_days`` days ending with ``today``) and its baseline.

    The baseline is the ``baseline_days`` days just before the current window, or the fixed
    inclusive range ``baseline``.
    """
    current_end = today + timedelta(days=1)
    current_start = current_end - timedelta(days=current_days)
    if baseline is not None:
        return Windows(baseline[0], baseline[1] + timedelta(days=1), current_start, current_end)
    return Windows(current_start - timedelta(days=baseline_days), current_start, current_start, current_end)


@dataclass(frozen=True, kw_only=True, slots=True)
class Comparison:
    """The current window against the baseline, for one scope.

    Attributes:
        scope: ``{}`` (all calls), ``{"prompt": name}`` or ``{"tag": tag}``.
        window: The current window's label.
        n_baseline: Baseline rows.
        n_current: Current rows.
        enough: Both windows hold at least ``min_samples`` rows (else no statistic is computed).
        centroid_distance: Cosine distance of the centroids.
        mmd: The MMD permutation test.
        topics: The topic-shift test.
    """

    scope: Mapping[str, str] = field(default_factory=dict)
    window: str = ""
    n_baseline: int = 0
    n_current: int = 0
    enough: bool = False
    centroid_distance: float | None = None
    mmd: MMDResult | None = None
    topics: TopicShift | None = None

    @property
    def scope_label(self) -> str:
        """``all``, ``prompt=name`` or ``tag=t``."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.scope.items())) or "all"


def compare(
    baseline: Any,
    current: Any,
    options: CompareOptions = _DEFAULT,
    *,
    scope: Mapping[str, str] | None = None,
    window: str = "",
    baseline_texts: Sequence[str | None] = (),
    current_texts: Sequence[str | None] = (),
) -> Comparison:
    """Compare two embedding matrices (rows are samples); guarded by ``options.min_samples``."""
    n_base, n_cur = len(baseline), len(current)
    head = Comparison(scope=dict(scope or {}), window=window, n_baseline=n_base, n_current=n_cur)
    if min(n_base, n_cur) < max(options.min_samples, 2):
        return head
    threadpool_limits = require_drift_extra()["threadpoolctl"].threadpool_limits  # scikit-learn's dependency
    with threadpool_limits(limits=options.threads):
        mmd = (
            mmd_test(
                baseline,
                current,
                permutations=options.permutations,
                max_samples=options.max_samples,
                seed=options.seed,
            )
            if options.mmd
            else None
        )
        topics = None
        if options.topics:
            model = fit_topics(baseline, k=options.k, seed=options.seed)
            topics = topic_shift(
                model,
                current,
                baseline_texts=baseline_texts,
                current_texts=current_texts,
                examples=options.examples,
                permutations=options.permutations,
                seed=options.seed,
            )
        distance = centroid_distance(baseline, current)
    return dataclasses.replace(head, enough=True, centroid_distance=distance, mmd=mmd, topics=topics)


def compare_windows(
    store: DriftStore,
    windows: Windows,
    options: CompareOptions = _DEFAULT,
    *,
    prompt: str | None = None,
    tag: str | None = None,
) -> Comparison:
    """Load both windows of one scope from ``store`` and `compare` them."""
    base, base_rows = store.load(
        day_ns(windows.baseline_start), day_ns(windows.baseline_end), prompt=prompt, tag=tag
    )
    cur, cur_rows = store.load(
        day_ns(windows.current_start), day_ns(windows.current_end), prompt=prompt, tag=tag
    )
    if len(base) and len(cur) and base.shape[1] != cur.shape[1]:
        cur, cur_rows = cur[:0], []  # the embedding model changed dimension: not comparable
    scope = {"prompt": prompt} if prompt is not None else {"tag": tag} if tag is not None else {}
    return compare(
        base,
        cur,
        options,
        scope=scope,
        window=windows.label,
        baseline_texts=[r.content for r in base_rows],
        current_texts=[r.content for r in cur_rows],
    )
