"""Assignment 1 end to end: nbgrader's release, the course's grader (``autograder grade``: sandboxed kernels in two
workers, outside verdicts), nbgrader's feedback.

One temporary course is graded once for the module: the instructor's solution submitted as a student, the
blank release, and one submission per typical mistake (tests/support/assignment01.py). (That the grader gives
the points sequential ``nbgrader autograde`` gives is shown in tests/test_cli_grade.py.)
"""

from __future__ import annotations

import pytest

from tests.support.assignment01 import ASSIGNMENT, MISTAKES, NOTEBOOK
from tests.support.nbcourse import (
    ROOT,
    Course,
    grade_with_cli,
    hidden_test_lines,
    leaked_solution_lines,
    notebook_cells,
    visible_text,
)

COMMITTED_RELEASE = ROOT / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Course:
    students = {"instructor": ((), True), "blank": ((), False)}
    students.update({m.name: (m.mutations, True) for m in MISTAKES})
    course = Course(tmp_path_factory.mktemp("course"), [ASSIGNMENT])
    return grade_with_cli(course, ASSIGNMENT, NOTEBOOK, students)


def test_committed_release_is_up_to_date(graded):
    fresh = graded.root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert notebook_cells(COMMITTED_RELEASE) == notebook_cells(fresh), (
        "assignments/01_layers is stale: run `nbgrader generate_assignment 01_layers --force` and commit it"
    )


def test_release_has_no_solution_or_hidden_test_text():
    text = COMMITTED_RELEASE.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "hidden=True", "check_number("):
        assert marker not in text
    assert not leaked_solution_lines(COMMITTED_RELEASE, ASSIGNMENT, NOTEBOOK)


def test_points_add_up_to_100():
    points = [meta.get("points", 0) for _, _, meta in notebook_cells(COMMITTED_RELEASE) if meta.get("grade")]
    assert sum(points) == 100 and all(p > 0 for p in points)


def test_instructor_solution_scores_full_marks(graded):
    scores = graded.scores(ASSIGNMENT, NOTEBOOK)["instructor"]
    lost = {k: v for k, v in scores.items() if v is None or v <= 0}
    assert not lost and sum(scores.values()) == 100


def test_blank_release_scores_zero(graded):
    scores = graded.scores(ASSIGNMENT, NOTEBOOK)["blank"]
    assert sum(v or 0 for v in scores.values()) == 0


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_typical_mistake_gets_partial_credit_and_named_feedback(graded, mistake):
    scores = graded.scores(ASSIGNMENT, NOTEBOOK)[mistake.name]
    failed = {cell for cell, points in scores.items() if not points}
    assert failed == set(mistake.failing)
    assert 0 < sum(v or 0 for v in scores.values()) < 100
    html = (graded.root / "feedback" / mistake.name / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    assert mistake.phrase in visible_text(html)


def test_feedback_never_shows_hidden_tests(graded):
    hidden_lines = hidden_test_lines(graded.root / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    assert hidden_lines
    for html_path in (graded.root / "feedback").rglob("*.html"):
        text = visible_text(html_path.read_text())
        assert "BEGIN HIDDEN TESTS" not in text
        shown = [line for line in hidden_lines if line in text]
        assert not shown, f"{html_path.parent.parent.name}: hidden test lines in feedback: {shown[:2]}"
