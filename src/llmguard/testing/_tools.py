"""Tool calls a fake can answer with: `FakeToolUse` and the ``"auto"`` choice from the request's tools."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ._models import FakeRequest

__all__ = ["FakeToolUse", "ToolUseReply", "resolve_tool_uses"]


@dataclass(frozen=True)
class FakeToolUse:
    """One tool call for a fake to answer with (an Anthropic ``tool_use`` content block).

    Example:
        ```python
        fake = FakeAnthropic(tool_use=FakeToolUse("get_weather", {"city": "Paris"}))
        ```
    """

    name: str
    """The tool to call; it must be one of the request's ``tools``."""

    input: Mapping[str, Any] = field(default_factory=dict)
    """The arguments (a JSON object)."""

    id: str | None = None
    """The ``tool_use`` id; `None` derives ``toolu_fake_<sequence>_<index>``."""


ToolUseReply: TypeAlias = (
    FakeToolUse
    | Sequence[FakeToolUse]
    | Callable[[FakeRequest], "FakeToolUse | Sequence[FakeToolUse] | None"]
    | Literal["auto"]
    | None
)
"""What a fake answers a request that lists ``tools`` with: tool calls, a function of the
request returning them (`None` for a text reply), ``"auto"`` (the tool ``tool_choice`` names, else
the first tool, with arguments built from its input schema), or `None` (always text)."""

_PLACEHOLDERS: Mapping[str, Any] = {
    "string": "fake",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


def _example(schema: Any) -> Any:
    """A value matching a (simple) JSON schema: ``enum``/``default`` first, then by ``type``."""
    if not isinstance(schema, Mapping):
        return "fake"
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "string")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object":
        properties = schema.get("properties") or {}
        required = schema.get("required") or list(properties)
        return {name: _example(properties.get(name)) for name in required if isinstance(name, str)}
    return _PLACEHOLDERS.get(kind, "fake") if isinstance(kind, str) else "fake"


def _auto(request: FakeRequest, tools: Sequence[Mapping[str, Any]]) -> FakeToolUse | None:
    choice = request.body.get("tool_choice")
    wanted = choice.get("name") if isinstance(choice, Mapping) and choice.get("type") == "tool" else None
    tool = next((t for t in tools if wanted is None or t.get("name") == wanted), None)
    if tool is None or not isinstance(tool.get("name"), str):
        return None
    return FakeToolUse(tool["name"], _example(tool.get("input_schema") or {"type": "object"}))


def resolve_tool_uses(spec: ToolUseReply, request: FakeRequest) -> tuple[FakeToolUse, ...]:
    """The tool calls to answer ``request`` with; empty for a text reply.

    A request without ``tools``, or with ``tool_choice`` ``{"type": "none"}``, always gets text.
    """
    tools = request.body.get("tools")
    choice = request.body.get("tool_choice")
    if spec is None or not isinstance(tools, list) or not tools:
        return ()
    if isinstance(choice, Mapping) and choice.get("type") == "none":
        return ()
    chosen: FakeToolUse | Sequence[FakeToolUse] | None
    if spec == "auto":
        chosen = _auto(request, [t for t in tools if isinstance(t, Mapping)])
    elif callable(spec):
        chosen = spec(request)
    else:
        chosen = spec
    if chosen is None:
        return ()
    return (chosen,) if isinstance(chosen, FakeToolUse) else tuple(chosen)
