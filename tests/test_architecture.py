"""The layout rules of CONTRIBUTING.md, checked on the source: no import cycles, no module over 600 lines, and
no rule code named outside the rules' own units (``rules/`` and ``fixes/``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "fitdoctor"
MAX_LINES = 600
RULE_UNITS = (PACKAGE / "rules", PACKAGE / "fixes")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _top_level_imports(tree: ast.Module, modules: dict[str, Path]) -> set[str]:
    """Modules imported when the module is imported: module level, not under ``if TYPE_CHECKING``."""
    out: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                continue
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fitdoctor"):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    out.add(candidate if candidate in modules else node.module)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            strong(v)
    return found


def test_cycle_finder_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _top_level_imports(ast.parse(path.read_text()), modules) for name, path in modules.items()}
    graph = {name: {m for m in imports if m != name} for name, imports in graph.items()}
    assert _cycles(graph) == []


def test_no_module_over_the_limit() -> None:
    sizes = {str(p.relative_to(SRC)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def test_rule_codes_only_in_rule_units() -> None:
    code = re.compile(r"FD\d{3}")
    named = []
    for path in PACKAGE.rglob("*.py"):
        if any(unit in path.parents for unit in RULE_UNITS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and code.fullmatch(node.value):
                named.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value}")
    assert named == []
