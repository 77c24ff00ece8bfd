"""Judge calibration: how far each LLM judge agrees with the human reviewers on the same calls.

Per judge (name and fingerprint, so a changed judge prompt or model starts a new series):
Cohen's kappa of pass/fail (`sklearn.metrics.cohen_kappa_score`), Spearman's rank correlation of
scores (`scipy.stats.spearmanr`), each with a bootstrap confidence interval
(`scipy.stats.bootstrap`, percentile method) and n; the confusion matrix; and the calls where judge
and human disagree most. Reviewer-to-reviewer kappa is reported too (calls with two reviewers).
The figures are also recorded as OpenTelemetry gauges per judge fingerprint.

scipy and scikit-learn come with the ``llmguard[drift]`` extra.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmguard.exceptions import ConfigurationError

from ._store import Label, ReviewStore

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = [
    "Agreement",
    "Calibration",
    "JudgeCalibration",
    "Pair",
    "calibrate",
    "calibrate_pairs",
    "record_metrics",
]


@dataclass(frozen=True, slots=True)
class Pair:
    """One judge verdict next to one human label on the same call.

    Attributes:
        call_id: The call.
        reviewer: The human.
        judge_passed: The judge's verdict.
        human_passed: The human's verdict.
        judge_score: The judge's normalized score (0..1).
        human_score: The human's score (on the judge's scale), else 1.0/0.0 from the verdict.
    """

    call_id: str
    reviewer: str
    judge_passed: bool
    human_passed: bool
    judge_score: float | None
    human_score: float


@dataclass(frozen=True, slots=True)
class Agreement:
    """A statistic with its bootstrap confidence interval (``None`` when undefined, e.g. n < 2)."""

    value: float | None
    low: float | None
    high: float | None
    n: int


@dataclass(frozen=True, slots=True)
class JudgeCalibration:
    """One judge's agreement with the reviewers.

    Attributes:
        judge: The judge's name.
        fingerprint: Its configuration fingerprint.
        kappa: Cohen's kappa of pass/fail.
        spearman: Spearman's rho of scores.
        confusion: ``[[both pass, human pass/judge fail], [human fail/judge pass, both fail]]``.
        disagreements: The pairs that disagree most, worst first.
    """

    judge: str
    fingerprint: str | None
    kappa: Agreement
    spearman: Agreement
    confusion: tuple[tuple[int, int], tuple[int, int]]
    disagreements: tuple[Pair, ...] = ()

    @property
    def n(self) -> int:
        """Judge-human pairs compared."""
        return self.kappa.n


@dataclass(frozen=True, slots=True)
class Calibration:
    """Every judge's calibration, and how far reviewers agree with each other."""

    judges: tuple[JudgeCalibration, ...]
    reviewers: Agreement
    labels: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""

        def agreement(a: Agreement) -> dict[str, Any]:
            return {"value": a.value, "ci": [a.low, a.high], "n": a.n}

        return {
            "labels": self.labels,
            "reviewers_kappa": agreement(self.reviewers),
            "judges": [
                {
                    "judge": j.judge, "fingerprint": j.fingerprint, "n": j.n,
                    "kappa": agreement(j.kappa), "spearman": agreement(j.spearman),
                    "confusion": [list(row) for row in j.confusion],
                    "disagreements": [
                        {"call_id": p.call_id, "reviewer": p.reviewer, "judge_passed": p.judge_passed,
                         "human_passed": p.human_passed, "judge_score": p.judge_score, "human_score": p.human_score}
                        for p in j.disagreements
                    ],
                }
                for j in self.judges
            ],
        }  # fmt: skip


def _need() -> tuple[Any, Any, Any]:
    try:
        import numpy
        import scipy.stats  # type: ignore[import-untyped]
        import sklearn.metrics  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - the extra is installed in dev
        raise ConfigurationError(
            f"judge calibration needs scipy and scikit-learn: pip install 'llmguard[drift]' ({exc})"
        ) from None
    return numpy, scipy.stats, sklearn.metrics


def _kappa(a: Sequence[bool], b: Sequence[bool]) -> float:
    _, _, metrics = _need()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(metrics.cohen_kappa_score(list(a), list(b), labels=[True, False]))


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    _, stats, _ = _need()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(a, b).statistic)


def _agreement(
    statistic: Callable[[Any, Any], float],
    a: Sequence[Any],
    b: Sequence[Any],
    confidence: float,
    resamples: int,
    seed: int,
) -> Agreement:
    numpy, stats, _ = _need()
    n = len(a)
    value = statistic(a, b) if n >= 2 else math.nan
    if not math.isfinite(value):
        return Agreement(None, None, None, n)
    if n < 3:
        return Agreement(value, None, None, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (numpy.asarray(a), numpy.asarray(b)), statistic, paired=True, vectorized=False,
            confidence_level=confidence, n_resamples=resamples, method="percentile",
            random_state=numpy.random.default_rng(seed),
        )  # fmt: skip
        tail = (1 - confidence) / 2 * 100
        low, high = numpy.nanpercentile(result.bootstrap_distribution, [tail, 100 - tail])
    finite = math.isfinite(low) and math.isfinite(high)
    return Agreement(value, float(low) if finite else None, float(high) if finite else None, n)


def _gap(pair: Pair) -> tuple[bool, float]:
    judge = pair.judge_score if pair.judge_score is not None else float(pair.judge_passed)
    human = 1.0 if pair.human_passed else 0.0
    return pair.judge_passed != pair.human_passed, abs(judge - human)


def calibrate_pairs(
    judge: str,
    fingerprint: str | None,
    pairs: Sequence[Pair],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    top: int = 5,
    seed: int = 0,
) -> JudgeCalibration:
    """Agreement of one judge with the humans over ``pairs`` (see the module docs)."""
    _, _, metrics = _need()
    human = [p.human_passed for p in pairs]
    verdicts = [p.judge_passed for p in pairs]
    scored = [p for p in pairs if p.judge_score is not None]
    if pairs:
        matrix = metrics.confusion_matrix(human, verdicts, labels=[True, False])
        confusion = ((int(matrix[0][0]), int(matrix[0][1])), (int(matrix[1][0]), int(matrix[1][1])))
    else:
        confusion = ((0, 0), (0, 0))
    worst = sorted((p for p in pairs if _gap(p)[1] > 0), key=_gap, reverse=True)[:top]
    return JudgeCalibration(
        judge=judge,
        fingerprint=fingerprint,
        kappa=_agreement(_kappa, human, verdicts, confidence, resamples, seed),
        spearman=_agreement(
            _spearman,
            [p.human_score for p in scored],
            [p.judge_score for p in scored],
            confidence,
            resamples,
            seed,
        ),
        confusion=confusion,
        disagreements=tuple(worst),
    )


def _pairs(store: ReviewStore, labels: list[Label]) -> dict[tuple[str, str | None], list[Pair]]:
    latest: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    for j in store.judgments(sorted({x.call_id for x in labels})):
        if j["passed"] is not None:
            latest[(j["judge"], j["fingerprint"], j["call_id"])] = j  # ordered by id: the newest wins
    by_call: dict[str, list[Label]] = {}
    for x in labels:
        by_call.setdefault(x.call_id, []).append(x)
    groups: dict[tuple[str, str | None], list[Pair]] = {}
    for (judge, fingerprint, call_id), j in sorted(
        latest.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])
    ):
        for x in by_call.get(call_id, []):
            human = x.score if x.score is not None else float(x.passed)
            pair = Pair(call_id, x.reviewer, bool(j["passed"]), x.passed, j["normalized"], human)
            groups.setdefault((judge, fingerprint), []).append(pair)
    return groups


def _reviewer_pairs(labels: Iterable[Label]) -> tuple[list[bool], list[bool]]:
    by_call: dict[str, list[Label]] = {}
    for x in labels:
        by_call.setdefault(x.call_id, []).append(x)
    a: list[bool] = []
    b: list[bool] = []
    for group in by_call.values():
        for first, second in itertools.combinations(sorted(group, key=lambda x: x.reviewer), 2):
            a.append(first.passed)
            b.append(second.passed)
    return a, b


def calibrate(
    store: ReviewStore,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    top: int = 5,
    seed: int = 0,
    meter_provider: MeterProvider | None = None,
) -> Calibration:
    """Compare every judge with the review labels in ``store``; record the gauges (see `record_metrics`)."""
    labels = store.labels()
    judges = tuple(
        calibrate_pairs(
            judge, fingerprint, pairs, confidence=confidence, resamples=resamples, top=top, seed=seed
        )
        for (judge, fingerprint), pairs in _pairs(store, labels).items()
    )
    a, b = _reviewer_pairs(labels)
    result = Calibration(judges, _agreement(_kappa, a, b, confidence, resamples, seed), len(labels))
    record_metrics(result, meter_provider)
    return result


def record_metrics(result: Calibration, meter_provider: MeterProvider | None = None) -> None:
    """Record ``llmguard.review.judge_agreement`` (per judge, fingerprint and statistic) and ``..._pairs``."""
    from opentelemetry import metrics

    meter = (meter_provider or metrics.get_meter_provider()).get_meter("llmguard.review")
    agreement = meter.create_gauge(
        "llmguard.review.judge_agreement", unit="1", description="Judge-human agreement (kappa, Spearman rho)"
    )
    pairs = meter.create_gauge(
        "llmguard.review.judge_pairs",
        unit="{pair}",
        description="Judge-human label pairs behind the agreement",
    )
    for j in result.judges:
        base = {"llmguard.judge.name": j.judge, "llmguard.judge.fingerprint": j.fingerprint or ""}
        pairs.set(j.n, base)
        for name, value in (("cohen_kappa", j.kappa.value), ("spearman", j.spearman.value)):
            if value is not None:
                agreement.set(value, {**base, "llmguard.review.statistic": name})
