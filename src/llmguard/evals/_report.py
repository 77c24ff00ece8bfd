"""Reports of a run: a terminal summary, JSON, JUnit XML (one test case per dataset case) and Markdown."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._records import record_json
from ._results import EvalRun, JudgeSummary, Spend

__all__ = ["print_summary", "to_json", "to_junit", "to_markdown"]


def _ci(summary: JudgeSummary) -> str:
    i = summary.interval
    return "n/a (1 repeat)" if i.low is None or i.high is None else f"[{i.low:.2f}, {i.high:.2f}]"


def _spend(spend: Spend) -> str:
    cost = "unknown" if spend.cost is None else f"${spend.cost:.4f}"
    return f"{spend.calls} calls, {spend.input_tokens}+{spend.output_tokens} tokens, {cost}"


def _gate(summary: JudgeSummary) -> str:
    if not summary.checks:
        return "-"
    return "; ".join(("✓ " if c.ok else "✗ ") + f"{c.what} ≥ {c.threshold:g}" for c in summary.checks)


def _safe(text: str) -> str:
    return escape(text)


def _judge_table(run: EvalRun) -> Table:
    table = Table(
        "judge", "mean", f"{run.suite.confidence:.0%} CI", "norm.", "pass rate", "gate", title="scores"
    )
    for key, s in run.judges.items():
        primary = " (primary)" if key == run.suite.primary else ""
        table.add_row(
            key + primary,
            f"{s.interval.mean:.2f}",
            _ci(s),
            f"{s.normalized_mean:.2f}",
            f"{s.pass_rate:.0%}",
            _safe(_gate(s)),
        )
    return table


def _tag_table(run: EvalRun) -> Table | None:
    key = run.suite.primary
    rows = [(key, t) for t in run.judges[key].tags]
    if not rows:
        return None
    table = Table("tag", "judge", "cases", "mean", "pass rate", title="per tag")
    for key, t in rows:
        table.add_row(t.tag, key, str(t.cases), f"{t.mean:.2f}", f"{t.pass_rate:.0%}")
    return table


def print_summary(run: EvalRun, console: Console | None = None, *, worst: int = 5) -> None:
    """Print the summary: scores per judge with CI, per-tag breakdown, worst cases, spend and verdict."""
    out = console or Console(highlight=False)
    p = run.prompt
    out.print(
        f"[bold]{run.suite.name}[/]: {p['name']}@{p['version']} on {run.model}, {len(run.cases)} cases x "
        f"{run.suite.repeats} repeats in {run.duration_s:.2f}s (run {run.run_id})",
        soft_wrap=True,
    )
    out.print(_judge_table(run))
    tags = _tag_table(run)
    if tags is not None:
        out.print(tags)
    _print_worst(run, out, worst)
    out.print(
        f"app spend: {_spend(run.app_spend)}; judge spend: {_spend(run.judge_spend)}; cache hits: {run.cache_hits}"
    )
    flaky = sorted({c for s in run.judges.values() for c in s.flaky})
    if flaky:
        out.print(
            f"[yellow]flaky cases[/] (pass and fail across repeats): {', '.join(flaky)}", soft_wrap=True
        )
    for failure in run.failures:
        out.print(f"[red]✗[/] {_safe(failure)}", soft_wrap=True)
    verdict = "[green]PASSED[/]" if run.passed else "[red]FAILED[/]"
    out.print(
        f"gate {verdict}: eval_score {run.eval_score:.3f}"
        + (f"; record {run.record_path}" if run.record_path else ""),
        soft_wrap=True,
    )


def _print_worst(run: EvalRun, out: Console, n: int) -> None:
    key = run.suite.primary
    table = Table("case", key, "reason", title=f"worst {n} cases")
    for case in run.worst(n):
        m = case.mean(key)
        reasons = [r for r in case.reasons(key) if r]
        table.add_row(
            _safe(case.case.id), "n/a" if m is None else f"{m:.2f}", _safe(reasons[0]) if reasons else ""
        )
    out.print(table)


def to_json(run: EvalRun) -> dict[str, Any]:
    """The record plus per-case results, as JSON data."""
    data = record_json(run)
    data["duration_s"] = run.duration_s
    data["record_path"] = run.record_path
    data["case_results"] = [
        {
            "id": c.case.id,
            "tags": list(c.case.tags),
            "failures": run.failing_cases().get(c.case.id, []),
            "samples": [
                {
                    "repeat": s.repeat,
                    "output": s.output,
                    "error": s.error,
                    "cached": s.cached,
                    "scores": {
                        k: {"score": r.score, "passed": r.passed, "reason": r.reason}
                        for k, r in s.results.items()
                    },
                    "judge_errors": s.judge_errors,
                }
                for s in c.samples
            ],
        }
        for c in run.cases
    ]
    return data


def to_junit(run: EvalRun) -> str:
    """JUnit XML: one ``testcase`` per dataset case; a failure names the judge and the score."""
    failing = run.failing_cases()
    suite = ET.Element(
        "testsuite",
        name=run.suite.name,
        tests=str(len(run.cases)),
        failures=str(len(failing)),
        errors="0",
        time=f"{run.duration_s:.3f}",
    )
    for case in run.cases:
        element = ET.SubElement(
            suite, "testcase", classname=f"llmguard.eval.{run.suite.name}", name=case.case.id
        )
        scores = ", ".join(f"{k}={m:.2f}" for k in run.judges if (m := case.mean(k)) is not None)
        ET.SubElement(element, "system-out").text = f"{case.case.source}: {scores}"
        if case.case.id in failing:
            reasons = failing[case.case.id]
            failure = ET.SubElement(element, "failure", message=reasons[0][:500], type="EvalGateFailure")
            failure.text = "\n".join(reasons)
    root = ET.Element(
        "testsuites", name="llmguard eval", tests=str(len(run.cases)), failures=str(len(failing))
    )
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(run: EvalRun, *, worst: int = 5) -> str:
    """A Markdown summary for a pull-request comment."""
    p = run.prompt
    icon = "✅" if run.passed else "❌"
    lines = [
        f"### {icon} Eval `{run.suite.name}`: {'passed' if run.passed else 'failed'}",
        "",
        f"`{p['name']}@{p['version']}` on `{run.model}`: {len(run.cases)} cases x {run.suite.repeats} repeats, "
        f"eval_score **{run.eval_score:.3f}** (run `{run.run_id}`)",
        "",
        f"| judge | mean | {run.suite.confidence:.0%} CI | pass rate | gate |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {s.interval.mean:.2f} | {_ci(s)} | {s.pass_rate:.0%} | {_md(_gate(s))} |"
        for k, s in run.judges.items()
    ]
    if run.failures:
        lines += ["", "**Gate failures**", ""] + [f"- {_md(f)}" for f in run.failures]
    failing = run.failing_cases()
    if failing:
        lines += ["", "<details><summary>Failing cases</summary>", "", "| case | why |", "|---|---|"]
        lines += [f"| `{cid}` | {_md('; '.join(why))} |" for cid, why in failing.items()]
        lines += ["", "</details>"]
    lines += ["", f"App spend: {_spend(run.app_spend)}. Judge spend: {_spend(run.judge_spend)}.", ""]
    return "\n".join(lines)


def dumps(run: EvalRun) -> str:
    """:func:`to_json` as text."""
    return json.dumps(to_json(run), indent=2, ensure_ascii=False)
