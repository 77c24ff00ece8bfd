"""``llmguard review``: the human review queue in the terminal, and judge calibration.

``sync`` queues what the stores route (negative feedback, failed or low judgments, with retained
content); ``next`` shows the oldest call a reviewer has not labelled; ``label`` stores a label
(feedback with ``source=review``, one per call and reviewer); ``stats`` counts; ``calibrate``
compares each judge with the labels; ``serve`` runs the review web page.

Exit codes: 0 ok, 2 usage or data error (invalid label, call not queued, missing extra).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmguard._env import LLMGUARD_REVIEW_SECRET

from ._shared import typed_errors

if TYPE_CHECKING:
    from llmguard._guard import Guard
    from llmguard.review import ReviewStore

__all__ = ["review_app"]

review_app = typer.Typer(help="Human review queue and judge calibration.", no_args_is_help=True)
Secret = Annotated[
    str | None,
    typer.Option(
        "--secret", envvar=LLMGUARD_REVIEW_SECRET, help="The secret reviewer tokens are signed with."
    ),
]
Reviewer = Annotated[
    str, typer.Option("--reviewer", "-r", help="Your reviewer id (one label per call each).")
]

_out = Console(highlight=False, width=120)


_errors = typed_errors
"""``with _errors():`` a `LLMGuardError` prints ``error: ...`` and exits 2 (`typed_errors`)."""


def _open(secret: str | None = None) -> tuple[Guard, ReviewStore]:
    from llmguard._guard import Guard
    from llmguard.review import ReviewStore

    guard = Guard(feedback_secret=secret) if secret else Guard()
    return guard, ReviewStore(guard.db)


def _json(ctx: typer.Context) -> bool:
    return bool((ctx.obj or {}).get("json"))


@review_app.command()
def sync(
    ctx: typer.Context,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Queue calls a judge scored (normalized) below this.")
    ] = 0.5,
) -> None:
    """Queue negatively rated calls and failed or low-scored judgments whose content is retained."""
    from llmguard.review import Routing

    with _errors():
        _, store = _open()
        added = store.sync(Routing(judge_threshold=threshold))
    typer.echo(json.dumps({"queued": added}) if _json(ctx) else f"queued {added} call(s)")


def _show(item: dict[str, Any]) -> None:
    """Print a queued call; every value is text (content may look like markup: it is escaped)."""
    e = escape
    prompt = f"{item['prompt_name']}@{item['prompt_version']}" if item["prompt_name"] else "-"
    _out.print(
        f"[bold]call[/] {item['call_id']}  reason {e(item['reason'])}  prompt {e(prompt)}  model {e(str(item['model']))}"
    )
    _out.print("[bold]input[/]", e(json.dumps(item["content"].get("input"), ensure_ascii=False, indent=1)))
    _out.print("[bold]output[/]", e(str(item["content"].get("output"))), soft_wrap=True)
    for j in item["judgments"]:
        reason = e(j["reason"] or "")
        _out.print(
            f"[bold]judge[/] {e(j['judge'])}: {j['score']} (passed {bool(j['passed'])}) {reason}",
            soft_wrap=True,
        )
    for f in item["feedback"]:
        _out.print(f"[bold]feedback[/] {e(f['name'])} = {e(json.dumps(f['value']))} {e(f['comment'] or '')}")
    _out.print(f"label: llmguard review label {item['call_id']} --reviewer YOU --pass|--fail")


@review_app.command("next")
def next_(ctx: typer.Context, reviewer: Reviewer) -> None:
    """Show the oldest queued call you have not labelled (its content, judges and feedback)."""
    with _errors():
        _, store = _open()
        item = store.next_item(reviewer)
    if item is None:
        typer.echo("null" if _json(ctx) else "nothing left to review")
        return
    if _json(ctx):
        typer.echo(json.dumps(item.as_dict(), indent=2, ensure_ascii=False))
    else:
        _show(item.as_dict())


@review_app.command()
def label(
    ctx: typer.Context,
    call_id: Annotated[str, typer.Argument(help="The queued call.")],
    reviewer: Reviewer,
    passed: Annotated[bool, typer.Option("--pass/--fail", help="Your verdict.")],
    score: Annotated[float | None, typer.Option("--score", help="A score on the judge's scale.")] = None,
    corrected: Annotated[
        str | None, typer.Option("--corrected", help="The corrected answer (a golden-set candidate).")
    ] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Free text.")] = None,
) -> None:
    """Label a queued call (relabelling replaces your earlier label)."""
    from llmguard.review import record_label

    with _errors():
        guard, store = _open()
        stored = record_label(
            guard, store, call_id, reviewer, passed, score=score, corrected=corrected, comment=comment
        )
    data = {"call_id": stored.call_id, "reviewer": stored.reviewer, "passed": stored.passed}
    typer.echo(json.dumps(data) if _json(ctx) else f"labelled {call_id}: {'pass' if passed else 'fail'}")


@review_app.command()
def stats(
    ctx: typer.Context,
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", "-r", help="Also count your pending calls.")
    ] = None,
) -> None:
    """Queue size, labelled calls, labels per reviewer, pass rate."""
    with _errors():
        _, store = _open()
        data = store.stats(reviewer)
    if _json(ctx):
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        _out.print(f"{key}: {value}")


@review_app.command()
def calibrate(
    ctx: typer.Context,
    top: Annotated[int, typer.Option("--top", help="Disagreeing calls shown per judge.")] = 5,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples.")] = 2000,
    confidence: Annotated[float, typer.Option("--confidence", help="Confidence level.")] = 0.95,
) -> None:
    """Agreement of each judge (per fingerprint) with the human labels: kappa, Spearman, confusion matrix."""
    from llmguard.review._calibrate import calibrate as run

    with _errors():
        _, store = _open()
        report = run(store, top=top, resamples=resamples, confidence=confidence)
    if _json(ctx):
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    table = Table(title=f"judge calibration ({report.labels} labels)")
    for column in (
        "judge",
        "fingerprint",
        "n",
        "kappa [CI]",
        "spearman [CI]",
        "confusion (H+J+ H+J- / H-J+ H-J-)",
    ):
        table.add_column(column)
    for j in report.judges:
        table.add_row(
            escape(j.judge), escape((j.fingerprint or "-")[:16]), str(j.n), _fmt(j.kappa), _fmt(j.spearman),
            f"{j.confusion[0][0]} {j.confusion[0][1]} / {j.confusion[1][0]} {j.confusion[1][1]}",
        )  # fmt: skip
    _out.print(table)
    _out.print(f"reviewer-reviewer kappa: {_fmt(report.reviewers)}")
    for j in report.judges:
        for p in j.disagreements:
            _out.print(
                f"  {escape(j.judge)} disagrees on {p.call_id} ({escape(p.reviewer)}): judge "
                f"{'pass' if p.judge_passed else 'fail'} {p.judge_score}, human {'pass' if p.human_passed else 'fail'}"
            )


def _fmt(a: Any) -> str:
    if a.value is None:
        return f"- (n={a.n})"
    ci = f" [{a.low:.2f}, {a.high:.2f}]" if a.low is not None else ""
    return f"{a.value:.2f}{ci} (n={a.n})"


@review_app.command()
def token(
    reviewer: Annotated[str, typer.Argument(help="The reviewer id the token names.")],
    ttl: Annotated[float, typer.Option("--ttl", help="Lifetime in seconds.")] = 8 * 3600,
    secret: Secret = None,
) -> None:
    """Print a reviewer token for the review page (signed with the guard's feedback_secret)."""
    from llmguard.review import reviewer_token

    with _errors():
        guard, _ = _open(secret)
        typer.echo(reviewer_token(guard, reviewer, ttl=ttl))


@review_app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    secret: Secret = None,
) -> None:
    """Serve the review page (open http://HOST:PORT/#token=TOKEN; keys p pass, f fail, n next)."""
    from llmguard.review import review_app as build

    with _errors():
        try:
            import uvicorn
        except ImportError:
            raise typer.BadParameter("review serve needs uvicorn: pip install uvicorn") from None
        guard, store = _open(secret)
        app = build(guard, store=store)
    uvicorn.run(app, host=host, port=port, log_level="warning")
