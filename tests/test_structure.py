"""The tree is the architecture: a small top level, small modules, and no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "audiolab"
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _resolve(name: str, node: ast.ImportFrom | ast.Import, alias: ast.alias) -> list[str]:
    """The audiolab modules an import statement at module level makes Python load."""
    if isinstance(node, ast.Import):
        target = alias.name
    else:
        if node.level:
            base = name.split(".")
            if MODULES[name].name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        if f"{target}.{alias.name}" in MODULES:  # from package import submodule
            target = f"{target}.{alias.name}"
    hits = []
    while target and target.startswith("audiolab"):
        if target in MODULES:
            hits.append(target)
        target = target.rpartition(".")[0]  # importing a.b.c runs a and a.b first
    return hits


def _module_level_imports(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text())
    deps: set[str] = set()
    for node in tree.body:  # top level only: imports inside functions run later, on demand
        stmts = [node]
        if isinstance(node, ast.Try):
            stmts = node.body + [s for h in node.handlers for s in h.body]
        for stmt in stmts:
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                for alias in stmt.names:
                    deps.update(_resolve(name, stmt, alias))
    deps.discard(name)
    return deps


def _cycles() -> list[list[str]]:
    graph = {m: _module_level_imports(m) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for m in graph:
        if m not in index:
            visit(m)
    return found


def test_no_module_level_import_cycles():
    assert _cycles() == []


def test_the_top_level_holds_at_most_ten_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_stays_under_450_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name}: {lines} lines"
