"""``llmguard pins check``: find model names in a project and report the ones that float.

It reads Python with `ast`: every string literal in the value of a ``model=`` keyword, of a
parameter default (``def f(model="gpt-4.1")``), of an assignment to a name containing
``model`` and of a ``{"model": ...}`` dict key, through conditionals, ``or`` and calls such as
``os.getenv("LLM_MODEL", "gpt-4o")`` (environment variable names are skipped). It also reads
YAML, TOML and JSON config files (keys ``model`` and ``*_model``, which covers
``prompts/**/*.yaml``). Generated folders are skipped: virtualenvs, ``.git``, caches,
``.llmguard``, ``build``/``dist``/``site``, ``node_modules``, and the cache and records folders
of every eval suite (``*.suite.yaml``) found. Each name is classified with
`llmguard._pins.classify` and honours the project's ``llmguard.lock`` and
``[tool.llmguard.pins]``: a locked alias is rewritten at call time, so it counts as pinned.

Each name (its locked snapshot when locked) is also looked up in the model lifecycle table
(`llmguard._model_lifecycle`): retired and soon-retiring snapshots are reported with their shutdown
date and recommended replacement (see `llmguard.cli._pins_lifecycle`).

Exit codes: 0 when every name is pinned or locked, 1 when any name floats (or, with
``--strict``, when any is retired or shuts down within ``--within`` days), 2 on a usage,
configuration or data error (a missing path, a malformed lock, an invalid cached table).
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from llmguard._env import LLMGUARD_CONFIG
from llmguard._lock import LOCK_FILE_NAME, load_lock, lock_from_table
from llmguard._model_lifecycle import current_table, today_utc
from llmguard._pins import PinVerdict, Provider, classify, guess_provider
from llmguard.exceptions import ConfigurationError, ModelDataError

from ._pins_lifecycle import DEFAULT_WITHIN_DAYS, LifecycleNote, lifecycle_note, parse_day, update

__all__ = ["Finding", "find_models", "pins_app"]

SKIP_DIRS = frozenset(
    {
        ".venv",
        "venv",
        ".git",
        ".hg",
        "node_modules",
        "site-packages",
        "__pycache__",
        ".tox",
        ".nox",
        ".llmguard",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".cache",
        ".eggs",
        "build",
        "dist",
        "site",
    }
)
"""Folder names never scanned: virtualenvs, VCS data, caches and build or docs output."""
_SUITE_SUFFIXES = (".suite.yaml", ".suite.yml")
_LOOKUPS = frozenset({"get", "getenv", "pop", "setdefault"})
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".toml", ".json"})
_CONFIG_FILES = ("pyproject.toml", "llmguard.toml", LOCK_FILE_NAME)
_NOT_MODEL = ("_path", "_dir", "_file", "_url", "_cls", "_class", "_type", "_kwargs", "_config")

pins_app = typer.Typer(help="Check that model names are pinned to fixed snapshots.", no_args_is_help=True)
pins_app.command("update")(update)


@dataclass(frozen=True, slots=True)
class Finding:
    """One model name found in a file.

    Attributes:
        path: The file it was found in.
        line: Its 1-based line number.
        model: The model name.
        provider: The provider guessed from the name.
        verdict: Its pin verdict.
        locked: The snapshot a lock rewrites it to, else None.
        lifecycle: Its deprecation or retirement, when the lifecycle table has one to report.
    """

    path: Path
    line: int
    model: str
    provider: Provider
    verdict: PinVerdict
    locked: str | None
    lifecycle: LifecycleNote | None = None

    @property
    def ok(self) -> bool:
        """Whether the name is pinned, or locked to a snapshot."""
        return self.verdict.pinned or self.locked is not None


# --- finding names ----------------------------------------------------------------------------


def _plausible(value: str) -> bool:
    """Keep strings that look like a model id, not a path, URL or sentence."""
    return 0 < len(value) <= 256 and not any(c.isspace() for c in value) and value[0] not in "/.~"


def _config_key(key: object) -> bool:
    return isinstance(key, str) and (key.lower() == "model" or key.lower().endswith("_model"))


def _python_name(name: str) -> bool:
    lowered = name.lower()
    return "model" in lowered and not lowered.endswith(_NOT_MODEL)


def _target_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _defaults(args: ast.arguments) -> Iterator[tuple[str | None, ast.expr | None]]:
    positional = [*args.posonlyargs, *args.args]
    yield from zip(
        (a.arg for a in positional[len(positional) - len(args.defaults) :]), args.defaults, strict=True
    )
    yield from zip((a.arg for a in args.kwonlyargs), args.kw_defaults, strict=True)


def _python_pairs(node: ast.AST) -> Iterator[tuple[str | None, ast.expr | None]]:
    """Yield (name, value) pairs a model name could hide in."""
    if isinstance(node, ast.Call):
        yield from ((kw.arg, kw.value) for kw in node.keywords if kw.arg and _config_key(kw.arg))
    elif isinstance(node, ast.Assign):
        yield from ((_target_name(target), node.value) for target in node.targets)
    elif isinstance(node, ast.AnnAssign):
        yield _target_name(node.target), node.value
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        yield from _defaults(node.args)
    elif isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and _config_key(key.value):
                yield "model", value


def _literals(value: ast.expr | None) -> Iterator[tuple[int, int, str]]:
    """(line, column, text) of the string literals a value can evaluate to (not keys or f-strings)."""
    if isinstance(value, ast.Constant):
        if isinstance(value.value, str) and not _ENV_NAME.fullmatch(value.value):
            yield value.lineno, value.col_offset, value.value
    elif isinstance(value, ast.IfExp):
        yield from _literals(value.body)
        yield from _literals(value.orelse)
    elif isinstance(value, ast.BoolOp):
        for item in value.values:
            yield from _literals(item)
    elif isinstance(value, ast.Tuple | ast.List | ast.Set):
        for item in value.elts:
            yield from _literals(item)
    elif isinstance(value, ast.Call):
        lookup = _target_name(value.func) in _LOOKUPS  # the first argument is a key, not a value
        for arg in value.args[1:] if lookup else value.args:
            yield from _literals(arg)
    elif isinstance(value, ast.NamedExpr):
        yield from _literals(value.value)


def _scan_python(text: str) -> Iterator[tuple[int, str]]:
    found: dict[tuple[int, int], str] = {}
    for node in ast.walk(ast.parse(text)):
        for name, value in _python_pairs(node):
            if name and _python_name(name):
                for line, column, text in _literals(value):
                    if _plausible(text):
                        found[line, column] = text
    return ((line, model) for (line, _), model in sorted(found.items()))


def _scan_yaml(text: str) -> Iterator[tuple[int, str]]:
    for document in yaml.compose_all(text, Loader=yaml.SafeLoader):
        yield from _yaml_node(document)


def _yaml_model(key: yaml.Node, value: yaml.Node) -> bool:
    if not (isinstance(key, yaml.ScalarNode) and _config_key(key.value)):
        return False
    return isinstance(value, yaml.ScalarNode) and _plausible(str(value.value))


def _yaml_node(node: yaml.Node | None) -> Iterator[tuple[int, str]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if _yaml_model(key, value):
                yield value.start_mark.line + 1, str(value.value)
            yield from _yaml_node(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _yaml_node(item)


def _data_values(data: object) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if _config_key(key) and isinstance(value, str) and _plausible(value):
                yield value
            yield from _data_values(value)
    elif isinstance(data, list):
        for item in data:
            yield from _data_values(item)


def _with_lines(text: str, values: Iterator[str]) -> Iterator[tuple[int, str]]:
    """Locate each value in the text (TOML and JSON parsers keep no line numbers)."""
    offsets: dict[str, int] = {}
    for value in values:
        at = text.find(value, offsets.get(value, 0))
        offsets[value] = at + 1 if at >= 0 else 0
        yield (text.count("\n", 0, at) + 1 if at >= 0 else 1), value


def _scan_text(path: Path, text: str) -> Iterator[tuple[int, str]]:
    suffix = path.suffix.lower()
    if suffix == ".py":
        return _scan_python(text)
    if suffix in (".yaml", ".yml"):
        return _scan_yaml(text)
    data: object = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    return _with_lines(text, _data_values(data))


def _suite_outputs(suite: Path) -> list[Path]:
    """The cache and records folders an eval suite writes (generated files, not code)."""
    folders = {"cache_dir": "cache", "records_dir": "records"}
    try:
        data = yaml.safe_load(suite.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError, RecursionError):
        data = None
    table = data if isinstance(data, dict) else {}
    return [(suite.parent / str(table.get(key) or default)).resolve() for key, default in folders.items()]


def _iter_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    found: list[Path] = []
    generated: list[Path] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith(_SUITE_SUFFIXES):
                generated.extend(_suite_outputs(Path(directory, name)))
            if Path(name).suffix.lower() in _SUFFIXES:
                found.append(Path(directory, name))
    for path in found:
        if not any(path.resolve().is_relative_to(folder) for folder in generated):
            yield path


def _scan_file(path: Path) -> list[tuple[int, str]]:
    try:
        return list(_scan_text(path, path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError, yaml.YAMLError) as exc:
        typer.echo(f"warning: skipped {path}: {type(exc).__name__}: {exc}".splitlines()[0], err=True)
        return []


def find_models(paths: list[Path], lock: dict[str, str]) -> list[Finding]:
    """Find and classify the model names in files and directories.

    Args:
        paths: Files or directories; directories are walked, skipping generated folders
            (`SKIP_DIRS`, ``*.egg-info`` and the cache and records folders of eval suites).
        lock: Alias -> snapshot rewrites that make an alias acceptable.

    Returns:
        One finding per model name, in file and line order.
    """
    findings: list[Finding] = []
    for root in paths:
        for path in _iter_files(root):
            for line, model in _scan_file(path):
                provider = guess_provider(model)
                verdict = classify(model, provider)
                findings.append(Finding(path, line, model, provider, verdict, lock.get(model)))
    return findings


# --- the command ------------------------------------------------------------------------------


def _project_lock(paths: list[Path]) -> dict[str, str]:
    """Merge the pins of each scanned project root and of ``--config`` / ``LLMGUARD_CONFIG``.

    Pins come from ``llmguard.lock``, ``pyproject.toml [tool.llmguard.pins]`` and a top-level
    ``pins`` table of ``llmguard.toml``.
    """
    lock: dict[str, str] = {}
    configs = [r / n for r in {p if p.is_dir() else p.parent for p in paths} for n in _CONFIG_FILES]
    if os.environ.get(LLMGUARD_CONFIG):
        configs.append(Path(os.environ[LLMGUARD_CONFIG]))
    for config in configs:
        if config.is_file():
            lock.update(_config_pins(config))
    return lock


def _config_pins(path: Path) -> dict[str, str]:
    if path.name == LOCK_FILE_NAME:
        return load_lock(path)
    try:
        document: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    if path.name == "pyproject.toml":
        table = document.get("tool", {}).get("llmguard", {}).get("pins", {})
        return lock_from_table(table, f"{path} [tool.llmguard.pins]")
    return lock_from_table(document.get("pins", {}), f"{path} pins")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _status(finding: Finding) -> str:
    if finding.locked is not None and not finding.verdict.pinned:
        return "locked"
    return "pinned" if finding.verdict.pinned else "unpinned"


def _as_json(finding: Finding) -> dict[str, object]:
    verdict = finding.verdict
    return {
        "file": _display(finding.path),
        "line": finding.line,
        "model": finding.model,
        "provider": finding.provider,
        "status": _status(finding),
        "pinned": verdict.pinned,
        "kind": verdict.kind,
        "reason": verdict.reason,
        "suggestion": verdict.suggestion,
        "locked": finding.locked,
        "lifecycle": finding.lifecycle.as_json() if finding.lifecycle else None,
    }


def _summary(findings: list[Finding]) -> dict[str, int]:
    statuses = [_status(f) for f in findings]
    counts = {s: statuses.count(s) for s in ("pinned", "locked", "unpinned")}
    notes = [f.lifecycle for f in findings if f.lifecycle is not None]
    lifecycle = {
        "retired": sum(n.state == "retired" for n in notes),
        "deprecated": sum(n.state == "deprecated" for n in notes),
        "due": sum(n.due for n in notes),
    }
    return {"models": len(findings), "files": len({f.path for f in findings}), **counts, **lifecycle}


def _failed(summary: dict[str, int], strict: bool) -> bool:
    return bool(summary["unpinned"] or (strict and summary["due"]))


def _summary_line(summary: dict[str, int], strict: bool, within: int) -> str:
    head = f"{summary['models']} model name(s) in {summary['files']} file(s): "
    counts = f"{summary['unpinned']} unpinned, {summary['locked']} locked, {summary['pinned']} pinned"
    verdict = "FAIL" if _failed(summary, strict) else "OK"
    life = (
        f"; lifecycle: {summary['retired']} retired, {summary['due']} due within {within} days, "
        f"{summary['deprecated']} deprecated"
    )
    return f"{verdict}: {head}{counts}{life if summary['retired'] or summary['deprecated'] else ''}"


def _print_table(findings: list[Finding]) -> None:
    lifecycle = any(f.lifecycle is not None for f in findings)  # the column only when it says something
    table = Table(
        "Location", "Model", "Verdict", "Suggestion", *(["Lifecycle"] * lifecycle), title="Model pins"
    )
    for finding in findings:
        status = _status(finding)
        style = {"pinned": "green", "locked": "cyan", "unpinned": "bold red"}[status]
        detail = f"[{style}]{status}[/] ({finding.verdict.kind})"
        hint = f"-> {finding.locked}" if status == "locked" else finding.verdict.suggestion or ""
        note = finding.lifecycle
        life = "" if note is None else f"[{'bold red' if note.due else 'yellow'}]{note.text()}[/]"
        table.add_row(
            f"{_display(finding.path)}:{finding.line}", finding.model, detail, hint, *([life] * lifecycle)
        )
    Console(highlight=False).print(table)


@pins_app.callback()
def _pins() -> None:
    """Check that model names are pinned to fixed snapshots."""


@pins_app.command("check")
def check(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or directories to scan (default: .).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    within: Annotated[
        int, typer.Option("--within", min=0, metavar="DAYS", help="Report shutdowns within this many days.")
    ] = DEFAULT_WITHIN_DAYS,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Also fail (exit 1) on retired models and shutdowns within --within days."
        ),
    ] = False,
    today: Annotated[
        str | None,
        typer.Option("--today", metavar="YYYY-MM-DD", help="Judge lifecycle dates as of this day."),
    ] = None,
) -> None:
    """Find model names in code and config and fail when any of them floats.

    Also reports retired and deprecated snapshots with their shutdown date and replacement.
    Exits 0 when every name is pinned or locked, 1 when any floats (or, under --strict, is retired
    or shuts down within --within days), 2 on a usage, config or data error.
    """
    day = parse_day(today, today_utc())
    roots = paths or [Path(".")]
    as_json = as_json or (isinstance(ctx.obj, dict) and bool(ctx.obj.get("json")))
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        typer.echo(f"error: no such file or directory: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    try:
        findings = find_models(roots, _project_lock(roots))
        table = current_table()
    except (ConfigurationError, ModelDataError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    findings = [
        replace(f, lifecycle=lifecycle_note(f.locked or f.model, f.provider, table, day, within))
        for f in findings
    ]
    summary = _summary(findings)
    if as_json:
        meta = {"as_of": day.isoformat(), "within_days": within, "strict": strict, "table": table.source}
        document = {"summary": summary, "lifecycle": meta, "findings": [_as_json(f) for f in findings]}
        typer.echo(json.dumps(document, indent=2))
    else:
        if findings:
            _print_table(findings)
        typer.echo(_summary_line(summary, strict, within))
    sys.stdout.flush()
    raise typer.Exit(1 if _failed(summary, strict) else 0)
