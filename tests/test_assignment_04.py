"""Assignment 4 end to end: nbgrader's release, the course's grader (``autograder grade``, sandboxed kernels in
parallel workers), nbgrader's feedback.

One temporary course is graded once for the module, on the CPU: the instructor's solution, the blank release and one
submission per typical mistake graded end to end (tests/support/assignment04.py; the others are shown in-process
by tests/test_checks_visualization.py). The checks run on their own seeded networks, so the points do not depend
on how the notebook's network trained. When a GPU is present, every submission is graded on it as well
and must earn the same points, cell by cell.
"""

from __future__ import annotations

import pytest
import torch

from tests.support.assignment04 import ASSIGNMENT, E2E_MISTAKES, NOTEBOOK
from tests.support.e2e import EndToEnd
from tests.support.nbcourse import Course, grade_with_cli

E2E = EndToEnd(ASSIGNMENT, NOTEBOOK, hidden_marker="seed=314159")


STUDENTS = {"instructor": ((), True), "blank": ((), False)} | {m.name: (m.mutations, True) for m in E2E_MISTAKES}


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


def test_at_least_six_typical_mistakes_are_graded_end_to_end():
    assert len(E2E_MISTAKES) >= 6


@pytest.mark.parametrize("mistake", E2E_MISTAKES, ids=lambda m: m.name)
def test_typical_mistake_gets_partial_credit_and_named_feedback(graded, mistake):
    E2E.assert_mistake_named(graded, mistake)


def test_feedback_never_shows_hidden_tests(graded):
    E2E.assert_feedback_hides_hidden_tests(graded)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_same_points_on_the_gpu(graded, tmp_path_factory):
    course = Course(tmp_path_factory.mktemp("gpu_course"), [ASSIGNMENT])
    grade_with_cli(course, ASSIGNMENT, NOTEBOOK, STUDENTS, {"COURSE_DEVICE": "cuda"})
    E2E.assert_same_points_on_the_gpu(graded, course)
