"""``llmguard eval``: run a suite over its golden dataset and gate on it; compare against a baseline.

Exit codes: 0 the gate passed; 1 the gate failed (or a significant regression in ``compare``);
2 configuration or data error (bad suite or dataset, unknown prompt, refused model alias).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from llmguard.exceptions import LLMGuardError

from ._shared import typed_errors

__all__ = ["eval_app"]

eval_app = typer.Typer(
    help="Eval suites over golden datasets (exit 0 gate passed, 1 gate failed, 2 configuration or data error).",
    no_args_is_help=True,
)

SuiteArg = Annotated[Path, typer.Argument(help="The suite file (YAML).")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Ignore and do not write the replay cache.")]
Model = Annotated[str | None, typer.Option("--model", help="Evaluate another model (a model bump).")]
Repeats = Annotated[int | None, typer.Option("--repeats", help="Override the suite's repeats.")]
Concurrency = Annotated[int | None, typer.Option("--concurrency", help="Override the suite's concurrency.")]
FakeQuality = Annotated[
    float | None,
    typer.Option(
        "--fake-quality", help="provider: fake only (demos, tests): share of reference words answered."
    ),
]

_out = Console(highlight=False)


_errors = typed_errors
"""``with _errors():`` a `LLMGuardError` prints ``error: ...`` and exits 2 (`typed_errors`)."""


def _json(ctx: typer.Context) -> bool:
    return bool((ctx.obj or {}).get("json"))


def _write(path: Path | None, text: str) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _overrides(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@eval_app.command("run")
def run_(
    ctx: typer.Context,
    suite: SuiteArg,
    no_cache: NoCache = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML (one test per case).")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write a Markdown summary (PR comment).")
    ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report.")] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json-file", help="Write the JSON report to a file.")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Evaluate name@version instead of the suite's.")
    ] = None,
    model: Model = None,
    repeats: Repeats = None,
    concurrency: Concurrency = None,
    fake_quality: FakeQuality = None,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Write the eval record.")] = True,
    traffic: Annotated[
        str | None,
        typer.Option(
            "--traffic", help="Run over recent real inputs (retained content) instead: 24h, 7d, 2w."
        ),
    ] = None,
    sample: Annotated[int, typer.Option("--sample", help="With --traffic: inputs sampled at most.")] = 200,
    max_drop: Annotated[
        float | None,
        typer.Option(
            "--max-drop",
            help="With --traffic: also fail when eval_score falls more than this below the last record.",
        ),
    ] = None,
) -> None:
    """Run SUITE: every case x repeat, judged; print the summary; exit 1 when the gate fails.

    With ``--traffic 7d --sample 200`` the current production prompt (``NAME@production`` when the
    label exists, else the suite's prompt; ``--prompt`` overrides) and the suite's judges run over a
    deterministic sample of the last 7 days' retained inputs (no record written); the report compares
    its eval_score with the last eval record, and the gate (and ``--max-drop``) decides the exit code.
    """
    from llmguard import evals

    with _errors(), tempfile.TemporaryDirectory(prefix="llmguard-traffic-") as tmp:
        options = _overrides(
            model=model, repeats=repeats, concurrency=concurrency, fake_quality=fake_quality, prompt=prompt
        )
        if traffic is not None:
            options["datasets"] = [str(_traffic_dataset(traffic, sample, Path(tmp)))]
            options.setdefault("prompt", _production_prompt(evals.load_suite(suite, **options)))
            record = False
        loaded = evals.load_suite(suite, **options)
        result = evals.run_suite(loaded, cache=not no_cache, write_record=record, progress=not _json(ctx))
    _write(junit, evals.to_junit(result))
    _write(markdown, evals.to_markdown(result))
    _write(html, evals.to_html(result))
    _write(json_file, json.dumps(evals.to_json(result), indent=2, ensure_ascii=False))
    report = evals.to_json(result)
    exit_code = result.exit_code
    if traffic is not None:
        report["traffic"] = _against_last(loaded, result, traffic)
        drop = report["traffic"]["drop"]
        if max_drop is not None and drop is not None and drop > max_drop:
            exit_code = max(exit_code, 1)
    if _json(ctx):
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        evals.print_summary(result, _out)
        if traffic is not None:
            _print_traffic(report["traffic"])
    raise typer.Exit(exit_code)


def _traffic_dataset(window: str, sample: int, folder: Path) -> Path:
    from llmguard._guard import Guard
    from llmguard.review import ReviewStore
    from llmguard.review._traffic import parse_window, traffic_cases, write_traffic_dataset

    seconds = parse_window(window)
    guard = Guard()
    cases = traffic_cases(ReviewStore(guard.db), seconds, sample, redact=_guard_redact(guard))
    return write_traffic_dataset(cases, folder)


def _production_prompt(suite: Any) -> str | None:
    """``NAME@production`` when the suite's prompt has a production label, else None (the suite's own)."""
    from llmguard.evals._runner import resolve_prompt
    from llmguard.evals._suite import PromptSpec

    spec = PromptSpec(name=suite.prompt.name, label="production")
    try:
        resolve_prompt(suite, spec)
    except LLMGuardError:
        return None
    return str(spec)


def _against_last(suite: Any, result: Any, window: str) -> dict[str, Any]:
    from llmguard.evals._records import latest_record

    last = latest_record(suite.records_dir, result.prompt["name"])
    score = result.eval_score
    previous = last.get("eval_score") if last else None
    return {
        "prompt": f"{result.prompt['name']}@{result.prompt['version']}",
        "window": window,
        "inputs": len(result.cases),
        "eval_score": score,
        "last_record": {
            "run_id": last.get("run_id"),
            "started_at": last.get("started_at"),
            "eval_score": previous,
        }
        if last
        else None,
        "drop": previous - score if isinstance(previous, int | float) else None,
    }


def _print_traffic(data: dict[str, Any]) -> None:
    last = data["last_record"]
    against = (
        f"last eval record {last['run_id']} ({last['started_at']}): {last['eval_score']:.3f}, drop {data['drop']:+.3f}"
        if last and last["eval_score"] is not None
        else "no earlier eval record to compare with"
    )
    _out.print(
        f"traffic {data['window']}: {data['inputs']} input(s), eval_score {data['eval_score']:.3f}; {against}",
        soft_wrap=True,
    )


@eval_app.command()
def compare(
    ctx: typer.Context,
    suite: SuiteArg,
    baseline: Annotated[str, typer.Option("--baseline", help="The baseline prompt, name@version.")],
    no_cache: NoCache = False,
    model: Model = None,
    repeats: Repeats = None,
    fake_quality: FakeQuality = None,
) -> None:
    """Run SUITE on its prompt and on --baseline; show per-case regressions and improvements side by side."""
    from llmguard import evals

    with _errors():
        loaded = evals.load_suite(
            suite, **_overrides(model=model, repeats=repeats, fake_quality=fake_quality)
        )
        result = asyncio.run(evals.acompare(loaded, baseline, cache=not no_cache))
    if _json(ctx):
        rows = [
            {"id": r.id, "baseline": r.baseline, "candidate": r.candidate, "delta": r.delta}
            for r in result.cases
        ]
        data = {
            "passed": result.passed,
            "significant_regression": result.significant_regression,
            "mean_difference": result.difference.mean,
            "ci": [result.difference.low, result.difference.high],
            "regressions": list(result.regressions),
            "improvements": list(result.improvements),
            "cases": rows,
        }
        typer.echo(json.dumps(data, indent=2))
    else:
        evals.print_comparison(result, _out)
    raise typer.Exit(result.exit_code)


@eval_app.command()
def records(
    ctx: typer.Context,
    name: str,
    records_dir: Annotated[Path, typer.Option("--records-dir", help="The records folder.")] = Path(
        "evals/records"
    ),
) -> None:
    """List the eval records of a prompt, oldest first."""
    from llmguard import evals

    found = evals.find_records(records_dir, name)
    if _json(ctx):
        typer.echo(json.dumps(found, indent=2))
        return
    for r in found:
        prompt = r.get("prompt") or {}
        _out.print(
            f"{r.get('started_at')}  {prompt.get('version')}  {r.get('model')}  {r.get('verdict')}  "
            f"eval_score {r.get('eval_score'):.3f}  run {r.get('run_id')}",
            soft_wrap=True,
        )


def _hook(spec: str | None) -> Any:
    if spec is None:
        return None
    import importlib

    module, _, name = spec.partition(":")
    try:
        hook = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise typer.BadParameter(
            f"--redact {spec!r}: cannot import it ({exc}); use module:function"
        ) from None
    if not callable(hook):
        raise typer.BadParameter(f"--redact {spec!r} is not callable")
    return hook


@eval_app.command()
def refresh(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(help="The golden dataset (never edited without --apply).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Candidates file (default DATASET.candidates.jsonl)."),
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Low score: a judgment normalized below this.")
    ] = 0.5,
    near: Annotated[
        float, typer.Option("--near", help="Similarity (0..1) that groups near-duplicates.")
    ] = 0.85,
    redact: Annotated[
        str | None, typer.Option("--redact", help="A redaction hook module:function (default: the guard's).")
    ] = None,
    apply: Annotated[
        Path | None,
        typer.Option(
            "--apply", help="Append this reviewed candidates file to DATASET (cases with expected_output)."
        ),
    ] = None,
) -> None:
    """Propose golden cases from traffic (reviewed, negatively rated, low-scored calls) as a separate JSONL."""
    from llmguard._guard import Guard
    from llmguard.review import ReviewStore
    from llmguard.review._refresh import apply_candidates, refresh_candidates

    with _errors():
        if apply is not None:
            added = apply_candidates(apply, dataset)
            typer.echo(
                json.dumps({"added": added}) if _json(ctx) else f"appended {added} case(s) to {dataset}"
            )
            return
        guard = Guard()
        hook = _hook(redact) or _guard_redact(guard)
        result = refresh_candidates(
            ReviewStore(guard.db), dataset, output=output, redact=hook, threshold=threshold, near=near
        )
    data = {
        "output": str(result.output), "candidates": result.candidates, "merged": result.merged,
        "near_duplicate_groups": result.near_duplicate_groups, "already_in_dataset": result.already_in_dataset,
        "without_content": result.without_content,
    }  # fmt: skip
    if _json(ctx):
        typer.echo(json.dumps(data, indent=2))
        return
    _out.print(
        f"wrote {result.candidates} candidate(s) to {result.output} ({result.merged} duplicate(s) merged, "
        f"{result.near_duplicate_groups} near-duplicate group(s), {result.already_in_dataset} already in the "
        f"dataset, {result.without_content} without retained content); review it, fill expected_output, then "
        f"`llmguard eval refresh {dataset} --apply {result.output}`",
        soft_wrap=True,
    )


def _guard_redact(guard: Any) -> Any:
    from llmguard.telemetry._options import TelemetryOptions

    return TelemetryOptions.resolve(
        getattr(guard, "telemetry", None), guard.settings.file_settings.get("telemetry")
    ).redact
