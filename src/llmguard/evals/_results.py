"""The results of a run: samples per case x repeat, summaries per judge, the gate's checks and spend."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmguard.judging import JudgeResult

from ._dataset import EvalCase
from ._stats import Interval, mean, t_interval
from ._suite import JudgeGate, Suite, TagGate

__all__ = [
    "CaseResult",
    "Check",
    "EvalRun",
    "JudgeSummary",
    "Sample",
    "Spend",
    "TagSummary",
    "case_failures",
    "summarize_judge",
]


@dataclass(slots=True)
class Sample:
    """One case in one repeat: the output and each judge's result (or error).

    Attributes:
        repeat: The repeat index (0-based).
        output: The generated text (``None`` when the call failed).
        error: Why the call failed.
        results: Judge key -> result.
        judge_errors: Judge key -> why the judge failed.
        cached: Whether the response came from the replay cache.
    """

    repeat: int
    output: str | None = None
    error: str | None = None
    results: dict[str, JudgeResult] = field(default_factory=dict)
    judge_errors: dict[str, str] = field(default_factory=dict)
    cached: bool = False


@dataclass(slots=True)
class CaseResult:
    """Every repeat of one case."""

    case: EvalCase
    samples: list[Sample] = field(default_factory=list)

    def scores(self, judge: str) -> list[float | None]:
        """The judge's raw score per repeat (``None`` where it has none)."""
        return [s.results[judge].score if judge in s.results else None for s in self.samples]

    def mean(self, judge: str) -> float | None:
        """The case's mean raw score over repeats (``None`` when no repeat was scored)."""
        known = [v for v in self.scores(judge) if v is not None]
        return mean(known) if known else None

    def passes(self, judge: str) -> list[bool]:
        """Whether each repeat passed (errors fail)."""
        return [bool(s.results[judge].passed) if judge in s.results else False for s in self.samples]

    def flaky(self, judge: str) -> bool:
        """Passed in some repeats and failed in others."""
        return len(set(self.passes(judge))) > 1

    def reasons(self, judge: str) -> list[str]:
        """The judge's reasons (or errors), one per repeat."""
        return [
            (s.results[judge].reason or "")
            if judge in s.results
            else f"error: {s.error or s.judge_errors.get(judge)}"
            for s in self.samples
        ]


@dataclass(frozen=True, slots=True)
class Check:
    """One gate condition and its outcome."""

    judge: str
    what: str
    actual: float | None
    threshold: float
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        value = "n/a" if self.actual is None else f"{self.actual:.3f}"
        sign = ">=" if self.ok else "<"
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.judge} {self.what} {value} {sign} {self.threshold:g}{extra}"


@dataclass(frozen=True, slots=True)
class TagSummary:
    """One judge over the cases with one tag."""

    tag: str
    cases: int
    mean: float
    pass_rate: float


@dataclass(frozen=True, slots=True)
class JudgeSummary:
    """One judge over the whole run.

    Attributes:
        judge: The judge's key in the suite.
        scale: Its score range.
        fingerprint: Its configuration's identity (suite-level parameters).
        interval: Mean raw score with its confidence interval over repeats.
        normalized_mean: The mean mapped to 0..1.
        pass_rate: Passed judgments / all (errors fail).
        tags: Per-tag breakdown.
        checks: The gate's checks of this judge.
        flaky: Cases that passed in some repeats and failed in others.
    """

    judge: str
    scale: tuple[float, float]
    fingerprint: str
    interval: Interval
    normalized_mean: float
    pass_rate: float
    tags: tuple[TagSummary, ...]
    checks: tuple[Check, ...]
    flaky: tuple[str, ...]


def _normalize(value: float, scale: tuple[float, float]) -> float:
    lo, hi = scale
    return (value - lo) / (hi - lo) if hi != lo else 0.0


def _pass_rate(cases: Sequence[CaseResult], judge: str) -> float:
    flags = [p for c in cases for p in c.passes(judge)]
    return sum(flags) / len(flags) if flags else 0.0


def _overall(cases: Sequence[CaseResult], judge: str) -> float:
    return mean([v for c in cases for v in c.scores(judge) if v is not None])


def _repeat_means(cases: Sequence[CaseResult], judge: str, repeats: int) -> list[float]:
    out = []
    for r in range(repeats):
        values = [c.scores(judge)[r] for c in cases if len(c.samples) > r]
        known = [v for v in values if v is not None]
        if known:
            out.append(mean(known))
    return out


def _threshold_checks(
    judge: str, gate: TagGate, scope: str, cases: Sequence[CaseResult], bound: float
) -> list[Check]:
    checks = []
    if gate.mean is not None:
        checks.append(
            Check(judge, f"{scope}mean", bound, gate.mean, not math.isnan(bound) and bound >= gate.mean)
        )
    if gate.pass_rate is not None:
        rate = _pass_rate(cases, judge)
        checks.append(Check(judge, f"{scope}pass_rate", rate, gate.pass_rate, rate >= gate.pass_rate))
    return checks


def _floor_check(judge: str, floor: float, cases: Sequence[CaseResult]) -> Check:
    means = {c.case.id: c.mean(judge) for c in cases}
    low = [cid for cid, m in means.items() if m is None or m < floor]
    worst = min((m for m in means.values() if m is not None), default=None)
    return Check(judge, "case_floor", worst, floor, not low, ", ".join(low[:10]))


def summarize_judge(
    suite: Suite, judge: str, cases: Sequence[CaseResult], scale: tuple[float, float], fingerprint: str
) -> JudgeSummary:
    """Summarize one judge and run its gate's checks."""
    interval = t_interval(_repeat_means(cases, judge, suite.repeats), suite.confidence)
    overall = _overall(cases, judge)
    interval = Interval(overall, interval.low, interval.high, interval.n, interval.confidence)
    gate = suite.gate.get(judge)
    checks: list[Check] = []
    tags = sorted({t for c in cases for t in c.case.tags})
    tag_rows = [_tag_summary(tag, [c for c in cases if tag in c.case.tags], judge) for tag in tags]
    if gate is not None:
        checks = _gate_checks(judge, gate, cases, interval)
    return JudgeSummary(
        judge=judge,
        scale=scale,
        fingerprint=fingerprint,
        interval=interval,
        normalized_mean=_normalize(overall, scale),
        pass_rate=_pass_rate(cases, judge),
        tags=tuple(tag_rows),
        checks=tuple(checks),
        flaky=tuple(c.case.id for c in cases if c.flaky(judge)),
    )


def _tag_summary(tag: str, cases: Sequence[CaseResult], judge: str) -> TagSummary:
    return TagSummary(tag, len(cases), _overall(cases, judge), _pass_rate(cases, judge))


def _gate_checks(judge: str, gate: JudgeGate, cases: Sequence[CaseResult], interval: Interval) -> list[Check]:
    bound = interval.low if gate.bound == "lower" and interval.low is not None else interval.mean
    checks = _threshold_checks(judge, gate, "", cases, bound)
    if gate.case_floor is not None:
        checks.append(_floor_check(judge, gate.case_floor, cases))
    for tag, tag_gate in gate.tags.items():
        subset = [c for c in cases if tag in c.case.tags]
        checks += _threshold_checks(judge, tag_gate, f"{tag}: ", subset, _overall(subset, judge))
    return checks


def case_failures(result: CaseResult, suite: Suite) -> list[str]:
    """Why one case fails (empty when it passes): errors, a majority of failed repeats, or a case floor."""
    out = [f"error: {s.error}" for s in result.samples if s.error]
    for judge in suite.gate or suite.judges:
        passes, case_mean = result.passes(judge), result.mean(judge)
        score = "n/a" if case_mean is None else f"{case_mean:.2f}"
        floor = suite.gate[judge].case_floor if judge in suite.gate else None
        if sum(passes) * 2 < len(passes):
            reason = next((r for r in result.reasons(judge) if r), "")
            out.append(
                f"{judge}: score {score} failed in {len(passes) - sum(passes)}/{len(passes)} repeats: {reason}"
            )
        elif floor is not None and (case_mean is None or case_mean < floor):
            out.append(f"{judge}: score {score} below the case floor {floor:g}")
    return out


@dataclass(slots=True)
class Spend:
    """Calls, tokens and cost (USD; ``None`` when a price was unknown) of one kind of call."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0

    def add(self, input_tokens: int | None, output_tokens: int | None, cost: float | None) -> None:
        """Count one call."""
        self.calls += 1
        self.input_tokens += input_tokens or 0
        self.output_tokens += output_tokens or 0
        self.cost = None if cost is None or self.cost is None else self.cost + cost

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost,
        }


@dataclass(slots=True)
class EvalRun:
    """A finished run: everything reports and records need.

    Attributes:
        suite: The suite.
        prompt: ``{"name", "version", "content_hash"}`` of the prompt under test.
        model: The evaluated model.
        run_id: Unique id of the run.
        started_at: ISO timestamp.
        duration_s: Wall time.
        datasets: Dataset path -> content hash.
        cases: Per-case results.
        judges: Judge key -> summary.
        passed: The gate's verdict.
        failures: Failed gate checks, as text.
        app_spend: The app calls' spend.
        judge_spend: The judges' own calls' spend.
        cache_hits: Responses and judgments replayed from the cache.
        record_path: Where the eval record was written, if it was.
    """

    suite: Suite
    prompt: dict[str, str]
    model: str
    run_id: str
    started_at: str
    duration_s: float
    datasets: dict[str, str]
    cases: list[CaseResult]
    judges: dict[str, JudgeSummary]
    passed: bool
    failures: list[str]
    app_spend: Spend
    judge_spend: Spend
    cache_hits: int = 0
    record_path: str | None = None

    @property
    def eval_score(self) -> float:
        """The primary judge's normalized mean (0..1): the recorded ``eval_score``."""
        return self.judges[self.suite.primary].normalized_mean

    @property
    def exit_code(self) -> int:
        """0 when the gate passed, 1 when it failed."""
        return 0 if self.passed else 1

    def failing_cases(self) -> dict[str, list[str]]:
        """Case id -> why it fails, for the failing cases only."""
        out = {c.case.id: case_failures(c, self.suite) for c in self.cases}
        return {k: v for k, v in out.items() if v}

    def worst(self, n: int = 5) -> list[CaseResult]:
        """The ``n`` cases with the lowest primary-judge mean."""
        key = self.suite.primary
        return sorted(self.cases, key=lambda c: (c.mean(key) is not None, c.mean(key) or 0.0))[:n]


def checks_of(judges: Mapping[str, JudgeSummary]) -> list[Check]:
    """Every gate check of every judge."""
    return [check for s in judges.values() for check in s.checks]
