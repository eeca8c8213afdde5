"""The expected values of the visible checks whose reference is the grader's own (``autograder.checks.expected``),
recorded for the edition: every such check runs on its visible cases with a correct answer standing in for the
student's, and every value it asks for is written to ``autograder/checks/expected/<module>.pt``.

The answers are the grader-only references where they fit a task's signature (Assignments 2 and 3), and the
instructor's solution cells otherwise (Assignment 4: the checks its release's visible test cells call, run in the
namespace of its setup cell and solution cells). The values depend on the cases alone, never on the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import nbformat

from ..checks import expected

#: Assignments whose visible checks are recorded by running the release's check calls on the instructor's answers.
BY_NOTEBOOK = ("04_visualization",)

_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*$", re.M)


def _by_reference() -> list[Callable[[], None]]:
    """The visible checks of Assignments 2 and 3 that ask for expected values, each with its reference."""
    from ..checks.architectures import blocks
    from ..checks.hidden import architectures, unet
    from ..checks.references import as_student
    from ..checks.unet import loss

    return [
        lambda: blocks.check_inception_params(as_student(architectures.inception_reference_params)),
        lambda: loss.check_soft_dice_loss(as_student(unet.soft_dice_reference)),
        lambda: loss.check_segmentation_loss(as_student(unet.segmentation_loss_reference)),
    ]


def _check_calls(root: Path, assignment: str) -> None:
    """Run the check calls of ``assignment``'s visible test cells on the instructor's solution cells."""
    for source in sorted((root / "solutions" / assignment).glob("*.ipynb")):
        cells = nbformat.read(source, as_version=4).cells
        release = nbformat.read(root / "assignments" / assignment / source.name, as_version=4).cells
        namespace: dict = {"__name__": f"edition_{assignment}"}
        setup = next(c for c in cells if c.cell_type == "code")
        exec(compile(setup.source, f"<{assignment} setup>", "exec"), namespace)
        for cell in cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                exec(compile(_MARKERS.sub("", cell.source), f"<{assignment} solution>", "exec"), namespace)
        for cell in release:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                calls = [line for line in cell.source.splitlines() if line.startswith("checks.check_")]
                for call in calls:
                    exec(compile(call, f"<{assignment} visible test>", "exec"), namespace)


def record(root: Path, directory: Path) -> list[Path]:
    """Run the visible checks of the course at ``root``, record the values they compare with, and write them
    under ``directory``."""
    with expected.recording() as tables:
        for check in _by_reference():
            check()
        for assignment in BY_NOTEBOOK:
            _check_calls(root, assignment)
    return expected.save(tables, directory)
