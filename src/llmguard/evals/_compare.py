"""Compare a candidate prompt against a baseline on the same suite: per-case regressions and improvements.

A regression is significant when the paired Student t-interval of the per-case differences of the
primary judge's normalized score lies entirely below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ._results import EvalRun
from ._runner import arun_suite
from ._stats import Interval, t_interval
from ._suite import PromptSpec, Suite, load_suite, parse_prompt_spec

__all__ = ["CaseDelta", "Comparison", "acompare", "compare_runs", "print_comparison"]


@dataclass(frozen=True, slots=True)
class CaseDelta:
    """One case's primary-judge normalized mean in both runs."""

    id: str
    baseline: float | None
    candidate: float | None

    @property
    def delta(self) -> float | None:
        """Candidate minus baseline."""
        return None if self.baseline is None or self.candidate is None else self.candidate - self.baseline


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome of a comparison.

    Attributes:
        candidate: The candidate's run.
        baseline: The baseline's run.
        cases: Per-case scores.
        difference: Mean paired difference with its confidence interval.
        regressions: Cases whose drop exceeds the suite's ``compare.max_case_drop``.
        improvements: Cases that rose by more than that.
        significant_regression: The whole interval of differences is below zero.
        passed: The candidate's gate passed and (when required) no significant regression.
    """

    candidate: EvalRun
    baseline: EvalRun
    cases: tuple[CaseDelta, ...]
    difference: Interval
    regressions: tuple[str, ...]
    improvements: tuple[str, ...]
    significant_regression: bool
    passed: bool

    @property
    def exit_code(self) -> int:
        """0 when the comparison passed, 1 otherwise."""
        return 0 if self.passed else 1


def _norm(run: EvalRun, value: float | None) -> float | None:
    lo, hi = run.judges[run.suite.primary].scale
    return None if value is None or hi == lo else (value - lo) / (hi - lo)


def compare_runs(candidate: EvalRun, baseline: EvalRun) -> Comparison:
    """Pair two runs of the same suite case by case."""
    key, limit = candidate.suite.primary, candidate.suite.compare.max_case_drop
    base = {c.case.id: _norm(baseline, c.mean(key)) for c in baseline.cases}
    rows = tuple(
        CaseDelta(c.case.id, base.get(c.case.id), _norm(candidate, c.mean(key))) for c in candidate.cases
    )
    deltas = [r.delta for r in rows if r.delta is not None]
    difference = t_interval(deltas, candidate.suite.confidence)
    significant = difference.high is not None and difference.high < 0
    regressions = tuple(r.id for r in rows if r.delta is not None and r.delta < -limit)
    improvements = tuple(r.id for r in rows if r.delta is not None and r.delta > limit)
    blocked = significant and candidate.suite.compare.no_regression
    return Comparison(
        candidate,
        baseline,
        rows,
        difference,
        regressions,
        improvements,
        significant,
        candidate.passed and not blocked,
    )


async def acompare(suite: Suite | str | Path, baseline: str | PromptSpec, **options: Any) -> Comparison:
    """Run the suite on its prompt and on ``baseline`` (``name@version``), then compare.

    Args:
        suite: The suite (its prompt is the candidate).
        baseline: The baseline prompt.
        **options: As for :func:`~llmguard.evals.arun_suite` (``cache``, ``fake``...).
    """
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    spec = baseline if isinstance(baseline, PromptSpec) else parse_prompt_spec(baseline)
    candidate = await arun_suite(suite, **options)
    base = await arun_suite(suite, **{**options, "prompt": spec, "write_record": False})
    return compare_runs(candidate, base)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def print_comparison(result: Comparison, console: Console | None = None) -> None:
    """Print the side-by-side table and the verdict."""
    out = console or Console(highlight=False)
    b, c = result.baseline.prompt, result.candidate.prompt
    table = Table(
        "case",
        f"baseline {b['version']}",
        f"candidate {c['version']}",
        "Δ",
        "",
        title=f"{result.candidate.suite.primary} (normalized)",
    )
    for row in sorted(result.cases, key=lambda r: r.delta if r.delta is not None else 0.0):
        mark = (
            "[red]regression[/]"
            if row.id in result.regressions
            else "[green]improvement[/]"
            if row.id in result.improvements
            else ""
        )
        table.add_row(row.id, _fmt(row.baseline), _fmt(row.candidate), _fmt(row.delta), mark)
    out.print(table)
    d = result.difference
    ci = "n/a" if d.low is None else f"[{d.low:+.3f}, {d.high:+.3f}]"
    out.print(
        f"mean difference {d.mean:+.3f}, {d.confidence:.0%} CI {ci}; {len(result.regressions)} regressions, {len(result.improvements)} improvements"
    )
    if result.significant_regression:
        out.print("[red]significant regression[/] against the baseline")
    verdict = "[green]PASSED[/]" if result.passed else "[red]FAILED[/]"
    out.print(f"compare {verdict}" + ("" if result.candidate.passed else " (the candidate fails its gate)"))
