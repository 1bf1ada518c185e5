"""The shape DESIGN §3 asks of the code: no module over 500 lines, no function body over 80
lines (the docstring not counted) outside the numba kernels, whose loops are unrolled on
purpose."""

from __future__ import annotations

import ast
from pathlib import Path

import xlandslide

PACKAGE = Path(xlandslide.__file__).parent
MAX_MODULE_LINES = 500
MAX_BODY_LINES = 80
#: numba kernels: one loop nest each, split only at a cost in speed.
KERNELS = ("kernels",)


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, its docstring left out."""
    body = node.body
    has_doc = (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
    if has_doc and len(body) == 1:
        return 0
    first = body[1] if has_doc else body[0]
    start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
    return body[-1].end_lineno - start + 1


def test_body_lines_leave_the_docstring_out():
    tree = ast.parse('def f():\n    """doc\n\n    more\n    """\n    a = 1\n    return a\n')
    assert body_lines(tree.body[0]) == 2


def test_no_module_over_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_over_80_lines_outside_kernels():
    long = {}
    for p in _modules():
        rel = p.relative_to(PACKAGE)
        if rel.parts[0] in KERNELS:
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if (n := body_lines(node)) > MAX_BODY_LINES:
                    long[f"{rel}:{node.name}"] = n
    assert long == {}
