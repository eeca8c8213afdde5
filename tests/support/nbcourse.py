"""Helpers for end-to-end tests: temporary nbgrader courses, submissions made from the instructor notebook."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.config import config_file_text

ROOT = Path(__file__).resolve().parents[2]
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", flags=re.M)


def solution_cells(assignment: str, notebook: str) -> dict[str, str]:
    """The instructor's code of every solution cell, markers removed, by grade_id."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{notebook}.ipynb", as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: SOLUTION_MARKERS.sub("", c.source)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


def run_cells(answers: dict[str, str], assignment: str, setup: str = "import numpy as np") -> dict:
    """Execute ``setup`` and then the answer cells (as ``solution_cells`` returns them, possibly edited) in a
    fresh namespace and return it."""
    ns: dict = {}
    exec(setup, ns)
    for source in answers.values():
        exec(compile(source, f"<solution {assignment}>", "exec"), ns)
    return ns


def solution_namespace(assignment: str, notebook: str, setup: str = "import numpy as np") -> dict:
    """Execute the instructor's solution cells in a fresh namespace and return it."""
    return run_cells(solution_cells(assignment, notebook), assignment, setup)


@dataclass(frozen=True)
class Mutation:
    """One typical mistake: in solution cell ``cell``, replace ``old`` with ``new``."""

    cell: str
    old: str
    new: str


@dataclass(frozen=True)
class Mistake:
    """A typical mistake: its solution-cell edits, the graded cells that must lose their points, those that may
    (a trained model's score depends on how much the mistake hurts training), and a phrase the feedback must
    contain to name it."""

    name: str
    mutations: tuple[Mutation, ...]
    failing: frozenset[str]
    phrase: str
    may_fail: frozenset[str] = frozenset()


def make_submission(
    release: Path, assignment: str, notebook: str, mutations: tuple[Mutation, ...] = (), fill: bool = True
) -> nbformat.NotebookNode:
    """A student's notebook: the release with every solution cell filled in (optionally with mistakes)."""
    nb = nbformat.read(release, as_version=4)
    answers = solution_cells(assignment, notebook)
    for m in mutations:
        if m.old not in answers[m.cell]:
            raise AssertionError(f"mutation target not found in solution cell {m.cell!r}: {m.old!r}")
        answers[m.cell] = answers[m.cell].replace(m.old, m.new)
    if fill:
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
                cell.source = answers[gid]
    return nb


class Course:
    """A temporary nbgrader course holding copies of the repository's instructor notebooks."""

    def __init__(self, root: Path, assignments: list[str]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "nbgrader_config.py").write_text(config_file_text(root))
        for a in assignments:
            shutil.copytree(ROOT / "solutions" / a, root / "solutions" / a)

    def nbgrader(
        self, *args: str, timeout: float = 1800, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run ``nbgrader ARGS`` in the course (``env``: extra environment variables); fail if it fails."""
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        if result.returncode != 0:
            raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def submit(self, student: str, assignment: str, notebook: str, nb: nbformat.NotebookNode) -> None:
        folder = self.root / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{notebook}.ipynb")

    def scores(self, assignment: str, notebook: str) -> dict[str, dict[str, float]]:
        """Points per graded cell per student, read from the gradebook."""
        from nbgrader.api import Gradebook

        out: dict[str, dict[str, float]] = {}
        with Gradebook(f"sqlite:///{self.root / 'gradebook.db'}") as gb:
            for student in gb.students:
                try:
                    nbsub = gb.find_submission_notebook(notebook, assignment, student.id)
                except Exception:
                    continue
                out[student.id] = {g.name: g.score for g in nbsub.grades}
        return out

    def journal(self, assignment: str) -> dict[str, dict]:
        """The grader's latest journal record per student (score, device, seconds, ...)."""
        from autograder.course import Course as GradingCourse
        from autograder.pipeline.coordinator import journal_for

        return journal_for(GradingCourse.open(self.root), assignment).latest()


def grading_workers() -> int:
    """Grading workers for one end-to-end test file: the machine's cores shared among the test files pytest runs
    side by side (pytest-xdist), and at least two (CI: two cores, two files, two workers each)."""
    files_at_once = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(2, (os.cpu_count() or 2) // files_at_once)


OVER_BUDGET = "budget = Budget(20 * checks.GRADING_STEPS, checks.GRADING_BATCH_SIZE)  # ignores the grading budget"


def over_budget(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with its training cell asking for 20 times the grading budget's steps (Assignments 2, 3)."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and "budget = checks.training_budget(" in c.source)
    asked = "budget = checks.training_budget("
    lines = [OVER_BUDGET if line.startswith(asked) else line for line in cell.source.splitlines()]
    cell.source = "from cnnlab.device import Budget\n" + "\n".join(lines)
    return nb


def grade_with_cli(
    course: Course,
    assignment: str,
    notebook: str,
    students: dict[str, tuple],
    env: dict[str, str] | None = None,
    workers: int | None = None,
) -> Course:
    """Release ``assignment``, submit one notebook per student, grade with ``autograder grade``, make feedback.

    ``students`` maps a name to ``(mutations, fill, *edits)``: the instructor's answers with the mutations
    (``fill=False``: the blank release), then each edit (a function of the notebook) applied in turn.
    ``workers``: grading workers (default ``grading_workers()``).
    """
    from tests.support.toycourse import cli_env

    course.nbgrader("generate_assignment", assignment, "--force")
    release = course.root / "assignments" / assignment / f"{notebook}.ipynb"
    for student, (mutations, fill, *edits) in students.items():
        nb = make_submission(release, assignment, notebook, mutations, fill=fill)
        for edit in edits:
            nb = edit(nb)
        course.submit(student, assignment, notebook, nb)
    grading = subprocess.run(
        [sys.executable, "-m", "autograder", "--course", str(course.root), "grade", assignment, "--no-progress"]
        + ["--workers", str(workers or grading_workers())],
        capture_output=True,
        text=True,
        env={**cli_env(), **(env or {})},
        timeout=3000,
    )
    assert grading.returncode == 0, grading.stdout + grading.stderr
    course.nbgrader("generate_feedback", assignment, "--force")
    return course


def notebook_cells(path: Path) -> list[tuple[str, str, dict]]:
    """``(cell_type, source, nbgrader metadata)`` of every cell of a notebook."""
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, dict(c.metadata.get("nbgrader", {}))) for c in nb.cells]


def visible_text(html: str) -> str:
    """The text a reader sees in an HTML page: tags removed, entities decoded."""
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", "", html))


def hidden_test_lines(source_notebook: Path) -> set[str]:
    """The non-empty lines inside the hidden-test regions of an instructor notebook."""
    return {
        line.strip()
        for _, src, meta in notebook_cells(source_notebook)
        if meta.get("grade") and "BEGIN HIDDEN TESTS" in src
        for line in src.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].splitlines()
        if line.strip()
    }


def leaked_solution_lines(release: Path, assignment: str, notebook: str) -> dict[str, list[str]]:
    """Lines of the instructor's solution regions found in the release, except lines it also has outside them."""
    source = nbformat.read(ROOT / "solutions" / assignment / f"{notebook}.ipynb", as_version=4)
    regions: dict[str, list[str]] = {}
    provided: list[str] = []
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        parts = re.split(r"^[ \t]*### (?:BEGIN|END) SOLUTION[ \t]*$", cell.source, flags=re.M)
        provided.extend(parts[0::2])  # outside the markers: given to students as it is
        if cell.metadata.get("nbgrader", {}).get("solution"):
            regions[cell.metadata["nbgrader"]["grade_id"]] = parts[1::2]
    provided_lines = {line.strip() for text in provided for line in text.splitlines()}
    release_code = "\n".join(src for kind, src, _ in notebook_cells(release) if kind == "code")
    leaks = {}
    for gid, texts in regions.items():
        found = [
            line.strip()
            for text in texts
            for line in text.splitlines()
            if len(line.strip()) > 20 and line.strip() not in provided_lines and line.strip() in release_code
        ]
        if found:
            leaks[gid] = found
    return leaks
