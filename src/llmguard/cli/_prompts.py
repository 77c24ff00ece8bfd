"""``llmguard prompts``: list, show, diff, scaffold, validate, promote, roll back and audit prompts.

Exit codes: 0 ok; 1 a check failed (``validate`` found errors), a compare-and-set move lost
(``LabelConflictError``: the label moved, re-read and retry) or the eval gate refused a protected
label's promotion (``PromotionRefusedError``); 2 usage, configuration or data error (malformed
file, invalid label, unknown prompt, version or label, nothing to roll back to).

Everything printed from files or arguments (names, labels, reasons, messages) is escaped: rich
markup such as ``[/]`` is shown as text and control characters as escapes.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmguard._guard import Guard
from llmguard.exceptions import ConfigurationError, LabelConflictError, LLMGuardError, PromotionRefusedError
from llmguard.prompts import FileStore, LabelMove, PromptRegistry, validate_store
from llmguard.prompts._labels import check_label, format_target

__all__ = ["prompts_app"]

prompts_app = typer.Typer(
    help="Prompts as code: versions, labels, promotion, rollback (exit 0 ok, 1 check failed or promotion "
    "refused, 2 usage or data error).",
    no_args_is_help=True,
)

DirOption = Annotated[
    str | None,
    typer.Option(
        "--prompts-dir",
        help="Prompt folder (default ./prompts or [tool.llmguard] prompts_dir), or sqlite:///file.db.",
    ),
]
KindOption = Annotated[str, typer.Option("--kind", help="Artifact kind: prompt or config.")]

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)


def _registry(prompts_dir: str | None, kind: str) -> PromptRegistry:
    if kind not in ("prompt", "config"):
        raise ConfigurationError(f"--kind {kind!r}: use 'prompt' or 'config'")
    if kind == "config":
        registry: PromptRegistry = Guard(configs=prompts_dir).configs
    else:
        registry = Guard(prompts=prompts_dir).prompts
    return registry


def _json(ctx: typer.Context) -> bool:
    return bool((ctx.obj or {}).get("json"))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _safe(value: object) -> str:
    """Text from files or arguments, safe to print: markup escaped, control characters shown as escapes."""
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))
    return escape(text)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except LabelConflictError as exc:
        _err.print(f"[red]conflict:[/] {_safe(exc)}")
        raise typer.Exit(1) from None
    except PromotionRefusedError as exc:
        _err.print(f"[red]refused:[/] {_safe(exc)}")
        raise typer.Exit(1) from None
    except LLMGuardError as exc:
        _err.print(f"[red]error:[/] {_safe(exc)}")
        raise typer.Exit(2) from None


def _move_dict(move: LabelMove) -> dict[str, Any]:
    return move.to_json()


@prompts_app.command("list")
def list_(ctx: typer.Context, prompts_dir: DirOption = None, kind: KindOption = "prompt") -> None:
    """List prompts with their versions and labels."""
    with _errors():
        registry = _registry(prompts_dir, kind)
        rows: list[dict[str, Any]] = []
        for name in registry.names():
            versions = [v.version for v in registry.versions(name)]
            labels = {k: format_target(v) for k, v in registry.labels(name).items()}
            rows.append({"name": name, "versions": versions, "labels": labels})
    if _json(ctx):
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "versions", "latest", "labels")
    for row in rows:
        shown = ", ".join(f"[cyan]{_safe(k)}[/]→{_safe(v)}" for k, v in row["labels"].items()) or "-"
        table.add_row(_safe(row["name"]), str(len(row["versions"])), _safe(row["versions"][-1]), shown)
    _out.print(table)


@prompts_app.command()
def show(
    ctx: typer.Context,
    name: str,
    version: Annotated[str | None, typer.Option("--version", "-v", help="Version or range.")] = None,
    label: Annotated[str | None, typer.Option("--label", "-l")] = None,
    prompts_dir: DirOption = None,
    kind: KindOption = "prompt",
) -> None:
    """Show one version: metadata, hash, and its template parts."""
    with _errors():
        found = _registry(prompts_dir, kind).get(name, version, label=label)
    data = found.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data.update(name=found.name, content_hash=found.content_hash, label=found.label)
    if _json(ctx):
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    via = f" (label [cyan]{_safe(found.label)}[/])" if found.label else ""
    _out.print(
        f"[bold]{_safe(found.name)}[/] [green]{_safe(found.version)}[/]{via}  {found.content_hash}",
        soft_wrap=True,
    )
    if found.source:
        _out.print(f"[dim]{_safe(found.source)}[/]")
    _print_eval(found.name, found.content_hash)
    body = {k: v for k, v in data.items() if k not in ("name", "version", "content_hash", "label")}
    _out.print(_yaml(body).rstrip(), markup=False)


def _print_eval(name: str, content_hash: str, records_dir: Path = Path("evals/records")) -> None:
    from llmguard.evals import latest_record

    record = latest_record(records_dir, name, content_hash)
    if record is not None:
        verdict = "[green]passed[/]" if record.get("passed") else "[red]failed[/]"
        _out.print(
            f"eval: score {_score(record.get('eval_score'))} {verdict} on {_safe(record.get('model'))} "
            f"(run {_safe(record.get('run_id'))})",
            soft_wrap=True,
        )


def _score(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else _safe(value)


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def _yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def _text(registry: PromptRegistry, name: str, version: str) -> tuple[str, str]:
    found = registry.get(name, version)
    if found.source and Path(found.source).is_file():
        return found.source, Path(found.source).read_text(encoding="utf-8")
    dumped = found.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return f"{name}@{found.version}", _yaml(dumped)


@prompts_app.command()
def diff(
    name: str,
    a: Annotated[str, typer.Argument(help="Old version (or range).")],
    b: Annotated[str, typer.Argument(help="New version (or range).")],
    prompts_dir: DirOption = None,
    kind: KindOption = "prompt",
) -> None:
    """Unified diff of two versions (exit 0 either way)."""
    with _errors():
        registry = _registry(prompts_dir, kind)
        (path_a, text_a), (path_b, text_b) = _text(registry, name, a), _text(registry, name, b)
        same = registry.get(name, a).content_hash == registry.get(name, b).content_hash
    lines = difflib.unified_diff(text_a.splitlines(), text_b.splitlines(), path_a, path_b, lineterm="")
    for line in lines:
        style = (
            "green"
            if line.startswith("+")
            else "red"
            if line.startswith("-")
            else "cyan"
            if line[:2] == "@@"
            else ""
        )
        _out.print(f"[{style}]{_safe(line)}[/]" if style else _safe(line), soft_wrap=True)
    if same:
        _out.print("[yellow]same content hash: only metadata differs[/]")


_VERSION_LINE = re.compile(r'^version:\s*["\']?[^"\'\n]*["\']?\s*$', re.MULTILINE)
_SCAFFOLD = """version: "{version}"
model: "gpt-4o-2024-08-06"
system_prompt: |
  You are a helpful assistant.
user_template: "{{{{ question }}}}"
variables:
  question: {{type: string}}
created_at: "{today}"
"""


@prompts_app.command()
def new(
    name: str,
    bump: Annotated[str, typer.Option("--bump", help="major, minor or patch.")] = "minor",
    prompts_dir: DirOption = None,
    kind: KindOption = "prompt",
) -> None:
    """Scaffold the next version file from the last one (never edits existing files)."""
    with _errors():
        registry = _registry(prompts_dir, kind)
        store = registry.store
        if not isinstance(store, FileStore) or bump not in ("major", "minor", "patch"):
            raise ConfigurationError("new: needs a folder store and --bump major|minor|patch")
        folder = store.folder(name)
        today = dt.date.today().isoformat()
        if folder.is_dir() and store.version_files(name):
            last = registry.versions(name)[-1]
            version = str(last.semver.bump(bump))
            text = Path(last.source or "").read_text(encoding="utf-8")
            text = _VERSION_LINE.sub(f'version: "{version}"', text, count=1)
            text = (
                re.sub(r"^(eval_score|created_at):.*\n", "", text, flags=re.MULTILINE)
                + f'created_at: "{today}"\n'
            )
        else:
            version, text = "1.0.0", _SCAFFOLD.format(version="1.0.0", today=today)
        target = folder / f"v{version}.yaml"
        if target.exists():
            raise ConfigurationError(f"{target} already exists")
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _out.print(f"[green]created[/] {_safe(target)}")


@prompts_app.command()
def validate(
    ctx: typer.Context,
    prompts_dir: DirOption = None,
    kind: KindOption = "prompt",
    strict: Annotated[
        bool, typer.Option("--strict", help="Alias models fail under pin policy 'warn' too.")
    ] = False,
    policy: Annotated[
        str | None, typer.Option("--policy", help="Override the pin policy: enforce, warn, off.")
    ] = None,
) -> None:
    """CI check: files parse, versions match names, semver unique, variables declared, models pinned."""
    with _errors():
        guard = Guard()
        registry = _registry(prompts_dir, kind)
        mode = policy or guard.pin_policy
        findings = validate_store(registry.store, policy=mode, strict=strict, pins=guard.pins)
        count = len(registry.store.names())
    errors = [f for f in findings if f.severity == "error"]
    if _json(ctx):
        typer.echo(json.dumps({"ok": not errors, "findings": [asdict(f) for f in findings]}, indent=2))
    else:
        for f in findings:
            colour = "red" if f.severity == "error" else "yellow"
            _out.print(f"[{colour}]{f.severity}[/] {_safe(f.where)}: {_safe(f.message)}", soft_wrap=True)
        verdict = "[red]failed[/]" if errors else "[green]ok[/]"
        _out.print(f"{verdict}: {count} {kind}(s), {len(errors)} error(s), pin policy {mode}")
    raise typer.Exit(1 if errors else 0)


def _print_move(ctx: typer.Context, move: LabelMove) -> None:
    if _json(ctx):
        typer.echo(json.dumps(_move_dict(move), indent=2))
        return
    verb = "rolled back" if move.action == "rollback" else "promoted"
    forced = (
        " [yellow](forced: the eval gate was skipped; recorded in history)[/]"
        if move.evidence.get("forced")
        else ""
    )
    _out.print(
        f"[green]{verb}[/] {_safe(move.name)} [cyan]{_safe(move.label)}[/]: {_safe(move.from_ or '(unset)')} → "
        f"[bold]{_safe(move.to)}[/]{forced}"
    )


def _canary(current: str | None, version: str, percent: int) -> dict[str, int]:
    if current is None or "=" in current or not 0 < percent < 100:
        raise ConfigurationError("--canary needs a label that points at one version and 0 < percent < 100")
    return {current: 100 - percent, version: percent}


@prompts_app.command()
def promote(
    ctx: typer.Context,
    name: str,
    version: Annotated[str, typer.Argument(help="A version, or a split such as 2.0.0=90,2.1.0=10.")],
    label: Annotated[str, typer.Option("--label", "-l", help="The label to move.")],
    reason: Annotated[str, typer.Option("--reason", "-m", help="Why (recorded in history).")] = "",
    expect: Annotated[
        str | None, typer.Option("--expect", help="Version the label must point at now ('none': unset).")
    ] = None,
    canary: Annotated[int | None, typer.Option("--canary", help="Send only this percent to VERSION.")] = None,
    evidence: Annotated[str | None, typer.Option("--evidence", help="Eval evidence as JSON.")] = None,
    suite: Annotated[
        list[Path] | None,
        typer.Option(
            "--suite", help="Eval suite(s) whose passing record a protected label (production) needs."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Skip the protected-label check (needs --reason; recorded).")
    ] = False,
    prompts_dir: DirOption = None,
    kind: KindOption = "prompt",
) -> None:
    """Move a label to a version (compare-and-set; --canary splits traffic).

    A protected label ([tool.llmguard] protected_labels, default production) moves only with
    --suite (a matching passing eval record of a real provider), --evidence, or --force --reason
    (recorded). A refusal exits 1.
    """
    with _errors():
        check_label(label, "--label")
        registry = _registry(prompts_dir, kind)
        if suite:
            from llmguard.evals import EvalGate

            registry.gate = EvalGate(suite)
        if force and not reason.strip():
            raise ConfigurationError("--force needs --reason (it is recorded in the label history)")
        current = format_target(registry.labels(name).get(label))
        expected: object = current if expect is None else expect
        target: Any = version if canary is None else _canary(current, version, canary)
        proof = _evidence(evidence)
        move = registry.promote(
            name, target, label=label, expect=expected, reason=reason, evidence=proof, force=force
        )
    _print_move(ctx, move)


def _evidence(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"--evidence: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError("--evidence: expected a JSON object")
    return data


@prompts_app.command()
def rollback(
    ctx: typer.Context,
    name: str,
    label: Annotated[str, typer.Option("--label", "-l")],
    to: Annotated[str | None, typer.Option("--to", help="Roll back to this earlier version.")] = None,
    reason: Annotated[str, typer.Option("--reason", "-m")] = "",
    prompts_dir: DirOption = None,
    kind: KindOption = "prompt",
) -> None:
    """Move a label back one step in its history (or back to --to)."""
    with _errors():
        move = _registry(prompts_dir, kind).rollback(name, label=label, to=to, reason=reason)
    _print_move(ctx, move)


@prompts_app.command()
def history(
    ctx: typer.Context,
    name: str,
    label: Annotated[str | None, typer.Option("--label", "-l")] = None,
    prompts_dir: DirOption = None,
    kind: KindOption = "prompt",
) -> None:
    """Every label move: who, when, from, to, why, evidence."""
    with _errors():
        moves = _registry(prompts_dir, kind).history(name, label)
    if _json(ctx):
        typer.echo(json.dumps([_move_dict(m) for m in moves], indent=2))
        return
    table = Table("when", "label", "action", "from", "to", "who", "why")
    for m in moves:
        cells = (m.when, m.label, m.action, m.from_ or "-", m.to, m.who, m.why or "-")
        table.add_row(*(_safe(cell) for cell in cells))
    _out.print(table)
