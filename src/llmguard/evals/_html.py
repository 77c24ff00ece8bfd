"""A self-contained HTML report: verdict, judge table, an inline SVG score histogram, per-case details."""

from __future__ import annotations

from html import escape

from ._report import _ci
from ._results import CaseResult, EvalRun

__all__ = ["histogram_svg", "to_html"]

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2330}
h1{font-size:1.4rem}.ok{color:#137333}.bad{color:#b3261e}table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border-bottom:1px solid #e3e6eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f7fa}td.num{text-align:right;white-space:nowrap}pre{white-space:pre-wrap;margin:0;font:12px/1.4 ui-monospace,monospace}
tr.fail{background:#fdf1f0}details summary{cursor:pointer}.muted{color:#667}
"""


def histogram_svg(values: list[float], *, bins: int = 10, width: int = 520, height: int = 180) -> str:
    """An inline SVG histogram of normalized scores (0..1)."""
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    top, bar_w, base = max(counts) or 1, (width - 40) / bins, height - 24
    bars = []
    for i, n in enumerate(counts):
        h = (base - 10) * n / top
        x = 30 + i * bar_w
        colour = "#b3261e" if i < bins // 2 else "#137333"
        bars.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{i / bins:.1f}-{(i + 1) / bins:.1f}: {n}</title></rect>"
            f'<text x="{x + bar_w / 2 - 2:.1f}" y="{base - h - 3:.1f}" font-size="10" text-anchor="middle">{n or ""}</text>'
        )
    axis = "".join(
        f'<text x="{30 + i * bar_w:.1f}" y="{height - 8}" font-size="10">{i / bins:.1f}</text>'
        for i in range(0, bins + 1, 2)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="score distribution">{"".join(bars)}<line x1="28" y1="{base}" x2="{width - 8}" y2="{base}" '
        f'stroke="#999"/>{axis}</svg>'
    )


def _case_row(run: EvalRun, case: CaseResult, failing: dict[str, list[str]]) -> str:
    cells = []
    for key in run.judges:
        m = case.mean(key)
        reasons = "<br>".join(escape(r) for r in case.reasons(key) if r)
        cells.append(f'<td class="num">{"n/a" if m is None else f"{m:.2f}"}</td><td>{reasons}</td>')
    outputs = "<hr>".join(escape(s.output or f"error: {s.error}") for s in case.samples)
    why = "<br>".join(escape(w) for w in failing.get(case.case.id, []))
    css = ' class="fail"' if case.case.id in failing else ""
    return (
        f"<tr{css}><td><b>{escape(case.case.id)}</b><br><span class=muted>{escape(', '.join(case.case.tags))}</span>"
        f"<br><span class=bad>{why}</span></td><td><pre>{escape(case.case.input or str(dict(case.case.variables)))}</pre></td>"
        f"<td><pre>{outputs}</pre></td><td><pre>{escape(case.case.expected_output or '')}</pre></td>{''.join(cells)}</tr>"
    )


def to_html(run: EvalRun) -> str:
    """The whole report as one HTML page (no external assets)."""
    p, primary = run.prompt, run.suite.primary
    values = [
        run.judges[primary].scale and _norm(m, run.judges[primary].scale)
        for c in run.cases
        if (m := c.mean(primary)) is not None
    ]
    verdict = '<span class="ok">PASSED</span>' if run.passed else '<span class="bad">FAILED</span>'
    judge_rows = "".join(
        f"<tr><td>{escape(k)}</td><td class=num>{s.interval.mean:.2f}</td><td class=num>{_ci(s)}</td>"
        f"<td class=num>{s.pass_rate:.0%}</td><td>{escape('; '.join(str(c) for c in s.checks)) or '-'}</td></tr>"
        for k, s in run.judges.items()
    )
    failing = run.failing_cases()
    heads = "".join(f"<th>{escape(k)}</th><th>{escape(k)} reasons</th>" for k in run.judges)
    rows = "".join(
        _case_row(run, c, failing) for c in sorted(run.cases, key=lambda c: c.mean(primary) or 0.0)
    )
    failures = "".join(f"<li>{escape(f)}</li>" for f in run.failures)
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>eval {escape(run.suite.name)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>Eval {escape(run.suite.name)}: {verdict}</h1>"
        f"<p>{escape(p['name'])}@{escape(p['version'])} on <code>{escape(run.model)}</code> · {len(run.cases)} cases x "
        f"{run.suite.repeats} repeats · eval_score <b>{run.eval_score:.3f}</b> · run <code>{escape(run.run_id)}</code></p>"
        f"<ul class=bad>{failures}</ul><table><tr><th>judge</th><th>mean</th><th>CI</th><th>pass rate</th><th>gate</th></tr>"
        f"{judge_rows}</table><h2>Score distribution ({escape(primary)}, normalized per case)</h2>{histogram_svg(values)}"
        f"<h2>Cases</h2><table><tr><th>case</th><th>input</th><th>output</th><th>reference</th>{heads}</tr>{rows}</table>"
        "</body></html>\n"
    )


def _norm(value: float, scale: tuple[float, float]) -> float:
    lo, hi = scale
    return (value - lo) / (hi - lo) if hi != lo else 0.0
