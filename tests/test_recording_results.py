"""Recording a graded result into the course's gradebook (the coordinator's one write per submission).

A real nbgrader gradebook with an assignment of two notebooks (grade, task and solution cells); what the
recording wrote is read back through nbgrader's own ``find_*`` API.
"""

from __future__ import annotations

import pytest
from nbgrader.api import MissingEntry

from autograder.course import Course
from autograder.pipeline.gradebook import record_result
from autograder.pipeline.job import GradeResult


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    root = tmp_path_factory.mktemp("course")
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.CourseDirectory.root = {str(root)!r}\nc.CourseDirectory.course_id = 'c'\n"
    )
    course = Course.open(root)
    with course.gradebook(create=True) as gb:
        gb.update_or_create_assignment("hw")
        for nb in ("one", "two"):
            gb.update_or_create_notebook(nb, "hw")
            gb.update_or_create_grade_cell("test_a", nb, "hw", max_score=2, cell_type="code")
            gb.update_or_create_grade_cell("answer", nb, "hw", max_score=3, cell_type="code")
            gb.update_or_create_solution_cell("answer", nb, "hw")
            gb.update_or_create_task_cell("task", nb, "hw", max_score=1, cell_type="markdown")
    return course


def _result(student: str, scores: dict[tuple[str, str], float | None], **kw) -> GradeResult:
    cells = [{"notebook": nb, "name": name, "auto_score": s, "max_score": 2} for (nb, name), s in scores.items()]
    comments = [{"notebook": nb, "name": "answer", "auto_comment": f"{nb} looks fine"} for nb in ("one", "two")]
    return GradeResult("hw", student, "digest", "graded", cells=cells, comments=comments, **kw)


def test_every_cell_score_comment_penalty_and_flag_lands_on_its_own_entry(course):
    scores = {("one", "test_a"): 2.0, ("one", "answer"): 1.5, ("two", "test_a"): 0.0, ("two", "answer"): None}
    problems = [{"kind": "tamper_attempt", "notebook": "two"}]
    record_result(course, _result("ada", scores, penalties={"one": 0.5}, problems=problems))
    record_result(course, _result("bob", {key: 1.0 for key in scores}))  # a second student, same cells
    with course.gradebook() as gb:
        for (nb, name), score in scores.items():
            grade = gb.find_grade(name, nb, "hw", "ada")
            assert grade.auto_score == score
            assert grade.needs_manual_grade is (score is None)  # an answer without a score needs a human
            assert gb.find_grade(name, nb, "hw", "bob").auto_score == 1.0
        assert gb.find_comment("answer", "two", "hw", "ada").auto_comment == "two looks fine"
        one, two = (gb.find_submission_notebook(nb, "hw", "ada") for nb in ("one", "two"))
        assert (one.late_submission_penalty, one.flagged) == (0.5, False)
        assert (two.late_submission_penalty, two.flagged) == (None, True)
        assert gb.find_grade("task", "one", "hw", "ada").auto_score is None  # not in the result: untouched


def test_a_manual_score_keeps_the_cell_for_a_human_after_regrading(course):
    record_result(course, _result("cy", {("one", "answer"): 1.0}))
    with course.gradebook() as gb:
        grade = gb.find_grade("answer", "one", "hw", "cy")
        grade.manual_score = 3.0
        gb.db.commit()
    record_result(course, _result("cy", {("one", "answer"): 2.0}))
    with course.gradebook() as gb:
        grade = gb.find_grade("answer", "one", "hw", "cy")
        assert (grade.auto_score, grade.manual_score, grade.needs_manual_grade) == (2.0, 3.0, True)


def test_a_cell_the_gradebook_does_not_know_is_an_error_not_a_silent_skip(course):
    with pytest.raises(MissingEntry, match="hw/one/test_z"):
        record_result(course, _result("dee", {("one", "test_z"): 1.0}))
