"""An instructor notebook as the mutation runner sees it: its code cells, what each defines and reads.

A mutant changes one or more solution cells. Which cells must run again follows from the names: a cell is
*affected* when it reads a name whose latest definition before it is in a changed or affected cell (names read
inside function bodies count: they are looked up when the function runs). Of the affected cells, the test cells
run again, and so do the cells whose definitions those test cells read (directly or through other such cells);
everything else keeps the value it had in the instructor's run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", flags=re.M)
HIDDEN_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) HIDDEN TESTS[ \t]*\n", flags=re.M)


@dataclass
class Cell:
    """One code cell of the instructor notebook."""

    index: int
    grade_id: str
    source: str
    solution: bool = False
    test: bool = False
    hidden: bool = False
    points: float = 0.0
    defs: set[str] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return self.grade_id or f"cell {self.index}"


def _targets(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
    return names


def names_of(source: str) -> tuple[set[str], set[str]]:
    """(names the cell binds at its top level, every name it reads anywhere)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    defs: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            defs |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With, ast.If, ast.Try)):
            if isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For)):
                for sub in ast.walk(stmt):
                    if isinstance(sub, (ast.FunctionDef, ast.ClassDef)):
                        defs.add(sub.name)
            defs |= _targets(stmt)
    uses = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return defs, uses


def load(assignment: str, skip: frozenset[str] = frozenset()) -> list[Cell]:
    """The code cells of ``solutions/<assignment>/<assignment>.ipynb`` (solution and hidden markers removed).

    ``skip``: grade ids or ``cell N`` labels of cells that are never run (figures, timings, ungraded bonus).
    """
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    cells = []
    for index, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        meta = c.metadata.get("nbgrader", {})
        cell = Cell(
            index=index,
            grade_id=meta.get("grade_id", ""),
            source=HIDDEN_MARKERS.sub("", SOLUTION_MARKERS.sub("", c.source)),
            solution=bool(meta.get("solution")),
            test=bool(meta.get("grade")) and not meta.get("solution"),
            hidden="BEGIN HIDDEN TESTS" in c.source,
            points=float(meta.get("points", 0) or 0),
        )
        if cell.label in skip or cell.grade_id in skip:
            continue
        cell.defs, cell.uses = names_of(cell.source)
        cells.append(cell)
    return cells


def plan(cells: list[Cell], changed: dict[str, str]) -> list[Cell]:
    """The cells to run again, in order, when the solution cells named in ``changed`` get new sources."""
    latest: dict[str, int] = {}  # name -> position (in ``cells``) of its latest definition so far
    affected: set[int] = set()
    definer_of: list[dict[str, int]] = []
    for pos, cell in enumerate(cells):
        definer_of.append({n: latest[n] for n in cell.uses if n in latest})
        if cell.grade_id in changed or any(latest.get(n) in affected for n in cell.uses):
            affected.add(pos)
        for n in cell.defs:
            latest[n] = pos
    needed = {pos for pos in affected if cells[pos].test or cells[pos].grade_id in changed}
    frontier = list(needed)
    while frontier:
        pos = frontier.pop()
        for k in definer_of[pos].values():
            if k in affected and k not in needed:
                needed.add(k)
                frontier.append(k)
    return [cells[pos] for pos in sorted(needed)]


def inputs_from_unchanged(cells: list[Cell], run: list[Cell]) -> dict[int, dict[str, int]]:
    """For each cell that runs again: the names it reads whose latest definition is in a cell that does not,
    mapped to that cell's index (their values are restored from the instructor's run)."""
    again = {c.index for c in run}
    latest: dict[str, int] = {}
    out: dict[int, dict[str, int]] = {}
    for cell in cells:
        if cell.index in again:
            out[cell.index] = {n: latest[n] for n in cell.uses if n in latest and latest[n] not in again}
        for n in cell.defs:
            latest[n] = cell.index
    return out
