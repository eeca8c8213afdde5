"""Assignment 3 end to end: nbgrader's release, the course's grader (``autograder grade``, sandboxed kernels in
parallel workers) with real training, nbgrader's feedback.

One temporary course is graded once for the module, on the CPU: the instructor's solution, the blank release, one
submission per typical mistake (tests/support/assignment03.py) and one whose training cell ignores the grading
budget. Every filled-in submission trains its small
ResNet for real, bounded by the assignment's grading budget. When a GPU is present, every submission is graded
on it as well and must earn the same points, cell by cell.
"""

from __future__ import annotations

import nbformat
import pytest
import torch

from tests.support.assignment03 import ACCURACY_CELLS, ASSIGNMENT, E2E_MISTAKES, NOTEBOOK
from tests.support.e2e import EndToEnd
from tests.support.nbcourse import (
    OVER_BUDGET,
    Course,
    grade_with_cli,
    over_budget,
)

E2E = EndToEnd(ASSIGNMENT, NOTEBOOK, hidden_marker="seed=271828")


STUDENTS = {"instructor": ((), True), "blank": ((), False), "over_budget": ((), True, over_budget)} | {
    m.name: (m.mutations, True) for m in E2E_MISTAKES
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Course:
    course = Course(tmp_path_factory.mktemp("course"), [ASSIGNMENT])
    return grade_with_cli(course, ASSIGNMENT, NOTEBOOK, STUDENTS, {"COURSE_DEVICE": "cpu"})


def test_committed_release_is_up_to_date(graded):
    E2E.assert_release_up_to_date(graded)


def test_release_has_no_solution_or_hidden_test_text():
    E2E.assert_release_hides_solutions()


def test_points_add_up_to_100():
    E2E.assert_points_add_up_to_100()


def test_instructor_solution_scores_full_marks(graded):
    E2E.assert_full_marks(graded)


def test_blank_release_scores_zero(graded):
    E2E.assert_zero(graded)


@pytest.mark.parametrize("mistake", E2E_MISTAKES, ids=lambda m: m.name)
def test_typical_mistake_gets_partial_credit_and_named_feedback(graded, mistake):
    E2E.assert_mistake_named(graded, mistake)


def test_feedback_never_shows_hidden_tests(graded):
    E2E.assert_feedback_hides_hidden_tests(graded)


def test_feedback_shows_the_trained_models_accuracy(graded):
    text = E2E.feedback_text(graded, "instructor")
    assert "accuracy" in text and "on the hidden test split" in text


def test_training_past_the_grading_budget_is_cut_with_a_message(graded):
    path = graded.root / "autograded" / "over_budget" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if OVER_BUDGET in c.source)
    shown = "\n".join(str(o.get("evalue", "")) + "".join(o.get("traceback", [])) for o in cell.outputs)
    assert "training stopped after 600 optimizer steps" in shown and "grading budget" in shown
    scores = graded.scores(ASSIGNMENT, NOTEBOOK)["over_budget"]
    assert all(points for cell_id, points in scores.items() if cell_id not in ACCURACY_CELLS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_same_points_on_the_gpu(graded, tmp_path_factory):
    course = Course(tmp_path_factory.mktemp("gpu_course"), [ASSIGNMENT])
    grade_with_cli(course, ASSIGNMENT, NOTEBOOK, STUDENTS, {"COURSE_DEVICE": "cuda"})
    E2E.assert_same_points_on_the_gpu(graded, course)
