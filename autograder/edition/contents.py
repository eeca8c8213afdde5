"""What the student edition holds: which files of this repository it copies, and which it leaves out.

The edition is what students install: the lectures (``course/*.ipynb``), the released assignments
(``assignments/``), the course library the two import (``cnnlab``) and the part of the grader their visible test
cells call (``autograder.checks``, without its grader-only ``hidden`` package). Everything else stays with the
instructor: ``solutions/`` (solutions and hidden tests), ``tests/`` (hidden seeds of the result splits),
``bench/``, the instructors' and TAs' guides, the grading pipeline, the sandbox, the hub and the command line.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

#: Library modules that are not in the edition, with the reason (paths relative to the repository root).
LEFT_OUT = {
    "cnnlab/feature_visualization.py": (
        "Assignment 4's answer key (its reference implementations): grader and lecture 03 only"
    ),
    "cnnlab/site.py": "builds the course website from the instructor's repository (Sphinx)",
    "autograder/checks/hidden": "hidden cases and seeds, references of graded functions: grader only",
    "autograder/checks/expected": "recorded values are written fresh for each edition",
    "autograder/checks/layers/record_tables.py": (
        "records Assignment 1's tables of PyTorch's answers from the instructor's notebook: instructor only"
    ),
}

#: The part of ``autograder`` the edition ships: the checks the visible test cells call, and the module that
#: defines their verdict (shared with the grader's replay).
CHECKS = "autograder/checks"
SHARED = ("autograder/failure.py",)
#: Data the visible checks read: PyTorch's answers for Assignment 1's visible cases (``checks.layers.torch_values``),
#: so that its checks run without importing torch in the student's kernel too.
CHECK_DATA = ("autograder/checks/layers/torch_values.npz",)


def _python_files(root: Path, package: str) -> Iterator[Path]:
    for path in sorted((root / package).rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if "__pycache__" in relative or any(relative == o or relative.startswith(o + "/") for o in LEFT_OUT):
            continue
        yield path


def files(root: Path) -> Iterator[tuple[Path, str]]:
    """``(source, path in the edition)`` of every file the edition copies from the repository at ``root``."""
    for notebook in sorted((root / "course").glob("*.ipynb")):
        yield notebook, f"course/{notebook.name}"
    for path in sorted((root / "assignments").rglob("*")):
        if path.is_file() and path.name != "README.md" and ".ipynb_checkpoints" not in path.parts:
            yield path, path.relative_to(root).as_posix()
    for path in _python_files(root, "cnnlab"):
        yield path, path.relative_to(root).as_posix()
    for path in _python_files(root, CHECKS):
        yield path, path.relative_to(root).as_posix()
    for name in (*SHARED, *CHECK_DATA):
        yield root / name, name


def copy(root: Path, out: Path) -> list[str]:
    """Copy the edition's files from ``root`` into ``out``; return their paths in the edition."""
    copied = []
    for source, relative in files(root):
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied.append(relative)
    return copied
