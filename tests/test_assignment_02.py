"""Assignment 2 end to end: nbgrader's release, the course's grader (``autograder grade``, nbgrader's Autograde in
parallel workers) with real training, nbgrader's feedback.

One temporary course is graded once for the module: the instructor's solution, the blank release and one
submission per typical mistake (tests/support/assignment02.py). (A training cell that ignores the grading
budget is shown to be cut in tests/test_assignment_03.py, whose training costs a quarter of this one's; the
budget code is the same. That grading is deterministic — seeded training, evaluation without randomness — is shown
in tests/test_checks_unet.py, where it costs seconds instead of a second graded submission.)
Training runs for real, bounded by the grading budget; the trainability
check's results are cached between submissions whose networks behave identically (``AUTOGRADER_CACHE``).
When a GPU is present, the instructor's solution is graded on it as well and must earn the same points.
"""

from __future__ import annotations

import pytest
import torch

from tests.support.assignment02 import ASSIGNMENT, MISTAKES, NOTEBOOK
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


def _grade(course: Course, cache, students: dict[str, tuple], device: str | None = None) -> Course:
    env = {"AUTOGRADER_CACHE": str(cache)}
    if device:
        env["COURSE_DEVICE"] = device
    # two workers share a 2-core CI machine (one thread each)
    return grade_with_cli(course, ASSIGNMENT, NOTEBOOK, students, env, workers=1 if device else 2)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Course:
    students = {
        "instructor": ((), True),
        "blank": ((), False),
    }
    students.update({m.name: (m.mutations, True) for m in MISTAKES})
    course = Course(tmp_path_factory.mktemp("course"), [ASSIGNMENT])
    return _grade(course, tmp_path_factory.mktemp("cache"), students)


def test_committed_release_is_up_to_date(graded):
    fresh = graded.root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert notebook_cells(COMMITTED_RELEASE) == notebook_cells(fresh), (
        f"assignments/{ASSIGNMENT} is stale: run `nbgrader generate_assignment {ASSIGNMENT} --force` and commit it"
    )


def test_release_has_no_solution_or_hidden_test_text():
    text = COMMITTED_RELEASE.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "hidden=True", "seed=424242"):
        assert marker not in text
    assert not leaked_solution_lines(COMMITTED_RELEASE, ASSIGNMENT, NOTEBOOK)


def test_points_add_up_to_100():
    points = [meta.get("points", 0) for _, _, meta in notebook_cells(COMMITTED_RELEASE) if meta.get("grade")]
    assert sum(points) == 100 and all(p > 0 for p in points)


def test_instructor_solution_scores_full_marks(graded):
    scores = graded.scores(ASSIGNMENT, NOTEBOOK)["instructor"]
    lost = {k: v for k, v in scores.items() if not v}
    assert not lost and sum(scores.values()) == 100


def test_blank_release_scores_zero(graded):
    scores = graded.scores(ASSIGNMENT, NOTEBOOK)["blank"]
    assert sum(v or 0 for v in scores.values()) == 0


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_typical_mistake_gets_partial_credit_and_named_feedback(graded, mistake):
    scores = graded.scores(ASSIGNMENT, NOTEBOOK)[mistake.name]
    failed = {cell for cell, points in scores.items() if not points}
    assert mistake.failing <= failed <= mistake.failing | mistake.may_fail, sorted(failed)
    assert 0 < sum(v or 0 for v in scores.values()) < 100
    html = (graded.root / "feedback" / mistake.name / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    assert mistake.phrase in visible_text(html)


def test_feedback_never_shows_hidden_tests(graded):
    hidden = hidden_test_lines(graded.root / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    assert hidden
    for html_path in (graded.root / "feedback").rglob("*.html"):
        text = visible_text(html_path.read_text())
        shown = [line for line in hidden if line in text]
        assert not shown, f"{html_path.parent.parent.name}: hidden test lines in feedback: {shown[:2]}"


def test_feedback_shows_the_trained_models_score(graded):
    html = (graded.root / "feedback" / "instructor" / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    assert "mean IoU" in visible_text(html) and "on the hidden test split" in visible_text(html)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_same_points_on_the_gpu(graded, tmp_path_factory):
    course = Course(tmp_path_factory.mktemp("gpu_course"), [ASSIGNMENT])
    _grade(course, tmp_path_factory.mktemp("gpu_cache"), {"instructor": ((), True)}, device="cuda")
    assert course.scores(ASSIGNMENT, NOTEBOOK)["instructor"] == graded.scores(ASSIGNMENT, NOTEBOOK)["instructor"]
