"""Reading version files: YAML in, a validated `PromptVersion` out, errors naming file and field.

A file with several problems gets one `PromptFormatError` listing every one of them (one line
each, ``field <path>: <problem>``), with a hint where a field is misplaced or misspelled
(``temperature`` at the top level belongs under ``parameters:``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from llmguard._internal import read_utf8
from llmguard.exceptions import PromptFormatError

from ._engine import compile_template
from ._model import ArtifactKind, FewShotExample, Message, PromptVersion, VariableSpec
from ._render import PARAMETERS, check_values

__all__ = [
    "FILE_NAME",
    "MAX_FILE_BYTES",
    "check_parts",
    "load_text",
    "parse_version_file",
    "read_text",
    "version_from_filename",
]

FILE_NAME = re.compile(r"^v?(?P<version>\d[^/]*)\.ya?ml$")
"""``v2.1.0.yaml`` or ``2.1.0.yaml`` (``.yml`` also accepted)."""
MAX_FILE_BYTES = 1_000_000
"""Largest version file accepted."""

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it: fast, and it refuses nesting deeper than 1,000 in
linear time (the pure-Python scanner is quadratic on deeply nested flow collections)."""

_PROMPT_ONLY = frozenset({"system_prompt", "few_shot_examples", "user_template", "messages"})
_CONFIG_ONLY = frozenset({"schema", "values"})


def version_from_filename(path: Path) -> str | None:
    """The version a file name declares, or None when it is not a version file."""
    match = FILE_NAME.match(path.name)
    return match.group("version") if match else None


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """A file's UTF-8 text; too large or undecodable becomes a `PromptFormatError` naming the file."""
    return read_utf8(path, limit, PromptFormatError, "file")


def load_text(text: str, source: str) -> Any:
    """Parse YAML safely; a syntax error or a too deeply nested document becomes a `PromptFormatError`."""
    try:
        return yaml.load(text, Loader=_LOADER)
    except RecursionError:
        raise PromptFormatError(f"{source}: malformed YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PromptFormatError(f"{source}:{line}: malformed YAML: {problem}") from None


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items() if not info.exclude]


_SET_BY_STORE = ("name", "kind", "label", "source")
_TOP_LEVEL = frozenset(_field_names(PromptVersion)) - set(_SET_BY_STORE)
_NESTED: dict[str, type[BaseModel]] = {
    "variables": VariableSpec,
    "schema": VariableSpec,
    "few_shot_examples": FewShotExample,
    "messages": Message,
}


def _known_fields(loc: tuple[int | str, ...]) -> frozenset[str]:
    """The field names valid where an unknown key ``loc[-1]`` was found."""
    if len(loc) == 1:
        return _TOP_LEVEL
    model = _NESTED.get(str(loc[0]))
    return frozenset(_field_names(model)) if model is not None else frozenset()


def _hint(loc: tuple[int | str, ...]) -> str:
    """Where an unknown key belongs, or the known field it is probably a misspelling of."""
    key = str(loc[-1])
    if len(loc) == 1 and key in PARAMETERS:
        return f"; {key!r} is a model parameter: it belongs under 'parameters:' (parameters.{key})"
    known = _known_fields(loc)
    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known fields: {', '.join(sorted(known))}" if known else ""


def _pydantic_problems(exc: ValidationError, skip: frozenset[tuple[int | str, ...]]) -> Iterator[str]:
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            yield f"field {_field_path(loc)}: unknown field{_hint(loc)}"
        elif loc not in skip:
            yield f"field {_field_path(loc)}: {error['msg']}"


def _problem_text(source: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    return f"{source}: {len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems)


def _kind_problems(data: Mapping[str, Any], kind: ArtifactKind) -> Iterator[str]:
    for wrong in sorted(set(data) & (_CONFIG_ONLY if kind == "prompt" else _PROMPT_ONLY)):
        yield f"field {wrong}: not allowed in a {kind} file"
    for key in _SET_BY_STORE:
        if key in data:
            yield f"field {key}: set by the store (folder and file name), not the file"


def _version_problems(data: Mapping[str, Any], expected_version: str | None) -> Iterator[str]:
    declared = data.get("version")
    if not isinstance(declared, str):
        yield 'field version: required, as a quoted string such as "2.1.0"'
    elif expected_version is not None and declared != expected_version:
        yield f"field version: {declared!r} disagrees with the file name (version {expected_version!r})"


def _parameter_problems(parameters: object) -> Iterator[str]:
    for key in parameters if isinstance(parameters, Mapping) else ():
        if key in _TOP_LEVEL:
            yield f"field parameters.{key}: {key!r} is a top-level field, not a model parameter; move it out of 'parameters:'"
        elif key not in PARAMETERS:
            yield f"field parameters.{key}: unknown; known: {', '.join(sorted(PARAMETERS))}"


def _parts_problems(version: PromptVersion, source: str) -> Iterator[str]:
    if version.messages and (version.system_prompt or version.few_shot_examples or version.user_template):
        yield "field messages: use either messages or system_prompt/few_shot/user_template"
    for i, msg in enumerate(version.messages):
        if msg.role == "system" and i > 0:
            yield f"field messages[{i}].role: a system message must come first"
    for field, text in version.templates().items():
        try:
            compile_template(text, source, field)
        except PromptFormatError as exc:
            yield str(exc).removeprefix(f"{source}: ")


def check_parts(version: PromptVersion, source: str) -> None:
    """Check parameters, message order and every template (size, syntax, no Python internals).

    Raises:
        PromptFormatError: Every problem found, one per line.
    """
    problems = [*_parameter_problems(version.parameters), *_parts_problems(version, source)]
    if problems:
        raise PromptFormatError(_problem_text(source, problems), problems=tuple(problems))


def _check_config(version: PromptVersion, source: str) -> None:
    if not version.config_schema:
        return
    try:
        check_values(version.config_schema, version.values, f"{source}: field values")
    except ValueError as exc:
        raise PromptFormatError(str(exc)) from None


def parse_version_file(
    data: Any, *, name: str, kind: ArtifactKind, source: str, expected_version: str | None = None
) -> PromptVersion:
    """Validate parsed YAML into a version.

    Args:
        data: The parsed document (must be a mapping).
        name: The prompt name (the folder).
        kind: ``prompt`` or ``config``.
        source: The file path, for messages.
        expected_version: The version the file name declares; a different ``version:`` is an error.

    Raises:
        PromptFormatError: Any problem, naming ``source`` and the field.
    """
    if not isinstance(data, Mapping):
        raise PromptFormatError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    problems = [
        *_kind_problems(data, kind),
        *_version_problems(data, expected_version),
        *_parameter_problems(data.get("parameters")),
    ]
    reported = frozenset({("version",)}) if not isinstance(data.get("version"), str) else frozenset()
    fields = {k: v for k, v in data.items() if k not in _SET_BY_STORE}
    try:
        version = PromptVersion.model_validate({**fields, "name": name, "kind": kind, "source": source})
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, reported))
    else:
        problems.extend(_parts_problems(version, source))
    if problems:
        raise PromptFormatError(_problem_text(source, problems), problems=tuple(problems))
    if kind == "config":
        _check_config(version, source)
    return version
