"""The packages of the project import each other without cycles.

A package is a folder of modules (``autograder.checks``, ``autograder.verify``, ``autograder.sandbox``, ``cnnlab``,
``bench.mutation``, ...). Between two packages that are not one inside the other, imports may go one way only: a
cycle (``checks`` importing ``verify``, which imports ``checks``) means neither can be understood, tested or moved
without the other. A package and the packages inside it are exempt: a parent naturally uses its subpackages and
they use the parent's shared modules. Imports inside functions count too: they are the usual way to hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.nbcourse import ROOT

PACKAGES = ("autograder", "cnnlab", "bench")


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for top in PACKAGES:
        for path in (root / top).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _package_of(name: str, modules: dict[str, Path]) -> str:
    path = modules[name]
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imported(name: str, path: Path) -> set[str]:
    """Every module name an ``import`` or ``from ... import`` in the file may refer to (relative ones resolved)."""
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                module = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Package → the packages it imports, leaving out imports between a package and one inside it."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        source = _package_of(name, modules)
        for target in _imported(name, path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if not target:
                continue
            other = _package_of(target, modules)
            nested = other.startswith(source + ".") or source.startswith(other + ".")
            if other != source and not nested:
                graph.setdefault(source, set()).add(other)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles_between_packages():
    graph = package_graph()
    seen = set(graph) | {b for targets in graph.values() for b in targets}
    assert {"autograder.checks", "autograder.pipeline", "autograder.sandbox", "autograder.verify"} <= seen, seen
    found = cycles(graph)
    detail = [
        f"{' <-> '.join(group)}: " + "; ".join(f"{a} -> {sorted(graph[a] & set(group))}" for a in group)
        for group in found
    ]
    assert not found, "packages that import each other:\n" + "\n".join(detail)


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    """A planted cycle, one of its imports inside a function, is found (so the test above can fail)."""
    for package, body in {
        "autograder/alpha": "from ..beta.mod import thing\n",
        "autograder/beta": "def later():\n    from ..alpha.mod import other\n",
        "cnnlab": "",
        "bench": "",
    }.items():
        folder = tmp_path / package
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
        (folder / "mod.py").write_text(body)
    (tmp_path / "autograder" / "__init__.py").write_text("")
    assert cycles(package_graph(tmp_path)) == [["autograder.alpha", "autograder.beta"]]
