"""The judge registry: names used verbatim by config files and eval suites, and ``module:attr`` strings.

A judge spec is a judge object, a plain callable, a registered name (``"no_refusal"``), a
``"package.module:attr"`` string (a judge object, a judge class or factory, or a plain callable),
a ``(name, params)`` pair, or a mapping ``{"name": ..., **params}`` (the config-file form).
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from llmguard.exceptions import ConfigurationError

from ._embedding import EmbeddingSimilarity
from ._llm import LLMJudge
from ._rules import ContainsKeywords, JsonValid, MinLength, NoRefusal, Regex, as_judge
from ._types import Judge

if TYPE_CHECKING:
    from llmguard._guard import Guard

__all__ = ["register_judge", "registered_judges", "resolve_judge", "resolve_judges"]

_registry: dict[str, Callable[..., Any]] = {
    "contains_keywords": ContainsKeywords,
    "embedding_similarity": EmbeddingSimilarity,
    "json_valid": JsonValid,
    "llm_judge": LLMJudge,
    "min_length": MinLength,
    "no_refusal": NoRefusal,
    "regex": Regex,
}
_lock = threading.Lock()


def register_judge(name: str, factory: Callable[..., Any]) -> None:
    """Register a judge class or factory under ``name`` (called with the spec's parameters)."""
    with _lock:
        _registry[name] = factory


def registered_judges() -> list[str]:
    """The registered judge names, sorted."""
    return sorted(_registry)


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    try:
        value: Any = importlib.import_module(module)
        for part in attr.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"judge {target!r}: cannot import it ({exc})") from exc
    return value


def _build(factory: Callable[..., Any], params: Mapping[str, Any], guard: Guard | None, spec: str) -> Any:
    kwargs = dict(params)
    try:
        accepts_guard = "guard" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepts_guard = False
    if accepts_guard and guard is not None:
        kwargs.setdefault("guard", guard)
    try:
        return factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"judge {spec!r}: invalid parameters {sorted(params)}: {exc}") from exc


def resolve_judge(spec: Any, *, guard: Guard | None = None, **params: Any) -> Judge:
    """Turn a judge spec (see the module docs) into an object implementing `Judge`.

    Raises:
        ConfigurationError: An unknown name, an unimportable ``module:attr`` or bad parameters.
    """
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Mapping):
        return resolve_judge(spec[0], guard=guard, **{**spec[1], **params})
    if isinstance(spec, Mapping):
        data = dict(spec)
        if "name" not in data:
            raise ConfigurationError(f"judge {spec!r}: a judge table needs a 'name' key")
        return resolve_judge(data.pop("name"), guard=guard, **{**data, **params})
    if isinstance(spec, str):
        return _from_string(spec, guard, params)
    if params:
        raise ConfigurationError(f"judge {spec!r}: parameters only apply to names and module:attr strings")
    try:
        judge: Judge = as_judge(spec)
    except TypeError as exc:
        raise ConfigurationError(f"judge {spec!r}: {exc}") from None
    return judge


def _from_string(spec: str, guard: Guard | None, params: Mapping[str, Any]) -> Judge:
    if ":" in spec:
        target = _import(spec)
        if inspect.isclass(target) or (params and callable(target)):
            return as_judge(_build(target, params, guard, spec))  # type: ignore[no-any-return]
        return resolve_judge(target, guard=guard, **params)
    factory = _registry.get(spec)
    if factory is None:
        raise ConfigurationError(
            f"unknown judge {spec!r}; registered judges: {', '.join(registered_judges())} "
            "(or name one as 'package.module:attr')"
        )
    return as_judge(_build(factory, params, guard, spec))  # type: ignore[no-any-return]


def resolve_judges(specs: Any, *, guard: Guard | None = None) -> list[Judge]:
    """Resolve one spec or an iterable of specs (``None`` -> no judges)."""
    if specs is None:
        return []
    single = isinstance(specs, tuple) and len(specs) == 2 and isinstance(specs[1], Mapping)
    if single or isinstance(specs, str | Mapping) or not isinstance(specs, Iterable):
        specs = [specs]
    return [resolve_judge(spec, guard=guard) for spec in specs]
