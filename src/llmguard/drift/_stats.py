"""Two-sample statistics over embedding matrices: centroid distance, MMD and topic shift.

Every statistic comes from numpy, scipy and scikit-learn (the ``llmguard[drift]`` extra); this
module only assembles them. Rows are L2-normalised first, so the geometry is the cosine one the
embedding models are trained for.

- **Centroid cosine distance**: ``1 - cos(mean(A), mean(B))`` (Arize compares centroids too).
- **MMD**: the unbiased squared maximum mean discrepancy with an RBF kernel
  (`sklearn.metrics.pairwise.rbf_kernel`), bandwidth by the median heuristic
  (``gamma = 1 / median squared distance`` of the pooled sample, `scipy.spatial.distance.pdist`),
  and a permutation p-value ``(1 + #{perm >= observed}) / (1 + permutations)``. Each window is
  subsampled to ``max_samples`` rows first (uniformly, seeded), so the cost is bounded:
  ``O((2 * max_samples)^2 * dim)`` for the kernel plus ``O((2 * max_samples)^2 * permutations)``
  for the permutations (one matrix product for all of them).
- **Topic shift**: `sklearn.cluster.KMeans` fitted on the baseline, ``k`` chosen by the
  silhouette rule (see `choose_k`), the current window assigned with ``predict``, and
  `scipy.stats.chi2_contingency` on the 2 x (k + 1) table of counts. The extra column is the
  *new topic* cluster (index ``k``): rows farther from their nearest centre than the baseline's
  `NOVEL_QUANTILE` quantile of that distance (about 1% of the baseline by construction), so a
  topic the baseline never saw shows up as a cluster that grew instead of being spread over the
  old ones. The p-value is a resampling one (``method=MonteCarloMethod``: random tables with the
  observed margins, i.e. the permutation distribution; scipy >= 1.15, the asymptotic chi-square
  on older scipy), since the new-topic column has small expected counts where the asymptotic
  approximation is too liberal. The effect size is the total variation
  distance between the two cluster mixes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._deps import require_drift_extra

__all__ = [
    "K_RANGE",
    "ClusterShift",
    "MMDResult",
    "TopicModel",
    "TopicShift",
    "centroid_distance",
    "choose_k",
    "fit_topics",
    "mmd_test",
    "normalize",
    "topic_shift",
]

K_RANGE = (2, 8)
"""The numbers of clusters the silhouette rule tries (inclusive)."""

NOVEL_QUANTILE = 0.99
"""Rows farther from their centre than this quantile of the baseline's distances count as a new topic."""

SILHOUETTE_SAMPLE = 1000
"""Baseline rows the k choice looks at (a seeded uniform subsample)."""


def normalize(matrix: Any) -> Any:
    """Rows scaled to unit L2 norm (all-zero rows are left as they are), as float64."""
    np = require_drift_extra()["numpy"]
    x = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def centroid_distance(a: Any, b: Any) -> float:
    """Cosine distance (0..2) between the centroids of the normalised rows of ``a`` and ``b``."""
    np = require_drift_extra()["numpy"]
    ca, cb = normalize(a).mean(axis=0), normalize(b).mean(axis=0)
    denominator = float(np.linalg.norm(ca) * np.linalg.norm(cb))
    return 0.0 if denominator == 0 else float(1.0 - np.dot(ca, cb) / denominator)


@dataclass(frozen=True, slots=True)
class MMDResult:
    """An MMD two-sample test.

    Attributes:
        mmd2: The unbiased squared MMD (may be slightly negative under no drift).
        p_value: The permutation p-value.
        gamma: The RBF kernel's ``gamma`` (median heuristic).
        permutations: Permutations drawn.
        n_baseline: Baseline rows used (after subsampling).
        n_current: Current rows used.
    """

    mmd2: float
    p_value: float
    gamma: float
    permutations: int
    n_baseline: int
    n_current: int


def _subsample(x: Any, limit: int, rng: Any) -> Any:
    return x if len(x) <= limit else x[rng.choice(len(x), size=limit, replace=False)]


def mmd_test(a: Any, b: Any, *, permutations: int = 200, max_samples: int = 500, seed: int = 0) -> MMDResult:
    """The MMD permutation test of ``a`` against ``b`` (rows are samples; see the module docs)."""
    mods = require_drift_extra()
    np, pdist = mods["numpy"], mods["scipy.spatial.distance"].pdist
    rbf_kernel = mods["sklearn.metrics"].pairwise.rbf_kernel
    rng = np.random.default_rng(seed)
    x = _subsample(normalize(a), max_samples, rng)
    y = _subsample(normalize(b), max_samples, rng)
    m, n = len(x), len(y)
    pooled = np.vstack([x, y])
    median = float(np.median(pdist(pooled, "sqeuclidean")))
    gamma = 1.0 / median if median > 0 else 1.0
    kernel = rbf_kernel(pooled, gamma=gamma)
    labels = np.zeros((m + n, permutations + 1))
    labels[:m, 0] = 1.0
    for column in range(1, permutations + 1):
        labels[rng.permutation(m + n)[:m], column] = 1.0
    stats = _mmd2_columns(np, kernel, labels, m, n)
    observed = float(stats[0])
    p_value = float((1 + np.count_nonzero(stats[1:] >= observed)) / (1 + permutations))
    return MMDResult(observed, p_value, gamma, permutations, m, n)


def _mmd2_columns(np: Any, kernel: Any, labels: Any, m: int, n: int) -> Any:
    """Unbiased MMD^2 for each labelling column (1 = first sample), from one kernel product."""
    other = 1.0 - labels
    k_labels = kernel @ labels
    total = kernel.sum(axis=1) @ labels  # sum over i in X of sum over all j: K[i, j]
    xx = np.einsum("ij,ij->j", labels, k_labels)
    xy = total - xx
    yy = kernel.sum() - xx - 2.0 * xy
    diag = np.diag(kernel)
    xx_diag, yy_diag = diag @ labels, diag @ other
    return (xx - xx_diag) / (m * (m - 1)) + (yy - yy_diag) / (n * (n - 1)) - 2.0 * xy / (m * n)


@dataclass(frozen=True, slots=True)
class TopicModel:
    """Clusters fitted on a baseline window.

    Attributes:
        model: The fitted `sklearn.cluster.KMeans`.
        k: Its number of clusters.
        silhouette: The silhouette score that chose ``k`` (None when k was forced).
        baseline_labels: The cluster of each reference row (the held-out half of the baseline).
        baseline_distance: Each reference row's distance to its nearest centre.
        novel_distance: Beyond this distance a row belongs to the *new topic* cluster (index ``k``).
        reference_index: The baseline rows of the reference half.
    """

    model: Any
    k: int
    silhouette: float | None
    baseline_labels: Any
    baseline_distance: Any
    novel_distance: float
    reference_index: Any


def choose_k(x: Any, *, seed: int = 0) -> tuple[int, float | None]:
    """The k in `K_RANGE` with the best silhouette score on a subsample of ``x`` (the documented rule).

    Each candidate is one seeded k-means run (``n_init=1``) on at most `SILHOUETTE_SAMPLE` rows;
    the final model is then fitted on the whole baseline with ``n_init=3``.

    With fewer than ``2 * K_RANGE[0] + 1`` rows, k is 2 (too few points to compare partitions).
    """
    mods = require_drift_extra()
    np, kmeans, silhouette = mods["numpy"], mods["sklearn.cluster"].KMeans, mods["sklearn.metrics"]
    sample = _subsample(x, SILHOUETTE_SAMPLE, np.random.default_rng(seed))
    low, high = K_RANGE
    high = min(high, len(sample) - 1)
    if high < low or len(sample) < 2 * low + 1:
        return low, None
    best: tuple[int, float | None] = (low, None)
    for k in range(low, high + 1):
        labels = kmeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(sample)
        if len(set(labels.tolist())) < 2:
            continue
        score = float(silhouette.silhouette_score(sample, labels))
        if best[1] is None or score > best[1]:
            best = (k, score)
    return best


def fit_topics(baseline: Any, *, k: int | None = None, seed: int = 0) -> TopicModel:
    """KMeans on half the normalised baseline with ``k`` clusters (default: `choose_k`).

    The baseline is split in two seeded halves: k-means is fitted on one, and the reference mix
    (and the new-topic distance cutoff) comes from the other, so the reference and the current
    window are both assigned out of sample. In-sample labels would favour the baseline: centres
    fitted to a window sit closer to its own rows than to fresh ones from the same distribution.
    """
    mods = require_drift_extra()
    np, kmeans = mods["numpy"], mods["sklearn.cluster"].KMeans
    x = normalize(baseline)
    order = np.random.default_rng(seed).permutation(len(x))
    fit_rows, reference = order[: len(x) // 2], np.sort(order[len(x) // 2 :])
    score: float | None = None
    if k is None:
        k, score = choose_k(x[fit_rows], seed=seed)
    k = max(1, min(k, len(fit_rows)))
    model = kmeans(n_clusters=k, n_init=3, random_state=seed).fit(x[fit_rows])
    nearest = model.predict(x[reference])
    distance = model.transform(x[reference])[range(len(reference)), nearest]
    cutoff = float(np.quantile(distance, NOVEL_QUANTILE))
    labels = np.where(distance > cutoff, k, nearest)
    return TopicModel(model, k, score, labels, distance, cutoff, reference)


@dataclass(frozen=True, slots=True)
class ClusterShift:
    """One cluster's share of the baseline and of the current window.

    Attributes:
        cluster: The cluster index (``k``: the *new topic* cluster, inputs far from every centre).
        baseline_share: Fraction of baseline rows in it.
        current_share: Fraction of current rows in it.
        examples: Representative inputs (closest to the centroid), only where content is retained.
    """

    cluster: int
    baseline_share: float
    current_share: float
    examples: tuple[str, ...] = ()

    @property
    def change(self) -> float:
        """``current_share - baseline_share`` (positive: grew)."""
        return self.current_share - self.baseline_share


@dataclass(frozen=True, slots=True)
class TopicShift:
    """A chi-square test of the cluster mix of the current window against the baseline's.

    Attributes:
        k: Clusters fitted on the baseline (``clusters`` also holds the new-topic one, index ``k``).
        chi2: The chi-square statistic.
        p_value: Its p-value (1.0 when the table is degenerate).
        tvd: Total variation distance between the two mixes (0..1), the effect size.
        clusters: Every cluster, largest absolute change first.
        silhouette: The silhouette score that chose k.
    """

    k: int
    chi2: float
    p_value: float
    tvd: float
    clusters: tuple[ClusterShift, ...]
    silhouette: float | None = None

    def grew(self, n: int = 3) -> list[ClusterShift]:
        """The ``n`` clusters whose share grew most."""
        return sorted((c for c in self.clusters if c.change > 0), key=lambda c: -c.change)[:n]

    def shrank(self, n: int = 3) -> list[ClusterShift]:
        """The ``n`` clusters whose share shrank most."""
        return sorted((c for c in self.clusters if c.change < 0), key=lambda c: c.change)[:n]


def topic_shift(
    topics: TopicModel,
    current: Any,
    *,
    baseline_texts: Sequence[str | None] = (),
    current_texts: Sequence[str | None] = (),
    examples: int = 3,
    permutations: int = 200,
    seed: int = 0,
) -> TopicShift:
    """Assign ``current`` to the baseline clusters and test the mix (see the module docs).

    ``current_texts`` and ``baseline_texts`` (aligned with the rows; None where not retained)
    supply the representative inputs: per cluster, the ``examples`` retained inputs closest to its
    centre, from the current window first (what a grown cluster is about now), then the baseline.
    """
    np = require_drift_extra()["numpy"]
    k = topics.k + 1  # the last cluster is the new topic
    base_counts = np.bincount(topics.baseline_labels, minlength=k)
    x_current = normalize(current)
    nearest = topics.model.predict(x_current)
    current_distance = topics.model.transform(x_current)[range(len(x_current)), nearest]
    current_labels = np.where(current_distance > topics.novel_distance, topics.k, nearest)
    cur_counts = np.bincount(current_labels, minlength=k)
    table = np.vstack([base_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    chi2, p_value = 0.0, 1.0
    if table.shape[1] >= 2 and table.sum(axis=1).all():
        chi2, p_value = _chi2(table, permutations, seed)
    p_base, p_cur = base_counts / max(base_counts.sum(), 1), cur_counts / max(cur_counts.sum(), 1)
    tvd = float(0.5 * np.abs(p_base - p_cur).sum())
    reference_texts = [baseline_texts[i] for i in topics.reference_index.tolist()] if baseline_texts else []
    texts = _representatives(
        np,
        k,
        [
            (current_labels, current_distance, current_texts),
            (topics.baseline_labels, topics.baseline_distance, reference_texts),
        ],
        examples,
    )
    clusters = tuple(
        sorted(
            (ClusterShift(i, float(p_base[i]), float(p_cur[i]), texts.get(i, ())) for i in range(k)),
            key=lambda c: -abs(c.change),
        )
    )
    return TopicShift(topics.k, chi2, p_value, tvd, clusters, topics.silhouette)


def _chi2(table: Any, permutations: int, seed: int) -> tuple[float, float]:
    """The chi-square statistic of a 2 x c table and its Monte Carlo p-value (asymptotic on old scipy)."""
    mods = require_drift_extra()
    stats, np = mods["scipy.stats"], mods["numpy"]
    try:
        method = stats.MonteCarloMethod(n_resamples=permutations, rng=np.random.default_rng(seed))
        result = stats.chi2_contingency(table, correction=False, method=method)
    except TypeError:  # scipy < 1.15: no resampling method
        result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def _representatives(
    np: Any, k: int, pools: Sequence[tuple[Any, Any, Sequence[str | None]]], n: int
) -> dict[int, tuple[str, ...]]:
    out: dict[int, tuple[str, ...]] = {}
    if n <= 0:
        return out
    for cluster in range(k):
        chosen: list[str] = []
        for labels, distance, texts in pools:
            if not texts:
                continue
            members = np.flatnonzero(labels == cluster)
            for i in members[np.argsort(distance[members], kind="stable")].tolist():
                text = texts[i]
                if text is not None and len(chosen) < n and text not in chosen:
                    chosen.append(text)
        if chosen:
            out[cluster] = tuple(chosen)
    return out
