"""``autograder release``: nbgrader's ``GenerateAssignment``, released only when it is validated both ways.

The assignment is first generated into a scratch course; there the instructor notebooks and the generated
student notebooks (the blank release) are autograded like submissions (hidden tests put back, as in real
grading): the instructor's must earn every point of every autograded test cell, the blank release none.
Only then is it generated for real into the course's release folder and gradebook. A refusal names each
wrong cell and says what is wrong with it.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from .course import AutograderError, Course
from .pipeline.job import GRADED, GradeJob, GradeResult, Limits, grade_submission, read_folder
from .pipeline.workers import local_executor


class ReleaseRefused(AutograderError):
    """Validation found cells that are wrong; the message lists them."""


@dataclass(frozen=True)
class TestCell:
    """An autograded test cell's result in one validation run."""

    notebook: str
    cell: str
    points: float
    score: float
    error: str


def _scratch_config(course: Course, root: Path, assignment: str) -> Config:
    config = copy.deepcopy(course.config)
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.CourseDirectory.assignment_id = assignment
    return config


def generate(config: Config, assignment: str) -> None:
    """Run nbgrader's ``GenerateAssignment`` with ``config``; raise with nbgrader's log if it fails."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.utils import capture_log

    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    app = GenerateAssignment(coursedir=coursedir, config=config)
    app.force = True
    app.create_assignment = True
    outcome = capture_log(app)
    if not outcome["success"]:
        raise AutograderError(f"nbgrader generate_assignment {assignment} failed:\n{outcome.get('log', '')}")


def test_cells(result: GradeResult) -> list[TestCell]:
    """The autograded test cells of a graded result, with their scores and first error message."""
    from nbgrader.utils import is_grade, is_solution

    scores = {(c["notebook"], c["name"]): c["auto_score"] for c in result.cells}
    cells = []
    for name, data in sorted(result.autograded.items()):
        if "/" in name or not name.endswith(".ipynb"):
            continue
        notebook = name[: -len(".ipynb")]
        for cell in nbformat.reads(data.decode(), as_version=4).cells:
            if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
                continue
            gid = cell.metadata["nbgrader"]["grade_id"]
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            message = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else ""
            points = float(cell.metadata["nbgrader"]["points"])
            cells.append(TestCell(notebook, gid, points, scores.get((notebook, gid)) or 0.0, message))
    return cells


def validate(jobs: dict[str, GradeJob]) -> tuple[list[str], list[TestCell], list[TestCell]]:
    """Autograde the instructor and the release versions in two processes; list what is wrong, and the cells."""
    with local_executor(min(2, len(jobs)), 0) as pool:  # processes: nbgrader's Autograde is not thread-safe
        results = dict(zip(jobs, pool.map(grade_submission, jobs.values())))
    wrong = []
    for kind, result in results.items():
        if result.status != GRADED:
            wrong.append(f"the {kind} version could not be graded:\n{result.log}")
        wrong += [f"{kind} version: {p['message']}" for p in result.problems]
    solved, blank = test_cells(results["instructor"]), test_cells(results["release"])
    for c in solved:
        if c.score < c.points:
            wrong.append(
                f"{c.notebook}: test cell {c.cell!r} fails on the instructor's solution "
                f"({c.score:g} of {c.points:g} points): {c.error or 'no error shown'}"
            )
    for c in blank:
        if c.score > 0:
            wrong.append(
                f"{c.notebook}: test cell {c.cell!r} passes on the blank release ({c.score:g} of {c.points:g} "
                "points): it does not test the student's code"
            )
    if not solved and not wrong:
        wrong.append("the assignment has no autograded test cells")
    return wrong, solved, blank


def release(
    course: Course,
    assignment: str,
    limits: Limits | None = None,
    echo: Callable[[str], None] = print,
    validate_first: bool = True,
) -> list[TestCell]:
    """Generate, validate and, when valid, release ``assignment``; return the instructor run's test cells.

    ``validate_first=False`` only generates (nbgrader ``generate_assignment``), for quick runs of the demo.
    """
    notebooks = course.source_notebooks(assignment)
    if not validate_first:
        generate(course.config, assignment)
        echo(f"generated {assignment} into {course.directory('release') / assignment} (not validated)")
        return []
    source = course.directory("source") / assignment
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as tmp:
        root = Path(tmp)
        config = _scratch_config(course, root, assignment)
        cd = CourseDirectory(config=config)
        shutil.copytree(source, root / cd.source_directory / assignment)
        echo(f"generating {assignment} in a scratch course and grading its instructor and release versions")
        generate(config, assignment)
        template = (root / "gradebook.db").read_bytes()
        others = {k: v for k, v in read_folder(source).items() if not k.endswith(".ipynb")}
        versions = {"instructor": source, "release": root / cd.release_directory / assignment}
        jobs = {
            kind: GradeJob(assignment, f"{kind}-version", notebooks, read_folder(folder), template, others,
                           course.config, limits or Limits())
            for kind, folder in versions.items()
        }  # fmt: skip
        wrong, solved, blank = validate(jobs)
    if wrong:
        raise ReleaseRefused(f"refusing to release {assignment}:\n" + "\n".join(f"  - {w}" for w in wrong))
    generate(course.config, assignment)
    points = sum(c.points for c in solved)
    echo(
        f"released {assignment} into {course.directory('release') / assignment}: {len(solved)} test cells, "
        f"{points:g} points; the instructor's solution earns all of them and the blank release none"
    )
    return solved
