"""Whether every committed release (``assignments/<id>``) is what nbgrader generates from its solution now.

A stale release would put last week's tasks, or last week's visible tests, in front of students while the grader
grades this week's; the edition is not built from one. The check runs nbgrader's own generate preprocessors
(those of ``GenerateAssignment``, with the course's configuration) in memory, without a gradebook, and compares
the cells (type, source, nbgrader metadata with checksums) as the end-to-end tests do.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader import preprocessors as nbp

from ..course import Course

#: ``GenerateAssignment``'s preprocessors in its order, less ``SaveCells`` (which writes the gradebook).
GENERATE = (
    nbp.IncludeHeaderFooter,
    nbp.InstantiateTests,
    nbp.LockCells,
    nbp.ClearSolutions,
    nbp.ClearOutput,
    nbp.CheckCellMetadata,
    nbp.ComputeChecksums,
    nbp.ClearHiddenTests,
    nbp.ClearMarkScheme,
    nbp.ComputeChecksums,
    nbp.CheckCellMetadata,
)


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, dict]]:
    return [(c.cell_type, c.source, dict(c.metadata.get("nbgrader", {}))) for c in nb.cells]


def generated(course: Course, source: Path) -> nbformat.NotebookNode:
    """The student version nbgrader generates from the instructor notebook ``source``."""
    nb = nbformat.read(source, as_version=4)
    resources = {
        "unique_key": source.stem,
        "metadata": {"path": str(source.parent)},
        "nbgrader": {"notebook": source.stem, "assignment": source.parent.name},
    }
    for preprocessor in GENERATE:
        nb, resources = preprocessor(config=course.config).preprocess(nb, resources)
    return nb


def stale_releases(course: Course) -> list[str]:
    """The assignments whose committed release differs from what their solution generates (or is missing), each
    with the first notebook that differs."""
    stale = []
    source_root, release_root = course.directory("source"), course.directory("release")
    for folder in sorted(p for p in source_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for source in sorted(folder.glob("*.ipynb")):
            committed = release_root / folder.name / source.name
            if not committed.exists():
                stale.append(f"{folder.name} ({committed.relative_to(course.root)} is missing)")
                break
            if _cells(nbformat.read(committed, as_version=4)) != _cells(generated(course, source)):
                stale.append(f"{folder.name} ({committed.relative_to(course.root)} differs from its solution)")
                break
    return stale
