"""The version model: one immutable, reviewed prompt (or config) artifact and its identity hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import keyword
import re
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmguard._record import PromptRef
from llmguard.exceptions import PromptFormatError

from ._semver import Version, parse_version

if TYPE_CHECKING:
    from ._render import RenderedPrompt

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "VARIABLE_TYPES",
    "ArtifactKind",
    "FewShotExample",
    "Message",
    "PromptVersion",
    "VariableSpec",
    "check_name",
]

ArtifactKind = Literal["prompt", "config"]
VariableType = Literal["string", "integer", "number", "boolean", "list", "object"]
VARIABLE_TYPES: dict[str, VariableType] = {
    "string": "string",
    "str": "string",
    "integer": "integer",
    "int": "integer",
    "number": "number",
    "float": "number",
    "boolean": "boolean",
    "bool": "boolean",
    "list": "list",
    "array": "list",
    "object": "object",
    "dict": "object",
}
"""Accepted ``type:`` spellings -> canonical type."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe prompt name (one path segment, no traversal).

    Raises:
        PromptFormatError: The name could escape the store's folder or has odd characters.
    """
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise PromptFormatError(
            f"invalid prompt name {name!r}: use letters, digits, '.', '_' and '-' "
            "(one path segment, no '..', at most 128 characters)"
        )
    return name


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VariableSpec(_Frozen):
    """A declared template variable (or config field): its type, default and description."""

    type: VariableType = "string"
    default: Any = None
    required: bool | None = None
    """Defaults to True when there is no default."""
    description: str | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _canonical_type(cls, value: Any) -> Any:
        return VARIABLE_TYPES.get(value, value) if isinstance(value, str) else value

    @property
    def is_required(self) -> bool:
        """Whether a value must be given (no default, or ``required: true``)."""
        return self.required if self.required is not None else self.default is None


class FewShotExample(_Frozen):
    """One example exchange: a user turn and the assistant's answer."""

    user: str
    assistant: str


class Message(_Frozen):
    """One templated message of a full message list (``system``, ``user`` or ``assistant``)."""

    role: Literal["system", "user", "assistant"]
    content: str


class PromptVersion(_Frozen):
    """One immutable version of a prompt or config artifact, as reviewed in git.

    Identity is `content_hash`, over the template parts, variables, model and parameters
    only: editing metadata (eval score, author, dates, description, tags) never changes it.
    """

    name: str
    version: str
    kind: ArtifactKind = "prompt"
    model: str | None = None
    """The model the prompt was designed for."""
    system_prompt: str | None = None
    few_shot_examples: tuple[FewShotExample, ...] = ()
    user_template: str | None = None
    messages: tuple[Message, ...] = ()
    """A full message list, instead of system prompt / few-shot examples / user template."""
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    config_schema: dict[str, VariableSpec] = Field(default_factory=dict, alias="schema")
    """Config kind: the declared fields of `values`."""
    values: dict[str, Any] = Field(default_factory=dict)
    """Config kind: the settings (chunk size, embedding model, top-k...)."""
    eval_score: float | None = None
    author: str | None = None
    created_at: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    source: str | None = Field(default=None, exclude=True)
    """Where the version was read from (a file path), for error messages."""
    label: str | None = Field(default=None, exclude=True)
    """The label this copy was resolved through (set by the registry, never by a file)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("created_at", mode="before")
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        parse_version(value)
        return value

    @field_validator("variables", "config_schema")
    @classmethod
    def _identifiers(cls, value: dict[str, VariableSpec]) -> dict[str, VariableSpec]:
        for key in value:
            if not key.isidentifier() or keyword.iskeyword(key):
                raise ValueError(f"variable name {key!r} must be a Python identifier")
        return value

    @cached_property
    def semver(self) -> Version:
        """The parsed version."""
        return parse_version(self.version)

    @cached_property
    def content_hash(self) -> str:
        """``sha256:<hex>`` of a canonical JSON of the parts that define behaviour."""
        return "sha256:" + hashlib.sha256(canonical_json(self).encode()).hexdigest()

    @cached_property
    def ref(self) -> PromptRef:
        """The identity recorded on calls made with this version."""
        return PromptRef(
            name=self.name,
            version=self.version,
            label=self.label,
            content_hash=self.content_hash,
            model=self.model,
            tags=self.tags,
        )

    def templates(self) -> dict[str, str]:
        """Every template string, keyed by its field path (e.g. ``few_shot_examples[0].user``)."""
        out: dict[str, str] = {}
        if self.system_prompt is not None:
            out["system_prompt"] = self.system_prompt
        for i, ex in enumerate(self.few_shot_examples):
            out[f"few_shot_examples[{i}].user"] = ex.user
            out[f"few_shot_examples[{i}].assistant"] = ex.assistant
        if self.user_template is not None:
            out["user_template"] = self.user_template
        for i, msg in enumerate(self.messages):
            out[f"messages[{i}].content"] = msg.content
        return out

    def render(self, /, **variables: object) -> RenderedPrompt:
        """Render with typed, checked variables; then ``.openai_chat()``, ``.openai_responses()``...

        Raises:
            PromptRenderError: Missing, unknown or mistyped variables, or a template error.
        """
        from ._render import render

        return render(self, variables)

    @property
    def settings(self) -> dict[str, Any]:
        """Config kind: `values` with the schema's defaults filled in."""
        merged = {k: s.default for k, s in self.config_schema.items() if s.default is not None}
        merged.update(self.values)
        return merged

    def parse(self, schema: type[M]) -> M:
        """Config kind: validate `settings` into your own pydantic model (a declared schema in code)."""
        return schema.model_validate(self.settings)

    def with_label(self, label: str | None) -> PromptVersion:
        """A copy resolved through ``label`` (metadata only; the hash is unchanged)."""
        copy = self.model_copy(update={"label": label})
        copy.__dict__["content_hash"] = self.content_hash
        return copy


def canonical_json(version: PromptVersion) -> str:
    """The canonical JSON the content hash is computed over (sorted keys, no whitespace)."""
    body: dict[str, Any] = {
        "kind": version.kind,
        "model": version.model,
        "parameters": version.parameters,
        "variables": {k: v.model_dump(mode="json") for k, v in version.variables.items()},
    }
    if version.kind == "config":
        body["schema"] = {k: v.model_dump(mode="json") for k, v in version.config_schema.items()}
        body["values"] = version.values
    else:
        body["system_prompt"] = version.system_prompt
        body["few_shot_examples"] = [ex.model_dump(mode="json") for ex in version.few_shot_examples]
        body["user_template"] = version.user_template
        body["messages"] = [m.model_dump(mode="json") for m in version.messages]
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
