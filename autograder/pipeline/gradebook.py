"""The coordinator's side of the gradebook: the assignment template for jobs, and recording results.

Only the coordinating process calls these, so the course's gradebook has one writer however many workers
grade. Everything goes through nbgrader's ``Gradebook`` API, so any database nbgrader supports works.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..course import Course
from .files import write_tree
from .job import GradeResult, quiet_gradebook_warnings


def _definition(course: Course, assignment: str) -> dict:
    """The assignment as the course's gradebook defines it: due date, notebooks and all their cells."""
    with course.gradebook(assignment) as gb:
        a = gb.find_assignment(assignment)
        return {
            "duedate": a.duedate,
            "notebooks": {
                nb.name: {
                    "kernelspec": nb.kernelspec,
                    "grade": [(c.name, c.max_score, c.cell_type) for c in nb.grade_cells],
                    "solution": [c.name for c in nb.solution_cells],
                    "task": [(c.name, c.max_score, c.cell_type) for c in nb.task_cells],
                    "source": [(c.name, c.cell_type, c.locked, c.source, c.checksum) for c in nb.source_cells],
                }
                for nb in a.notebooks
            },
        }


def _build_template(course: Course, assignment: str, definition: dict, path: Path) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{path}", course.course_id) as dst:
        dst.update_or_create_assignment(assignment, duedate=definition["duedate"])
        for name, nb in definition["notebooks"].items():
            dst.update_or_create_notebook(name, assignment, kernelspec=nb["kernelspec"])
            for cell, max_score, cell_type in nb["grade"]:
                dst.update_or_create_grade_cell(cell, name, assignment, max_score=max_score, cell_type=cell_type)
            for cell in nb["solution"]:
                dst.update_or_create_solution_cell(cell, name, assignment)
            for cell, max_score, cell_type in nb["task"]:
                dst.update_or_create_task_cell(cell, name, assignment, max_score=max_score, cell_type=cell_type)
            for cell, cell_type, locked, source, checksum in nb["source"]:
                dst.update_or_create_source_cell(
                    cell, name, assignment, cell_type=cell_type, locked=locked, source=source, checksum=checksum
                )


def assignment_template(course: Course, assignment: str) -> bytes:
    """A SQLite gradebook holding only ``assignment`` as the course's gradebook defines it (no students).

    Copied cell by cell through the ``Gradebook`` API: notebooks, grade, solution, task and source cells with
    their checksums, and the due date, so that a job's ``Autograde`` sees what a full course would. A new
    gradebook takes seconds to create, so the template is kept in ``.autograder/`` until the assignment's
    definition changes.
    """
    definition = _definition(course, assignment)
    key = hashlib.sha256(repr(definition).encode()).hexdigest()[:16]
    cached = course.state_dir / f"{assignment}.template-{key}.db"
    if not cached.exists():
        for old in course.state_dir.glob(f"{assignment}.template-*.db"):
            old.unlink()
        with tempfile.TemporaryDirectory(prefix="autograder-template-", dir=course.state_dir) as tmp:
            path = Path(tmp) / "gradebook.db"
            _build_template(course, assignment, definition, path)
            path.rename(cached)
    return cached.read_bytes()


def _replace_folder(dest: Path, files: dict[str, bytes]) -> None:
    """Put ``files`` at ``dest`` in one rename: a reader sees the old folder or the new one, never half."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    write_tree(staging, files)
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}-old-{os.getpid()}")
        dest.rename(old)
    staging.rename(dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def record_result(course: Course, result: GradeResult) -> None:
    """Write a graded result into the course: autograded files first, then the gradebook, in one commit."""
    from nbgrader.utils import parse_utc

    quiet_gradebook_warnings()
    coursedir = course.coursedir()
    dest = Path(coursedir.format_path(coursedir.autograded_directory, result.student, result.assignment))
    if result.autograded:
        _replace_folder(dest, result.autograded)
    elif dest.exists():
        shutil.rmtree(dest)  # an earlier grading of an older submission must not stand in for this one
    with course.gradebook(result.assignment) as gb:
        gb.update_or_create_student(result.student)
        timestamp = parse_utc(result.timestamp) if result.timestamp else None
        submission = gb.update_or_create_submission(result.assignment, result.student, timestamp=timestamp)
        with gb.db.no_autoflush:
            grades, comments, notebooks = _submission_rows(gb, submission.id)
        for cell in result.cells:
            grade = _entry(grades, (cell["notebook"], cell["name"]), "grade", result)
            grade.auto_score = cell["auto_score"]
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        for notebook in {c["notebook"] for c in result.cells}:
            nb = _entry(notebooks, notebook, "notebook", result)
            nb.late_submission_penalty = result.penalties.get(notebook)
            nb.flagged = any(p.get("notebook") in (notebook, None) for p in result.problems)
        for c in result.comments:
            comment = _entry(comments, (c["notebook"], c["name"]), "comment", result)
            comment.auto_comment = c["auto_comment"]
        gb.db.commit()


def _submission_rows(gb: Any, submission_id: str) -> tuple[dict, dict, dict]:
    """The grades and comments of one submission by (notebook, cell name), and its notebooks by name: three
    queries, where nbgrader's ``find_grade`` takes one (of seven joins) per cell."""
    from nbgrader.api import BaseCell, Comment, Grade, Notebook, SubmittedNotebook

    def by_cell(model: Any) -> dict[tuple[str, str], Any]:
        rows = (
            gb.db.query(model, Notebook.name, BaseCell.name)
            .join(BaseCell, BaseCell.id == model.cell_id)
            .join(SubmittedNotebook, SubmittedNotebook.id == model.notebook_id)
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
            .filter(SubmittedNotebook.assignment_id == submission_id)
        )
        return {(notebook, cell): entry for entry, notebook, cell in rows}

    notebooks = {
        name: nb
        for nb, name in gb.db.query(SubmittedNotebook, Notebook.name)
        .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
        .filter(SubmittedNotebook.assignment_id == submission_id)
    }
    return by_cell(Grade), by_cell(Comment), notebooks


def _entry(found: dict, key: str | tuple[str, str], what: str, result: GradeResult) -> Any:
    """The gradebook's entry under ``key`` (a notebook, or a notebook and a cell), or nbgrader's ``MissingEntry``
    as its ``find_*`` would raise."""
    from nbgrader.api import MissingEntry

    if key not in found:
        where = key if isinstance(key, str) else "/".join(key)
        raise MissingEntry(f"No such {what}: {result.assignment}/{where} for {result.student}")
    return found[key]
