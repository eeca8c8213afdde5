"""The course's nbgrader settings, shared by the repository's ``nbgrader_config.py`` and by temporary courses."""

from __future__ import annotations

import os

#: Where nbgrader finds and writes things, relative to the course root.
DIRECTORIES = {
    "source_directory": "solutions",
    "release_directory": "assignments",
    "submitted_directory": "submitted",
    "autograded_directory": "autograded",
    "feedback_directory": "feedback",
}


def configure(c, root: str | os.PathLike, course_id: str = "cnn-course") -> None:
    """Fill an nbgrader ``Config`` ``c`` for a course whose root directory is ``root``."""
    c.CourseDirectory.root = os.fspath(root)
    c.CourseDirectory.course_id = course_id
    for name, value in DIRECTORIES.items():
        setattr(c.CourseDirectory, name, value)
    # Student notebooks are released with outputs cleared.
    c.ClearOutput.enabled = True
    # A cell may train a network (bounded by the grading budget, autograder.checks.budget) or time code: give
    # it five minutes, enough for a slow or busy 2-core machine; an endless loop still ends there.
    c.Execute.timeout = 300
    # Feedback never shows hidden tests (nbgrader's default feedback does).
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "autograder.feedback.HideHiddenTests",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]


def config_file_text(root: str | os.PathLike) -> str:
    """The text of an ``nbgrader_config.py`` for a course at ``root`` that uses these settings."""
    return (
        f"from autograder.config import configure\n\nconfigure(get_config(), root={os.fspath(root)!r})  # noqa: F821\n"
    )
