"""Rendering: typed variables in, messages built as data out, in each provider's request shape.

Each template field renders into exactly one message's content; roles come from the file's
structure, never from text, so no value can add, remove or re-role a message. The provider
shapes are TypedDicts, so ``client.chat.completions.create(**rendered.openai_chat())`` type-checks
under mypy strict, and carry the prompt's identity in ``extra_headers`` (read and removed by
llmguard's interception core, never sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from llmguard._record import PROMPT_HEADER, PromptRef, encode_prompt_header
from llmguard.exceptions import PromptRenderError

from ._engine import compile_template, render_template
from ._model import PromptVersion, VariableSpec

if TYPE_CHECKING:
    from anthropic.types import MessageParam
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.responses import ResponseInputParam

__all__ = [
    "AnthropicMessagesKwargs",
    "OpenAIChatKwargs",
    "OpenAIResponsesKwargs",
    "RenderedPrompt",
    "check_values",
    "render",
]

Role = Literal["user", "assistant"]


class OpenAIChatKwargs(TypedDict):
    """Keyword arguments for ``client.chat.completions.create``."""

    model: str
    messages: list[ChatCompletionMessageParam]
    extra_headers: dict[str, str]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    max_completion_tokens: NotRequired[int]
    stop: NotRequired[list[str]]
    seed: NotRequired[int]
    presence_penalty: NotRequired[float]
    frequency_penalty: NotRequired[float]


class OpenAIResponsesKwargs(TypedDict):
    """Keyword arguments for ``client.responses.create``."""

    model: str
    input: ResponseInputParam
    extra_headers: dict[str, str]
    instructions: NotRequired[str]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    max_output_tokens: NotRequired[int]


class AnthropicMessagesKwargs(TypedDict):
    """Keyword arguments for ``client.messages.create`` (the system prompt is separate)."""

    model: str
    messages: list[MessageParam]
    max_tokens: int
    extra_headers: dict[str, str]
    system: NotRequired[str]
    temperature: NotRequired[float]
    top_p: NotRequired[float]
    top_k: NotRequired[int]
    stop_sequences: NotRequired[list[str]]


_PARAMS: dict[str, dict[str, str]] = {
    "openai_chat": {
        "temperature": "temperature",
        "top_p": "top_p",
        "max_tokens": "max_completion_tokens",
        "stop": "stop",
        "seed": "seed",
        "presence_penalty": "presence_penalty",
        "frequency_penalty": "frequency_penalty",
    },
    "openai_responses": {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_output_tokens"},
    "anthropic_messages": {
        "temperature": "temperature",
        "top_p": "top_p",
        "top_k": "top_k",
        "stop": "stop_sequences",
    },
}
PARAMETERS = frozenset(p for table in _PARAMS.values() for p in table) | {"max_tokens"}
"""Model parameters a prompt file may declare under ``parameters:``."""

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list, tuple),
    "object": (Mapping,),
}


def _type_ok(spec: VariableSpec, value: object) -> bool:
    if isinstance(value, bool) and spec.type != "boolean":
        return False
    return isinstance(value, _TYPES[spec.type])


def check_values(
    declared: Mapping[str, VariableSpec], given: Mapping[str, object], where: str
) -> dict[str, object]:
    """Apply defaults and check names and types; raise naming every offending variable.

    Raises:
        PromptRenderError: Missing, unknown or mistyped values.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise PromptRenderError(
            f"{where}: unknown variable(s) {', '.join(unknown)}; declared: {sorted(declared)}"
        )
    missing = sorted(k for k, s in declared.items() if k not in given and s.is_required)
    if missing:
        raise PromptRenderError(f"{where}: missing variable(s) {', '.join(missing)}")
    values = {k: s.default for k, s in declared.items() if s.default is not None}
    values.update(given)
    for key, value in values.items():
        if value is not None and not _type_ok(declared[key], value):
            raise PromptRenderError(
                f"{where}: variable {key!r} must be {declared[key].type}, got {type(value).__name__}"
            )
    return values


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A rendered prompt: a system prompt and messages as data, plus its identity and model settings.

    Attributes:
        ref: The prompt's identity (name, version, label, hash, designed-for model).
        model: The model the prompt was designed for.
        parameters: Model parameters from the file.
        system: The rendered system prompt, if any.
        messages: ``(role, content)`` pairs in order (user/assistant only).
    """

    ref: PromptRef
    model: str | None
    parameters: Mapping[str, Any]
    system: str | None
    messages: tuple[tuple[Role, str], ...]

    def with_user(self, content: str) -> RenderedPrompt:
        """A copy with one more user message (as data: its text is never interpreted)."""
        return replace(self, messages=(*self.messages, ("user", str(content))))

    def with_assistant(self, content: str) -> RenderedPrompt:
        """A copy with one more assistant message."""
        return replace(self, messages=(*self.messages, ("assistant", str(content))))

    @property
    def headers(self) -> dict[str, str]:
        """The ``extra_headers`` linking a call to this prompt (removed before sending)."""
        return {PROMPT_HEADER: encode_prompt_header(self.ref)}

    def _model(self, model: str | None) -> str:
        chosen = model or self.model
        if not chosen:
            raise PromptRenderError(
                f"prompt {self.ref.name}@{self.ref.version} declares no model; pass model="
            )
        return chosen

    def _params(self, target: str) -> dict[str, Any]:
        table = _PARAMS[target]
        out: dict[str, Any] = {}
        for key, value in self.parameters.items():
            if key not in table:
                if target == "anthropic_messages" and key == "max_tokens":
                    continue
                raise PromptRenderError(
                    f"prompt {self.ref.name}@{self.ref.version}: parameter {key!r} is not supported by {target}"
                )
            out[table[key]] = list(value) if key == "stop" else value
        return out

    def openai_chat(self, *, model: str | None = None) -> OpenAIChatKwargs:
        """Kwargs for ``client.chat.completions.create(**...)``; ``model`` overrides the designed-for model."""
        messages: list[ChatCompletionMessageParam] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system})
        for role, content in self.messages:
            if role == "user":
                messages.append({"role": "user", "content": content})
            else:
                messages.append({"role": "assistant", "content": content})
        kwargs: OpenAIChatKwargs = {
            "model": self._model(model),
            "messages": messages,
            "extra_headers": self.headers,
        }
        kwargs.update(self._params("openai_chat"))  # type: ignore[typeddict-item]
        return kwargs

    def openai_responses(self, *, model: str | None = None) -> OpenAIResponsesKwargs:
        """Kwargs for ``client.responses.create(**...)`` (system prompt as ``instructions``)."""
        items: ResponseInputParam = []
        for role, content in self.messages:
            items.append({"role": role, "content": content, "type": "message"})
        kwargs: OpenAIResponsesKwargs = {
            "model": self._model(model),
            "input": items,
            "extra_headers": self.headers,
        }
        if self.system is not None:
            kwargs["instructions"] = self.system
        kwargs.update(self._params("openai_responses"))  # type: ignore[typeddict-item]
        return kwargs

    def anthropic_messages(
        self, *, model: str | None = None, max_tokens: int | None = None
    ) -> AnthropicMessagesKwargs:
        """Kwargs for ``client.messages.create(**...)``, system prompt separate.

        ``max_tokens`` (required by Anthropic) comes from the argument or ``parameters.max_tokens``.
        """
        limit = max_tokens if max_tokens is not None else self.parameters.get("max_tokens")
        if not isinstance(limit, int):
            raise PromptRenderError(
                f"prompt {self.ref.name}@{self.ref.version}: Anthropic needs max_tokens; "
                "set parameters.max_tokens in the file or pass max_tokens="
            )
        messages: list[MessageParam] = []
        for role, content in self.messages:
            if role == "user":
                messages.append({"role": "user", "content": content})
            else:
                messages.append({"role": "assistant", "content": content})
        kwargs: AnthropicMessagesKwargs = {
            "model": self._model(model),
            "messages": messages,
            "max_tokens": limit,
            "extra_headers": self.headers,
        }
        if self.system is not None:
            kwargs["system"] = self.system
        kwargs.update(self._params("anthropic_messages"))  # type: ignore[typeddict-item]
        return kwargs


def _field(version: PromptVersion, field: str, text: str, values: Mapping[str, object]) -> str:
    template = compile_template(text, version.source, field)
    return render_template(template, values, f"{version.source or version.name}: field {field}")


def render(version: PromptVersion, values: Mapping[str, object]) -> RenderedPrompt:
    """Render every template field of ``version`` with typed, checked ``values``.

    Raises:
        PromptRenderError: Missing, unknown or mistyped variables, or a template error.
    """
    if version.kind != "prompt":
        raise PromptRenderError(
            f"{version.name}@{version.version} is a config artifact; read .values instead"
        )
    where = f"prompt {version.name}@{version.version}"
    checked = check_values(version.variables, values, where)
    system = (
        None
        if version.system_prompt is None
        else _field(version, "system_prompt", version.system_prompt, checked)
    )
    messages: list[tuple[Role, str]] = []
    for i, ex in enumerate(version.few_shot_examples):
        messages.append(("user", _field(version, f"few_shot_examples[{i}].user", ex.user, checked)))
        messages.append(
            ("assistant", _field(version, f"few_shot_examples[{i}].assistant", ex.assistant, checked))
        )
    system_parts = [system] if system is not None else []
    for i, msg in enumerate(version.messages):
        content = _field(version, f"messages[{i}].content", msg.content, checked)
        if msg.role == "system":
            system_parts.append(content)
        else:
            messages.append((msg.role, content))
    if version.user_template is not None:
        messages.append(("user", _field(version, "user_template", version.user_template, checked)))
    joined = "\n\n".join(system_parts) if system_parts else None
    return RenderedPrompt(version.ref, version.model, dict(version.parameters), joined, tuple(messages))
