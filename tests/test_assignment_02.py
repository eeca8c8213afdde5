"""Assignment 2 end to end: nbgrader's release, the course's grader (``autograder grade``, nbgrader's Autograde in
parallel workers) with real training, nbgrader's feedback.

One temporary course is graded once for the module, on the CPU: the instructor's solution, the blank release and one
submission per typical mistake of the network and its loss (``MISTAKES`` in tests/support/assignment02.py; the
mistakes of ``evaluate``, whose training is the solution's, run through the notebook's test cells in-process).
(A training cell that ignores the grading budget is shown to be cut in tests/test_assignment_03.py, whose
training costs a quarter of this one's; the budget code is the same. That grading is deterministic — seeded
training, evaluation without randomness — is shown in tests/test_checks_unet.py, where it costs seconds instead
of a second graded submission.) Training runs for real, bounded by the grading budget; the trainability check's
results are cached between submissions whose networks behave identically (``AUTOGRADER_CACHE``). When a GPU is
present, every submission is graded on it as well and must earn the same points, cell by cell.
"""

from __future__ import annotations

import pytest
import torch

from tests.support.assignment02 import ASSIGNMENT, MISTAKES, NOTEBOOK
from tests.support.e2e import EndToEnd
from tests.support.nbcourse import (
    Course,
    grade_with_cli,
)

E2E = EndToEnd(ASSIGNMENT, NOTEBOOK, hidden_marker="seed=424242")


STUDENTS = {"instructor": ((), True), "blank": ((), False)} | {m.name: (m.mutations, True) for m in MISTAKES}


def _grade(course: Course, cache, device: str) -> Course:
    env = {"AUTOGRADER_CACHE": str(cache), "COURSE_DEVICE": device}
    return grade_with_cli(course, ASSIGNMENT, NOTEBOOK, STUDENTS, env)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Course:
    course = Course(tmp_path_factory.mktemp("course"), [ASSIGNMENT])
    return _grade(course, tmp_path_factory.mktemp("cache"), device="cpu")


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


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_typical_mistake_gets_partial_credit_and_named_feedback(graded, mistake):
    E2E.assert_mistake_named(graded, mistake)


def test_feedback_never_shows_hidden_tests(graded):
    E2E.assert_feedback_hides_hidden_tests(graded)


def test_feedback_shows_the_trained_models_score(graded):
    text = E2E.feedback_text(graded, "instructor")
    assert "mean IoU" in text and "on the hidden test split" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_same_points_on_the_gpu(graded, tmp_path_factory):
    course = Course(tmp_path_factory.mktemp("gpu_course"), [ASSIGNMENT])
    E2E.assert_same_points_on_the_gpu(graded, _grade(course, tmp_path_factory.mktemp("gpu_cache"), device="cuda"))
