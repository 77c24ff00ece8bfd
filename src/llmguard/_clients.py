"""Building the drop-in clients: subclasses of the SDK clients with one extra keyword, ``guard=``.

Each class is the SDK class with the interception shell mixed in. ``isinstance(client,
openai.OpenAI)`` holds, ``copy()``/``with_options()`` keep the guard, and everything else,
return types, exceptions, retries, streaming, is the SDK's own.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ._intercept import anthropic_telemetry_default

if TYPE_CHECKING:
    from ._guard import Guard

__all__ = ["guarded_client_class"]

_GUARD_PARAM = inspect.Parameter(
    "guard", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="Guard | None"
)


def _with_guard(func: Any, original: Any) -> Any:
    signature = inspect.signature(original)
    params = list(signature.parameters.values())
    at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
    func.__signature__ = signature.replace(parameters=[*params[:at], _GUARD_PARAM, *params[at:]])
    func.__doc__ = original.__doc__
    func.__qualname__ = original.__qualname__
    return func


def guarded_client_class(base: type, shell: type, *, sdk_traces: bool) -> type:
    """Build the guarded subclass of an SDK client class."""

    def __init__(self: Any, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None:
        if sdk_traces:
            anthropic_telemetry_default(kwargs)
        base.__init__(self, *args, **kwargs)  # type: ignore[misc]
        self._llmguard_init(guard)

    def copy(self: Any, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Any:
        return self._llmguard_copy(base.copy(self, *args, **kwargs), guard)  # type: ignore[attr-defined]

    namespace = {
        "__init__": _with_guard(__init__, base.__init__),  # type: ignore[misc]
        "copy": _with_guard(copy, base.copy),  # type: ignore[attr-defined]
        "__module__": "llmguard",
        "__doc__": f"Drop-in `{base.__module__.split('.')[0]}.{base.__name__}` guarded by llmguard.\n\n"
        "Constructed exactly like the SDK class, plus the optional keyword ``guard=``.",
    }
    namespace["with_options"] = namespace["copy"]
    cls = type(base.__name__, (shell, base), namespace)
    cls.__qualname__ = base.__name__
    return cls
