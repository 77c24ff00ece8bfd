"""Golden datasets: cases in the seed's ``EvalCase`` shape, read from JSONL or YAML files.

A case is ``{id, input | variables, expected_output, tags, judge_params}``. ``input`` becomes the
last user message after the prompt's rendered messages; ``variables`` fill the prompt's template.
Every error names the file, the line and the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmguard.exceptions import EvalError

__all__ = ["Dataset", "EvalCase", "load_dataset", "load_datasets", "parse_case"]

_FIELDS = frozenset({"id", "input", "variables", "expected_output", "tags", "judge_params", "metadata"})


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One golden case.

    Attributes:
        id: Unique id across the suite's datasets.
        input: The user message appended after the prompt's messages.
        variables: Template variables for the prompt.
        expected_output: The human-validated reference answer.
        tags: Tags for the per-tag breakdown and thresholds.
        judge_params: Per-judge parameters for this case, e.g. ``{"contains_keywords": {"required": [...]}}``.
        metadata: Free-form data carried to reports.
        source: ``file:line`` the case was read from.
    """

    id: str
    input: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    expected_output: str | None = None
    tags: tuple[str, ...] = ()
    judge_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True, slots=True)
class Dataset:
    """The cases of one file and the file's content hash.

    Attributes:
        path: The file.
        content_hash: ``sha256:<hex>`` of the file's bytes.
        cases: The cases, in file order.
    """

    path: Path
    content_hash: str
    cases: tuple[EvalCase, ...]


def _fail(where: str, field_name: str | None, message: str) -> EvalError:
    at = f" field {field_name!r}" if field_name else ""
    return EvalError(f"{where}:{at} {message}")


def _text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _fail(where, key, f"expected a string, got {type(value).__name__}")


def _mapping(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _fail(where, key, "expected a mapping with string keys")
    return dict(value)


def _tags(data: Mapping[str, Any], where: str) -> tuple[str, ...]:
    value = data.get("tags") or []
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise _fail(where, "tags", "expected a list of strings")
    return tuple(value)


def _judge_params(data: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    params = _mapping(data, "judge_params", where)
    for judge, value in params.items():
        if not isinstance(value, Mapping):
            raise _fail(where, f"judge_params.{judge}", "expected a mapping of parameters")
    return {k: dict(v) for k, v in params.items()}


def parse_case(data: object, where: str) -> EvalCase:
    """Validate one raw case (a mapping) read at ``where`` (``file:line``).

    Raises:
        EvalError: A missing or mistyped field, or an unknown one; the message names ``where`` and the field.
    """
    if not isinstance(data, Mapping):
        raise _fail(where, None, f"a case must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - _FIELDS)
    if unknown:
        raise _fail(where, unknown[0], f"unknown field; valid fields: {', '.join(sorted(_FIELDS))}")
    case_id = data.get("id")
    if isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    if not isinstance(case_id, str) or not case_id.strip():
        raise _fail(where, "id", "required: a non-empty string")
    if data.get("input") is None and not data.get("variables"):
        raise _fail(where, "input", "a case needs 'input' or 'variables'")
    return EvalCase(
        id=case_id,
        input=_text(data, "input", where),
        variables=_mapping(data, "variables", where),
        expected_output=_text(data, "expected_output", where),
        tags=_tags(data, where),
        judge_params=_judge_params(data, where),
        metadata=_mapping(data, "metadata", where),
        source=where,
    )


def _jsonl_items(path: Path, text: str) -> Iterable[tuple[object, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            yield json.loads(line), f"{path}:{number}"
        except ValueError as exc:
            raise EvalError(f"{path}:{number}: invalid JSON: {exc}") from None


def _yaml_items(path: Path, text: str) -> Iterable[tuple[object, str]]:
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise EvalError(f"{path}: invalid YAML: {exc}") from None
    if isinstance(data, Mapping) and "cases" in data:
        data = data["cases"]
        node = next(v for k, v in node.value if k.value == "cases") if node is not None else None
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        raise EvalError(f"{path}: expected a list of cases (or a mapping with a 'cases' list)")
    for item, item_node in zip(data, node.value, strict=True):
        yield item, f"{path}:{item_node.start_mark.line + 1}"


def load_dataset(path: str | Path) -> Dataset:
    """Read a JSONL (``.jsonl``) or YAML (``.yaml``/``.yml``) dataset.

    Raises:
        EvalError: Unreadable file, bad syntax, a bad case or a duplicate id (file, line and field named).
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise EvalError(f"dataset {file}: cannot read it ({exc.strerror or exc})") from None
    text = raw.decode("utf-8", errors="replace")
    if file.suffix == ".jsonl":
        items = _jsonl_items(file, text)
    elif file.suffix in (".yaml", ".yml"):
        items = _yaml_items(file, text)
    else:
        raise EvalError(f"dataset {file}: use a .jsonl, .yaml or .yml file")
    cases = tuple(parse_case(data, where) for data, where in items)
    if not cases:
        raise EvalError(f"dataset {file}: no cases")
    _check_unique(cases)
    return Dataset(file, "sha256:" + hashlib.sha256(raw).hexdigest(), cases)


def _check_unique(cases: Sequence[EvalCase]) -> None:
    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen:
            raise EvalError(f"{case.source}: field 'id': duplicate id {case.id!r} (first at {seen[case.id]})")
        seen[case.id] = case.source


def load_datasets(paths: Sequence[str | Path]) -> list[Dataset]:
    """Read several datasets; ids must be unique across all of them.

    Raises:
        EvalError: As :func:`load_dataset`, or an id repeated across files.
    """
    datasets = [load_dataset(p) for p in paths]
    _check_unique([case for d in datasets for case in d.cases])
    return datasets
