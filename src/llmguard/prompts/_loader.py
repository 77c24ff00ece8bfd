"""Reading version files: YAML in, a validated `PromptVersion` out, errors naming file and field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from llmguard.exceptions import PromptFormatError

from ._engine import compile_template
from ._model import ArtifactKind, PromptVersion
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
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PromptFormatError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise PromptFormatError(f"{path}: file is {len(data)} bytes; the limit is {limit}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptFormatError(
            f"{path}: not valid UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); save it as UTF-8"
        ) from None


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


def _validation_message(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    field = _field_path(tuple(first["loc"]))
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{source}: field {field}: {first['msg']}{more}"


def _check_kind(data: Mapping[str, Any], kind: ArtifactKind, source: str) -> None:
    wrong = sorted(set(data) & (_CONFIG_ONLY if kind == "prompt" else _PROMPT_ONLY))
    if wrong:
        raise PromptFormatError(f"{source}: field {wrong[0]}: not allowed in a {kind} file")
    for key in ("name", "kind", "label", "source"):
        if key in data:
            raise PromptFormatError(
                f"{source}: field {key}: set by the store (folder and file name), not the file"
            )


def check_parts(version: PromptVersion, source: str) -> None:
    """Check parameters, message order and every template (size, syntax, no Python internals)."""
    for key in version.parameters:
        if key not in PARAMETERS:
            raise PromptFormatError(
                f"{source}: field parameters.{key}: unknown; known: {', '.join(sorted(PARAMETERS))}"
            )
    if version.messages and (version.system_prompt or version.few_shot_examples or version.user_template):
        raise PromptFormatError(
            f"{source}: field messages: use either messages or system_prompt/few_shot/user_template"
        )
    for i, msg in enumerate(version.messages):
        if msg.role == "system" and i > 0:
            raise PromptFormatError(f"{source}: field messages[{i}].role: a system message must come first")
    for field, text in version.templates().items():
        compile_template(text, source, field)


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
    _check_kind(data, kind, source)
    declared = data.get("version")
    if not isinstance(declared, str):
        raise PromptFormatError(f'{source}: field version: required, as a quoted string such as "2.1.0"')
    if expected_version is not None and declared != expected_version:
        raise PromptFormatError(
            f"{source}: field version: {declared!r} disagrees with the file name (version {expected_version!r})"
        )
    try:
        version = PromptVersion.model_validate({**data, "name": name, "kind": kind, "source": source})
    except ValidationError as exc:
        raise PromptFormatError(_validation_message(exc, source)) from None
    check_parts(version, source)
    if kind == "config":
        _check_config(version, source)
    return version
