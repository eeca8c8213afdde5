"""No lecture gives away a solution of Assignment 4: none defines its visualisation functions (lecture 03 imports
the references from cnnlab.visualize instead)."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from tests.support.nbcourse import ROOT, solution_cells

LECTURES = sorted((ROOT / "course").glob("*.ipynb"))
ASSIGNMENT = "04_visualization"
#: Names too generic to flag (none in Assignment 4).
GENERIC: set[str] = set()


def assignment_definitions() -> set[str]:
    """The classes and functions the students write in Assignment 4 (read from its solution cells)."""
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
    assert {
        "filter_grid",
        "receptive_field_box",
        "top_k_patches",
        "tv_penalty",
        "class_objective",
        "maximise_class",
        "dream_step",
        "deepdream",
        "gradient_saliency",
        "occlusion_map",
    } <= names
    assert defined_names("def deepdream(x):\n    pass\n%time x = 1\n") == {"deepdream"}


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_no_lecture_defines_what_assignment_4_asks_for(path):
    forbidden = assignment_definitions()
    nb = nbformat.read(path, as_version=4)
    found = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            found |= defined_names(cell.source) & forbidden
    assert not found, f"{path.name} defines {sorted(found)}, which Assignment 4 asks students to write"
