"""What the lecture guards scan: the names an assignment asks students to define, and what a lecture defines.

A lecture must never give away an assignment's solution code; ``tests/test_lectures_assignment_N.py`` asserts
that no lecture defines a class or function the assignment's solution cells define.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

from .nbcourse import ROOT, solution_cells

LECTURES = sorted((ROOT / "course").glob("*.ipynb"))


def assignment_definitions(assignment: str, generic: frozenset[str] = frozenset()) -> set[str]:
    """The classes and functions the students write (read from the solution cells), less the ``generic`` ones."""
    names = set()
    for source in solution_cells(assignment, assignment).values():
        for node in ast.parse(source).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                names.add(node.name)
    return names - generic


def defined_names(source: str) -> set[str]:
    """Classes and functions defined anywhere in a cell (IPython magics removed first)."""
    tree = ast.parse(re.sub(r"^\s*[%!].*$", "", source, flags=re.M))
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}


def lecture_defines(path: Path, names: set[str]) -> set[str]:
    """Which of ``names`` the lecture notebook at ``path`` defines in its code cells."""
    nb = nbformat.read(path, as_version=4)
    found: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            found |= defined_names(cell.source) & names
    return found
