"""The sandboxed template engine: ``{{ name }}`` placeholders, strict, size-capped, no Python access.

Templates are compiled by a locked-down jinja2 ``ImmutableSandboxedEnvironment``: undefined names
raise, no globals (no ``range``, ``dict``, ``lipsum``...), no attribute access to Python objects
(mapping keys still work: ``{{ user.name }}``), no calls, a short list of safe filters, and
rendering is capped in CPU time and in the size of every value it builds (see
`llmguard.prompts._limits`). Output is streamed and capped. Values are data: they are rendered as
text once and never parsed as template syntax.

Literal braces: write ``{{ '{{' }}`` or wrap text in ``{% raw %}...{% endraw %}``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmguard.exceptions import PromptFormatError, PromptRenderError

from ._limits import (
    HELPER_FILTERS,
    check_binop,
    check_text,
    checked_join,
    checked_result,
    finish,
    guarded_filter,
    instrument,
    rendering,
)

__all__ = [
    "MAX_OUTPUT_CHARS",
    "MAX_TEMPLATE_CHARS",
    "compile_template",
    "referenced_names",
    "render_template",
]

MAX_TEMPLATE_CHARS = 100_000
"""Largest accepted template (one field), in characters."""
MAX_OUTPUT_CHARS = 1_000_000
"""Largest rendered output of one field, in characters."""

_SAFE_FILTERS = [
    "abs",
    "capitalize",
    "count",
    "d",
    "default",
    "first",
    "float",
    "int",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "round",
    "sort",
    "string",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
]


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False

    def is_safe_callable(self, obj: Any) -> bool:
        return False

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        check_binop(operator_, left, right)
        return checked_result(self.binop_table[operator_](left, right))


def _finalize(value: Any) -> Any:
    """Every output value: a container is measured before ``str`` turns it into text."""
    check_text(value)
    return value


@functools.cache
def _environment() -> _Environment:
    env = _Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize
    )
    env.globals.clear()
    env.filters = {name: guarded_filter(env.filters[name]) for name in _SAFE_FILTERS if name in env.filters}
    env.filters["join"] = checked_join
    env.filters.update(HELPER_FILTERS)
    env.tests = {name: env.tests[name] for name in ("defined", "undefined", "none", "number", "string")}
    return env


def _where(source: str | None, field: str) -> str:
    return f"{source or '<memory>'}: field {field}"


def _check_tree(tree: nodes.Template, where: str) -> None:
    for used in tree.find_all(nodes.Filter):
        if used.name in HELPER_FILTERS:
            raise PromptFormatError(f"{where}: unknown filter {used.name!r} (line {used.lineno})")
    for node in tree.find_all((nodes.Getattr, nodes.Call, nodes.Getitem)):
        if isinstance(node, nodes.Call):
            raise PromptFormatError(
                f"{where}: templates cannot call functions or methods (line {node.lineno})"
            )
        name = (
            node.attr
            if isinstance(node, nodes.Getattr)
            else getattr(getattr(node, "arg", None), "value", None)
        )
        if isinstance(name, str) and name.startswith("_"):
            raise PromptFormatError(
                f"{where}: templates cannot reach Python internals ({name!r}, line {node.lineno})"
            )


@functools.lru_cache(maxsize=2048)
def compile_template(text: str, source: str | None = None, field: str = "template") -> jinja2.Template:
    """Compile one template field, checking size and refusing calls and ``_private`` access.

    Raises:
        PromptFormatError: Too large, syntax error, or reaching for Python internals; names file and field.
    """
    where = _where(source, field)
    if len(text) > MAX_TEMPLATE_CHARS:
        raise PromptFormatError(
            f"{where}: template is {len(text)} characters; the limit is {MAX_TEMPLATE_CHARS}"
        )
    env = _environment()
    try:
        tree = env.parse(text)
        _check_tree(tree, where)
        checked, budgeted = instrument(tree)
        template = env.from_string(checked)
        template.llmguard_budgeted = budgeted  # type: ignore[attr-defined]
        return template
    except jinja2.TemplateSyntaxError as exc:  # also TemplateAssertionError: an unknown filter or test
        raise PromptFormatError(
            f"{where}: template syntax error on line {exc.lineno}: {exc.message}"
        ) from None
    except RecursionError:
        raise PromptFormatError(f"{where}: template is nested too deeply") from None


def referenced_names(template: jinja2.Template | str) -> set[str]:
    """The variable names a template reads (for ``validate``: every one must be declared)."""
    from jinja2 import meta

    text = template if isinstance(template, str) else None
    if text is None:  # pragma: no cover - callers pass source text
        return set()
    return set(meta.find_undeclared_variables(_environment().parse(text)))


def render_template(template: jinja2.Template, values: Mapping[str, Any], where: str) -> str:
    """Render under the output, CPU-time and work caps; every failure becomes `llmguard.PromptRenderError`."""
    size = 0
    parts: list[str] = []
    token = rendering() if getattr(template, "llmguard_budgeted", True) else None
    try:
        for chunk in template.generate(dict(values)):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise PromptRenderError(f"{where}: rendered output exceeds {MAX_OUTPUT_CHARS} characters")
            parts.append(chunk)
    except PromptRenderError:
        raise
    except jinja2.UndefinedError as exc:
        raise PromptRenderError(f"{where}: {exc.message}; declare it under 'variables:'") from None
    except SecurityError as exc:
        raise PromptRenderError(f"{where}: refused by the template sandbox: {exc}") from None
    except RecursionError:
        raise PromptRenderError(f"{where}: template error: values are nested too deeply") from None
    except Exception as exc:  # any failure of a user template on user values (e.g. ``n // 0``)
        raise PromptRenderError(f"{where}: template error: {type(exc).__name__}: {exc}") from None
    finally:
        if token is not None:
            finish(token)
    return "".join(parts)
