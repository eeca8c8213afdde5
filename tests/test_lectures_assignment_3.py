"""No lecture gives away a solution of Assignment 3: none defines its blocks, augmentations or network."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from tests.support.nbcourse import ROOT, solution_cells

LECTURES = sorted((ROOT / "course").glob("*.ipynb"))
ASSIGNMENT = "03_architectures"
#: Names too generic to flag: the lectures' own `train` helpers wrap cnnlab.train.fit, not the assignment's loop.
GENERIC = {"train"}


def assignment_definitions() -> set[str]:
    """The classes and functions the students write in Assignment 3 (read from its solution cells)."""
    names = set()
    for source in solution_cells(ASSIGNMENT, ASSIGNMENT).values():
        for node in ast.parse(source).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                names.add(node.name)
    return names - GENERIC


def defined_names(source: str) -> set[str]:
    """Classes and functions defined anywhere in a cell (IPython magics removed first)."""
    tree = ast.parse(re.sub(r"^\s*[%!].*$", "", source, flags=re.M))
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}


def test_the_scan_knows_the_assignments_definitions():
    names = assignment_definitions()
    assert {"BasicBlock", "Bottleneck", "Inception", "DenseBlock", "Transition", "random_augment"} <= names
    assert defined_names("class BasicBlock:\n    pass\n%time x = 1\n") == {"BasicBlock"}


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_no_lecture_defines_what_assignment_3_asks_for(path):
    forbidden = assignment_definitions()
    nb = nbformat.read(path, as_version=4)
    found = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            found |= defined_names(cell.source) & forbidden
    assert not found, f"{path.name} defines {sorted(found)}, which Assignment 3 asks students to write"
