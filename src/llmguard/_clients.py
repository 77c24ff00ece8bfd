"""Building the drop-in clients: subclasses of the SDK clients with one extra keyword, ``guard=``.

Each class is the SDK class with the interception shell mixed in. ``isinstance(client,
openai.OpenAI)`` holds, ``copy()``/``with_options()`` keep the guard, and everything else,
return types, exceptions, retries, streaming, is the SDK's own.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ._intercept import anthropic_telemetry_default, check_guard, shell_namespace

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


def _as_sdk_class(self: Any, base: type, construct: Any) -> None:
    """Run ``construct()`` while ``self`` is the SDK's own class (nothing else holds ``self`` yet)."""
    guarded = self.__class__
    self.__class__ = base
    try:
        construct()
    finally:
        self.__class__ = guarded


def _copy_as_sdk_class(self: Any, base: type, *args: Any, **kwargs: Any) -> Any:
    """The SDK's ``copy`` run on a view of ``self`` typed as the SDK class, re-typed as guarded.

    ``anthropic.Anthropic`` inherits credential providers and token caches on copy, and runs its
    default credential chain on construction, only when ``type(client)`` is the SDK class itself;
    the view (sharing ``self``'s state, never mutating it) keeps that behaviour for guarded clients.
    """
    view: Any = object.__new__(base)
    view.__dict__ = self.__dict__
    new = base.copy(view, *args, **kwargs)  # type: ignore[attr-defined]
    new.__class__ = type(self)
    new._llmguard_init(None)
    return new


def guarded_client_class(base: type, *, is_async: bool, sdk_traces: bool, sdk_identity: bool = False) -> type:
    """Build the guarded subclass of an SDK client class.

    Args:
        base: The SDK client class.
        is_async: ``base`` is an asynchronous client.
        sdk_traces: The SDK traces itself (Anthropic): turn its spans off unless configured.
        sdk_identity: The SDK gives its own class behaviour that subclasses lose (Anthropic's
            credential chain and copy): construct and copy as the SDK class.
    """
    sdk_init: Any = base.__init__  # type: ignore[misc]
    # anthropic >= 1.14 traces itself; earlier releases have no ``open_telemetry=`` keyword at all.
    sdk_traces = sdk_traces and "open_telemetry" in inspect.signature(sdk_init).parameters

    def __init__(self: Any, *args: Any, guard: Guard | None = None, **kwargs: Any) -> None:
        check_guard(guard)  # before the SDK builds its HTTP client
        if sdk_traces:
            anthropic_telemetry_default(kwargs)
        if sdk_identity:
            _as_sdk_class(self, base, lambda: sdk_init(self, *args, **kwargs))
        else:
            sdk_init(self, *args, **kwargs)
        self._llmguard_init(guard)

    def copy(self: Any, *args: Any, guard: Guard | None = None, **kwargs: Any) -> Any:
        check_guard(guard)
        if sdk_identity:
            return self._llmguard_copy(_copy_as_sdk_class(self, base, *args, **kwargs), guard)
        return self._llmguard_copy(base.copy(self, *args, **kwargs), guard)  # type: ignore[attr-defined]

    # The constructor's run-time signature stays the SDK's (the SDKs' own tests enumerate it);
    # ``guard=`` is in the static types and in ``copy()``'s signature.
    __init__.__signature__ = inspect.signature(sdk_init)  # type: ignore[attr-defined]
    __init__.__doc__ = sdk_init.__doc__
    namespace = {
        **shell_namespace(base, is_async=is_async),
        "__init__": __init__,
        "copy": _with_guard(copy, base.copy),  # type: ignore[attr-defined]
        "__module__": "llmguard",
        "__doc__": f"Drop-in `{base.__module__.split('.')[0]}.{base.__name__}` guarded by llmguard.\n\n"
        "Constructed exactly like the SDK class, plus the optional keyword ``guard=``.",
    }
    namespace["with_options"] = namespace["copy"]
    cls = type(base.__name__, (base,), namespace)
    cls.__qualname__ = base.__name__
    return cls
