"""Fuzz: template text and variable values.

Templates are built from jinja fragments (loops, ``~``, ``+``, ``*``, ``**``, ``%``, filters,
unknown names) so most examples parse; every outcome must be a rendered string or a
`llmguard.PromptRenderError`/`llmguard.PromptFormatError`, under the CPU and size caps.
"""

from __future__ import annotations

from typing import Any

from fuzz_support import fuzz, typed
from hypothesis import given
from hypothesis import strategies as st

from llmguard.prompts import MAX_OUTPUT_CHARS, PromptVersion

ATOMS = [
    "s", "n", "xs", "d", "'ab'", "'%999999999s'", "'%*d'", "'%05d'", "9", "64", "0", "-1", "1e308",
    "9**64", "[1, 2]", "{'k': 1}", "'x' * 100000", "s ~ s", "s + s", "missing", "d.k", "d['k']",
    "xs[0]", "s.__class__", "n // 0", "n % 0", "(9**64)**64", "'{{'",
]  # fmt: skip
BINOPS = [" ~ ", " + ", " * ", " ** ", " % ", " // ", " / ", " - ", " and ", " == ", " in "]
FILTERS = [
    "upper", "length", "list", "join", "join('--')", "sort", "unique", "int", "float", "tojson", "first",
    "last", "round", "string", "trim", "default('x')", "nofilter", "attr('x')", "format('x')",
    "llmguard_out",
]  # fmt: skip


def _filtered(expr_and_filters: tuple[str, list[str]]) -> str:
    expr, names = expr_and_filters
    return " | ".join([expr, *names])


atoms = st.tuples(st.sampled_from(ATOMS), st.lists(st.sampled_from(FILTERS), max_size=2)).map(_filtered)
expressions = st.recursive(
    atoms,
    lambda inner: st.tuples(inner, st.sampled_from(BINOPS), inner).map(lambda t: f"({''.join(t)})"),
    max_leaves=4,
)
BLOCKS = {
    "for": ("{% for i in EXPR %}", "{% endfor %}"),
    "if": ("{% if EXPR %}", "{% endif %}"),
    "setblock": ("{% set s %}", "{% endset %}"),
}
JUNK = ["{{", "}}", "{%", "%}", "{#", "{{ (" * 300, "{% for %}", "{% raw %}{{ x }}{% endraw %}"]
leaves = st.one_of(
    st.text(max_size=12),
    expressions.map(lambda e: "{{ " + e + " }}"),
    expressions.map(lambda e: "{% set s = " + e + " %}"),
    st.sampled_from(JUNK),
)


def _block(parts: tuple[str, str, list[str]]) -> str:
    kind, expr, body = parts
    head, tail = BLOCKS[kind]
    return head.replace("EXPR", expr) + "".join(body) + tail


templates = st.recursive(
    leaves,
    lambda inner: st.tuples(st.sampled_from(sorted(BLOCKS)), expressions, st.lists(inner, max_size=3)).map(
        _block
    ),
    max_leaves=8,
)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
VARIABLES = {"s": "string", "n": "integer", "xs": "list", "d": "object"}
variable_values = st.fixed_dictionaries(
    {
        "s": st.text(max_size=50),
        "n": st.integers(),
        "xs": st.lists(json_values, max_size=5),
        "d": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    }
)


def _render(template: str, values: dict[str, Any]) -> str:
    version = PromptVersion(
        name="fuzz",
        version="1.0.0",
        user_template=template,
        variables={k: {"type": t} for k, t in VARIABLES.items()},  # type: ignore[misc]
    )
    rendered = version.render(**values)
    return rendered.messages[-1][1]


@fuzz(300)
@given(template=templates, values=variable_values)
def test_templates_render_or_raise_typed(template: str, values: dict[str, Any]) -> None:
    out = typed("templates", lambda: _render(template, values))
    assert out is None or len(out) <= MAX_OUTPUT_CHARS
