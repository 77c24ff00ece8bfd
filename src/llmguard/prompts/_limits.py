"""Resource caps of template rendering: a CPU-time cap and a work (memory) cap per rendered field.

The sandbox refuses calls and Python internals; these caps bound what is left. A rendering
pass holds a `RenderBudget` in a context variable. Every loop step, every emitted value and
every value built by ``~``, ``+``, ``*``, ``**``, ``%`` or ``join`` is charged to it, so a
template cannot run past `MAX_RENDER_CPU_S` of CPU time nor build more than `MAX_WORK_CHARS`
characters (the sum over every intermediate value, buffered blocks included), and no single
integer may exceed `MAX_INT_BITS`. Over a cap, `jinja2.sandbox.SecurityError` is raised, which
`render_template` turns into `llmguard.PromptRenderError`.

The template's syntax tree is rewritten once, at compile time (`instrument`), to route loops,
output and ``~`` through the checked helpers below.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jinja2 import Environment, nodes, pass_context, pass_environment
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from jinja2.visitor import NodeTransformer

__all__ = [
    "HELPER_FILTERS",
    "MAX_INT_BITS",
    "MAX_RENDER_CPU_S",
    "MAX_VALUE_CHARS",
    "MAX_WORK_CHARS",
    "RenderBudget",
    "check_binop",
    "check_text",
    "checked_join",
    "checked_result",
    "finish",
    "guarded_filter",
    "instrument",
    "rendering",
    "text_size",
]

MAX_RENDER_CPU_S = 2.0
"""CPU seconds one template field may take to render."""
MAX_VALUE_CHARS = 1_000_000
"""Largest string or list one template expression may build."""
MAX_WORK_CHARS = 16_000_000
"""Characters (and list items) one field's rendering may build in all, intermediate values included."""
MAX_INT_BITS = 16_384
"""Largest integer a template may compute (about 4,900 decimal digits)."""

_TICK_EVERY = 32
_FORMAT_WIDTH = re.compile(r"%[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")


class RenderBudget:
    """The CPU deadline and the work left to one rendering pass."""

    __slots__ = ("cpu_seconds", "deadline", "steps", "work")

    def __init__(self, cpu_seconds: float, work: int) -> None:
        self.cpu_seconds = cpu_seconds
        self.deadline: float | None = None  # set on the first check: most renders never need the clock
        self.work = work
        self.steps = 0

    def tick(self) -> None:
        """Count one step; every few steps, check the CPU deadline."""
        self.steps += 1
        if not self.steps % _TICK_EVERY:
            self.check()

    def check(self) -> None:
        """Raise when the CPU deadline has passed (the first check starts the clock)."""
        now = time.thread_time()
        if self.deadline is None:
            self.deadline = now + self.cpu_seconds
        elif now > self.deadline:
            raise SecurityError(f"rendering took more than {self.cpu_seconds:g} s of CPU time")

    def charge(self, size: int) -> None:
        """Account for a value of ``size`` characters or items just built."""
        self.work -= size
        if self.work < 0:
            raise SecurityError(f"rendering would build more than {MAX_WORK_CHARS} characters in all")
        self.tick()


_current: contextvars.ContextVar[RenderBudget | None] = contextvars.ContextVar(
    "llmguard_render_budget", default=None
)


def rendering() -> contextvars.Token[RenderBudget | None]:
    """Start a rendering pass with a fresh budget (reset the returned token when done)."""
    return _current.set(RenderBudget(MAX_RENDER_CPU_S, MAX_WORK_CHARS))


def finish(token: contextvars.Token[RenderBudget | None]) -> None:
    """End the rendering pass started by `rendering`."""
    _current.reset(token)


def _charge(value: str | list[Any] | tuple[Any, ...]) -> None:
    budget = _current.get()
    if budget is not None:
        budget.charge(len(value))


def text_size(value: object, limit: int = MAX_VALUE_CHARS) -> int:
    """About how many characters ``str(value)`` would have; stops counting once past ``limit``.

    Containers are walked (iteratively, so cycles and depth cost nothing extra), so a short list
    holding long strings cannot be turned into a huge string by ``str``, ``~``, ``%`` or a filter.
    """
    total = 0
    stack: list[object] = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 2
        else:
            total += 24
    return total


def check_text(value: object) -> None:
    """Refuse a value whose text form would exceed `MAX_VALUE_CHARS`, before it is built."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return
    _check_value(text_size(value))


def guarded_filter(fn: Any) -> Any:
    """``fn`` with its input's text size checked first (filters turn values into text)."""
    pass_arg = getattr(fn, "jinja_pass_arg", None)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        check_text(args[1] if pass_arg is not None else args[0])
        return fn(*args, **kwargs)

    if pass_arg is not None:
        guarded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return guarded


def _sized(value: object) -> int:
    return text_size(value) if not isinstance(value, str | int | float | bool) and value is not None else 0


def _check_value(size: int) -> None:
    if size > MAX_VALUE_CHARS:
        raise SecurityError(f"a value of {size} characters exceeds the cap of {MAX_VALUE_CHARS}")


def _check_int(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise SecurityError(f"an integer of about {bits} bits exceeds the cap of {MAX_INT_BITS}")


def _ints(*values: object) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _format_size(fmt: str) -> int:
    """The widest field a ``%`` format asks for (``*`` widths are refused)."""
    widest = 0
    for match in _FORMAT_WIDTH.finditer(fmt):
        for part in match.groups():
            if part == "*":
                raise SecurityError("'*' widths are not allowed in '%' formats")
            if part:
                widest = max(widest, int(part) if len(part) < 10 else MAX_VALUE_CHARS + 1)
    return widest


def check_binop(operator_: str, left: Any, right: Any) -> None:
    """Refuse an arithmetic operation whose result would exceed a cap, before computing it."""
    if operator_ == "**":
        if isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if _ints(left, right) and right > 0:
            _check_int(max(left.bit_length(), 1) * int(right))
    elif operator_ == "*":
        if _ints(left, right):
            _check_int(left.bit_length() + right.bit_length())
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                _check_value(len(seq) * count)
    elif operator_ == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            _check_value(len(left) + len(right))
    elif operator_ == "%" and isinstance(left, str):
        _check_value(len(left) + _format_size(left) + _sized(right))


def checked_result(value: Any) -> Any:
    """Charge a computed value to the pass's budget and return it."""
    if isinstance(value, str | list | tuple):
        _charge(value)
    else:
        _tick()
    return value


def _tick() -> None:
    budget = _current.get()
    if budget is not None:
        budget.tick()


@pass_environment
def checked_join(environment: Environment, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    """The ``join`` filter with the size checked before the string is built."""
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    items = list(value)
    for item in items:
        check_text(item)
    items = [str(item) for item in items]
    total = sum(len(item) for item in items) + len(str(d)) * max(len(items) - 1, 0)
    _check_value(total)
    return checked_result(str(d).join(items))  # type: ignore[no-any-return]


@pass_context  # never folded at compile time: the checks run while rendering
def _concat(context: Context, parts: tuple[Any, ...]) -> str:
    for part in parts:
        check_text(part)
    texts = [str(part) for part in parts]
    _check_value(sum(len(t) for t in texts))
    return checked_result("".join(texts))  # type: ignore[no-any-return]


@pass_context
def _loop(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _current.get()
    if budget is None:
        yield from iterable
        return
    for steps, item in enumerate(iterable, start=1):
        if not steps % _TICK_EVERY:
            budget.check()
        yield item


@pass_context
def _out(context: Context, value: Any) -> Any:
    return checked_result(value)


HELPER_FILTERS: dict[str, Any] = {"llmguard_loop": _loop, "llmguard_out": _out, "llmguard_concat": _concat}
"""Filters the rewritten tree calls (their names are refused in user templates)."""


def _filter(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Instrument(NodeTransformer):
    """Checks loops and ``~`` everywhere, and output where it is buffered (``set`` and ``filter`` blocks).

    Other output, in loops too, is streamed and capped by `render_template` itself.
    """

    def __init__(self) -> None:
        self.depth = 0

    def _nested(self, node: nodes.Node) -> None:
        self.depth += 1
        try:
            self.generic_visit(node)
        finally:
            self.depth -= 1

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, "llmguard_loop")
        return node

    def visit_AssignBlock(self, node: nodes.AssignBlock) -> nodes.Node:
        self._nested(node)
        return node

    def visit_FilterBlock(self, node: nodes.FilterBlock) -> nodes.Node:
        self._nested(node)
        return node

    def visit_Macro(self, node: nodes.Macro) -> nodes.Node:
        self._nested(node)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.Tuple(node.nodes, "load", lineno=node.lineno), "llmguard_concat")

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        if self.depth:
            node.nodes = [_filter(child, "llmguard_out") for child in node.nodes]
        return node


def instrument(tree: nodes.Template) -> tuple[nodes.Template, bool]:
    """Route loops, buffered output and ``~`` of a parsed template through the checked helpers.

    Returns the tree and whether it needs a `RenderBudget`: a template without loops, ``set`` or
    blocks renders in time and space linear in its size, each value capped on its own.
    """
    kinds: tuple[type[nodes.Node], ...] = (
        nodes.For,
        nodes.Assign,
        nodes.AssignBlock,
        nodes.FilterBlock,
        nodes.Macro,
    )
    stateful = next(tree.find_all(kinds), None)
    result: nodes.Template = _Instrument().visit(tree)
    return result, stateful is not None
