"""``llmguard rollout``: start, status, advance, pause, resume, abort, watch and audit guarded rollouts.

The plan comes from ``--plan FILE``, else ``<prompts-dir>/<name>/rollout.yaml`` (``.yml``,
``.toml``) when it exists, else the options (``--steps 1:30m,5:1h,25:2h``). Rollout state lives
beside the prompts (file store) or in a SQL table (``--store sqlite:///x.db`` or a PostgreSQL URL).
``watch`` reads judgments, feedback and the ledger from the shared database (``--db``).

Exit codes: 0 ok; 1 a compare-and-set move lost, a protected label's promotion was refused, or a
check rolled back (``watch --once``); 2 usage, configuration or data error (bad plan file...).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from llmguard._settings import load_settings
from llmguard.exceptions import ConfigurationError, RolloutConflictError, RolloutPlanError

from ._prompts import DirOption, KindOption, _err, _errors, _evidence, _json, _out, _registry, _safe

__all__ = ["rollout_app"]

rollout_app = typer.Typer(
    help="Guarded canary rollouts: ramp a label to a candidate, roll back on regression (exit 0 ok, 1 conflict, "
    "refusal or rollback, 2 usage or data error).",
    no_args_is_help=True,
)

LabelOption = Annotated[str, typer.Option("--label", "-l", help="The label rolled out.")]
StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="Rollout state store: a SQL URL (sqlite:///x.db); default: files beside the prompts."
    ),
]
ReasonOption = Annotated[str, typer.Option("--reason", "-m", help="Why (recorded in the audit log).")]
_PLAN_FILES = ("rollout.yaml", "rollout.yml", "rollout.toml")


@contextmanager
def _guarded() -> Iterator[None]:
    """The error handling of ``llmguard prompts``, plus a lost rollout race exiting 1 (re-read and retry)."""
    with _errors():
        try:
            yield
        except RolloutConflictError as exc:
            _err.print(f"[red]conflict:[/] {_safe(exc)}")
            raise typer.Exit(1) from None


def _db_url(db: str | None) -> str:
    from llmguard._storage import resolve_url

    return resolve_url(db) if db else load_settings({}).db


def _rollouts(prompts_dir: str | None, kind: str, store: str | None, db: str | None = None) -> Any:
    from llmguard._storage._url import sqlite_path
    from llmguard.rollouts import Rollouts, SQLMetrics, SQLRolloutStore

    registry = _registry(prompts_dir, kind)
    state_store = SQLRolloutStore(store) if store else None
    url = _db_url(db)
    path = sqlite_path(url)
    metrics = SQLMetrics(url) if path is None or path.is_file() else None
    return Rollouts(registry, state_store, metrics)


def _plan(
    rollouts: Any, name: str, plan: Path | None, label: str, steps: str | None, alpha: float | None
) -> Any:
    from llmguard.rollouts import load_plan, plan_from_mapping

    if plan is None and steps is None:
        root = getattr(rollouts.registry.store, "root", None)
        found = [root / name / f for f in _PLAN_FILES] if root is not None else []
        plan = next((p for p in found if p.is_file()), None)
    if plan is not None:
        loaded = load_plan(plan)
        if label != loaded.label:
            raise RolloutPlanError(f"{plan}: field label is {loaded.label!r}, but --label is {label!r}")
        return loaded
    data: dict[str, Any] = {"label": label}
    if steps is not None:
        data["steps"] = [_step(part) for part in steps.split(",") if part.strip()]
    if alpha is not None:
        data["false_alarm_rate"] = alpha
    return plan_from_mapping(data, "--steps")


def _step(text: str) -> dict[str, Any]:
    weight, _, duration = text.strip().partition(":")
    try:
        return {"weight": int(weight), "duration": duration or 0}
    except ValueError:
        raise RolloutPlanError(f"--steps: invalid step {text!r}: use WEIGHT:DURATION, e.g. 5:1h") from None


def _show(ctx: typer.Context, state: Any) -> None:
    if _json(ctx):
        typer.echo(json.dumps(None if state is None else state.to_json(), indent=2))
        return
    if state is None:
        _out.print("no rollout")
        return
    steps = " → ".join(f"{s.weight}%" for s in state.plan.steps)
    _out.print(
        f"rollout [bold]{_safe(state.rollout_id)}[/] of {_safe(state.name)} [cyan]{_safe(state.label)}[/]: "
        f"{_safe(state.stable)} → [bold]{_safe(state.candidate)}[/]"
        + (f" (model {_safe(state.model)})" if state.model else "")
    )
    _out.print(f"status [bold]{state.status}[/], step {state.step + 1}/{len(state.plan.steps)} "
               f"({state.weight}% candidate), plan {steps}, revision {state.revision}")  # fmt: skip
    metrics = (state.last_check or {}).get("metrics")
    for metric in metrics if isinstance(metrics, list) else []:
        m = metric if isinstance(metric, dict) else {}
        text = (
            f"  {m.get('metric')}: {m.get('status')} (n={m.get('stable_n')}/{m.get('candidate_n')}, "
            f"stable={m.get('stable_value')}, candidate={m.get('candidate_value')}, p={m.get('p_value')})"
        )
        _out.print(_safe(text))


@rollout_app.command()
def start(
    ctx: typer.Context,
    name: str,
    candidate: Annotated[
        str | None, typer.Option("--candidate", "-c", help="The version to roll out.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Roll out a model change: stable with this model (a new version)."),
    ] = None,
    plan: Annotated[Path | None, typer.Option("--plan", help="Rollout plan file (.yaml or .toml).")] = None,
    label: LabelOption = "production",
    steps: Annotated[
        str | None, typer.Option("--steps", help="Steps WEIGHT:DURATION,... e.g. 1:30m,5:1h,25:2h.")
    ] = None,
    false_alarm_rate: Annotated[float | None, typer.Option("--false-alarm-rate", help="e.g. 0.05.")] = None,
    reason: ReasonOption = "",
    evidence: Annotated[str | None, typer.Option("--evidence", help="Eval evidence as JSON.")] = None,
    suite: Annotated[
        list[Path] | None, typer.Option("--suite", help="Eval suite(s) for a protected label.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Skip the protected-label check (needs --reason).")
    ] = False,
    prompts_dir: DirOption = None,
    kind: KindOption = "prompt",
    store: StoreOption = None,
) -> None:
    """Start a guarded rollout: move the label to the plan's first split."""
    with _guarded():
        rollouts = _rollouts(prompts_dir, kind, store)
        if suite:
            from llmguard.evals import EvalGate

            rollouts.registry.gate = EvalGate(suite)
        chosen = _plan(rollouts, name, plan, label, steps, false_alarm_rate)
        state = rollouts.start(
            name,
            chosen,
            candidate=candidate,
            model=model,
            reason=reason,
            evidence=_evidence(evidence),
            force=force,
        )
    _show(ctx, state)


@rollout_app.command()
def status(
    ctx: typer.Context, name: str, label: LabelOption = "production", prompts_dir: DirOption = None,
    kind: KindOption = "prompt", store: StoreOption = None,
) -> None:  # fmt: skip
    """The label's rollout: step, status, last decision."""
    with _guarded():
        state = _rollouts(prompts_dir, kind, store).status(name, label)
    _show(ctx, state)


OPERATOR_ACTIONS: tuple[tuple[str, str], ...] = (
    ("advance", "Move to the next step now (recorded as a manual decision)."),
    ("pause", "Hold the rollout at its current split (the supervisor stops moving it)."),
    ("resume", "Let the supervisor move a paused rollout again."),
    ("abort", "Move the label back to stable and end the rollout."),
)
"""(command, help) of the operator decisions: each calls the `Rollouts` method of that name."""


def _operator(action: str, doc: str) -> None:
    def command(
        ctx: typer.Context, name: str, label: LabelOption = "production", reason: ReasonOption = "",
        prompts_dir: DirOption = None, kind: KindOption = "prompt", store: StoreOption = None,
    ) -> None:  # fmt: skip
        with _guarded():
            rollouts = _rollouts(prompts_dir, kind, store)
            state = getattr(rollouts, action)(name, label, reason=reason)
        _show(ctx, state)

    command.__doc__ = doc
    rollout_app.command(name=action)(command)


for _action, _doc in OPERATOR_ACTIONS:
    _operator(_action, _doc)


@rollout_app.command()
def watch(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Prompts whose rollouts to supervise.")],
    label: LabelOption = "production",
    interval: Annotated[
        float | None,
        typer.Option("--interval", help="Seconds between checks (default: the plans' check_interval)."),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Check once and exit (1 if a rollout rolled back).")
    ] = False,
    prompts_dir: DirOption = None,
    kind: KindOption = "prompt",
    store: StoreOption = None,
) -> None:
    """Supervise rollouts: check each step's window, roll back on regression, advance clean steps."""
    from llmguard.rollouts._watch import check_all

    db = (ctx.obj or {}).get("db")
    rolled_back = False
    with _guarded():
        rollouts = _rollouts(prompts_dir, kind, store, db)
        if rollouts.metrics is None:
            from llmguard._storage import display_url

            raise ConfigurationError(
                f"no database at {display_url(_db_url(db))}: the supervisor reads the ledger, judgments and feedback there; pass --db"
            )
        while True:
            results = check_all(rollouts, [(n, label) for n in names])
            for result in results:
                rolled_back |= result.action == "rollback"
                _report(ctx, result)
            if once:
                break
            plans = [r.state.plan.check_interval_s for r in results if r.state is not None]
            time.sleep(max(1.0, interval if interval is not None else min(plans, default=60.0)))
    raise typer.Exit(1 if rolled_back else 0)


def _report(ctx: typer.Context, result: Any) -> None:
    state = result.state
    if _json(ctx):
        decision = result.decision.to_json() if result.decision is not None else None
        typer.echo(
            json.dumps({"action": result.action, "state": state and state.to_json(), "decision": decision})
        )
        return
    where = f"{_safe(state.name)} {_safe(state.label)}" if state is not None else "-"
    _out.print(f"{where}: [bold]{result.action}[/]" + (f" ({state.weight}% candidate)" if state else ""))


@rollout_app.command()
def history(
    ctx: typer.Context, name: str, label: LabelOption = "production", prompts_dir: DirOption = None,
    kind: KindOption = "prompt", store: StoreOption = None,
) -> None:  # fmt: skip
    """The rollout audit log: every transition, who, why, and the decision behind it."""
    with _guarded():
        events = _rollouts(prompts_dir, kind, store).events(name, label)
    if _json(ctx):
        typer.echo(json.dumps([e.to_json() for e in events], indent=2))
        return
    for e in events:
        cells = (e.when, e.action, f"step {e.from_step}→{e.to_step}", e.status, f"by {e.who}:", e.why or "-")
        _out.print(" ".join(_safe(cell) for cell in cells))
