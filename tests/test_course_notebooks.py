"""The lecture notebooks that use the instructor's side of the course library run top to bottom, offline, in fast
mode, from this repository.

Every lecture also runs in fast mode from the installed student edition (tests/test_student_edition.py), where
the notebooks and the library are the same files but for what the edition leaves out. So only the lectures that
import a module the edition replaces (``cnnlab.feature_visualization``, replayed there) run here too, with the real one;
running the others twice would only double their CI time.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
#: Modules the student edition replaces or leaves out.
INSTRUCTOR_ONLY = ("cnnlab.feature_visualization", "cnnlab.site", "autograder.checks.hidden")
NOTEBOOKS = [
    path
    for path in sorted((ROOT / "course").glob("*.ipynb"))
    if any(module in cell.source for cell in nbformat.read(path, as_version=4).cells for module in INSTRUCTOR_ONLY)
]


def test_some_lecture_uses_the_instructors_library():
    assert [p.name for p in NOTEBOOKS] == ["03_visualization.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lecture_runs_in_fast_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
