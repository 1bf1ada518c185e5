"""The modules of xlandslide.io import each other without a cycle, at module level or
inside functions (issue 17): every import of an io module, wherever it sits, is an edge
of the graph, and the graph has no cycle (a depth-first search, the oracle)."""

from __future__ import annotations

import ast
from pathlib import Path

import xlandslide.io

IO = Path(xlandslide.io.__file__).parent


def _graph() -> dict[str, set[str]]:
    """``{module: the io modules it imports}``, function-level imports included."""
    modules = {p.stem for p in IO.glob("*.py")}
    graph = {m: set() for m in modules}
    for m in modules:
        for node in ast.walk(ast.parse((IO / f"{m}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                graph[m] |= {n.split(".")[0] for n in names} & modules
    return graph


def _cycle(graph) -> list[str] | None:
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                return [*stack[stack.index(n) :], n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_io_has_no_import_cycle():
    graph = _graph()
    assert {"atomic", "integrity", "lock", "digest", "temporaries"} <= set(graph)
    assert graph["integrity"] >= {"digest", "temporaries"} and "atomic" not in graph["integrity"]
    assert graph["atomic"] >= {"integrity", "lock", "temporaries"}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
