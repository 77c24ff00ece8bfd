"""The package's import structure, read from the source with ``ast`` (nothing is imported).

Every import counts, late (function-level) ones included: a cycle hidden inside a function is still
a cycle, it only moves the failure from import time to the first call that takes that path.
Imports under ``if TYPE_CHECKING:`` are left out (type checkers only, never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import llmguard

SRC = Path(llmguard.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(nodes: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from _walk(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _walk([child])


def imports_of(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (``from .x import y`` may name ``.x.y`` too)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk(ast.parse(path.read_text("utf-8")).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = package
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        target = node.module or ""
        if node.level:
            target = f"{base}.{target}" if target else base
        found.add(target)
        found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (any depth but ``TYPE_CHECKING``)."""
    folder = SRC.parent.joinpath(*package.split("."))
    modules = {_module_name(p): p for p in folder.glob("*.py")}
    return {name: imports_of(path) & set(modules) - {name} for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``edges`` (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_reader_sees_late_imports(tmp_path: Path) -> None:
    edges = graph("llmguard.cost")
    assert "llmguard.cost._ledger" in edges["llmguard.cost._series"]  # a module-level import
    assert edges["llmguard.cost"] >= {"llmguard.cost._state"}  # imported inside check_alerts()


def test_cost_package_imports_form_no_cycle() -> None:
    cycle = find_cycle(graph("llmguard.cost"))
    assert cycle is None, "import cycle in llmguard.cost: " + " -> ".join(cycle or ())


def test_prompts_package_does_not_import_the_core() -> None:
    folder = SRC / "prompts"
    offenders = {
        _module_name(path): sorted(name for name in imports_of(path) if name.startswith("llmguard._core"))
        for path in folder.glob("*.py")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
