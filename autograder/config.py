"""The course's nbgrader settings, shared by the repository's ``nbgrader_config.py`` and by temporary courses."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

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
    configure_grading(c)
    configure_html(c)


#: nbgrader's ``Execute`` in the course's autograde chain becomes this, in every grading path.
GUARDED_EXECUTE = "autograder.pipeline.execute.GuardedExecute"
SANDBOXED_KERNELS = "autograder.sandbox.manager.SandboxedKernelManager"


def configure_grading(c) -> None:
    """Make ``nbgrader autograde`` and Formgrader's Autograde button run student code as ``autograder grade``
    does: nbgrader's ``Execute`` replaced by ``GuardedExecute`` (time limits, bounded outputs, a working copy of
    its own, the allowed environment), its kernels in the bubblewrap sandbox. Where bubblewrap is missing they
    refuse, with the message of ``autograder grade`` (which alone can grade with ``--no-sandbox``).

    ``autograder grade`` adds what only it does (outside verdicts, checks of the submitted files, the journal).
    """
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    chain = Autograde.class_traits()["autograde_preprocessors"].default()
    c.Autograde.autograde_preprocessors = [GUARDED_EXECUTE if p is Execute else p for p in chain]
    c.GuardedExecute.kernel_manager_class = SANDBOXED_KERNELS
    # collecting from the exchange refuses submissions in another student's name and follows no link
    c.ExchangeFactory.collect = "autograder.exchange.SafeExchangeCollect"


#: The course's templates: ``feedback`` replaces nbgrader's template of the same name.
TEMPLATES = Path(__file__).resolve().parent / "templates"

#: Feedback never shows hidden tests (nbgrader's default feedback does) and starts with a summary.
FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.HideHiddenTests",
    "autograder.feedback.FeedbackSummary",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


def nbgrader_templates() -> str:
    """The folder of nbgrader's own templates (``formgrade``, ``feedback``), found without importing nbgrader."""
    spec = find_spec("nbgrader")
    package = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    return str(package / "server_extensions" / "formgrader" / "templates") if package else ""


def configure_html(c) -> None:
    """Make every HTML page of a student's notebook safe to open: Formgrader's (nbgrader builds its exporter
    from this configuration) and the feedback.

    Student content is sanitized (``autograder.safehtml``), Markdown math becomes MathML, and metadata that
    templates print raw is checked (``autograder.rendering``); SVG outputs stay images. Feedback uses the
    course's ``feedback`` template (a summary, no script, a Content-Security-Policy that allows none), found
    before nbgrader's; Formgrader keeps nbgrader's ``formgrade`` template.
    """
    c.HTMLExporter.sanitize_html = True
    c.HTMLExporter.skip_svg_encoding = False
    c.HTMLExporter.filters = {
        "clean_html": "autograder.safehtml.clean_html",
        "markdown2html": "autograder.rendering.SafeMarkdown",
    }
    c.HTMLExporter.preprocessors = ["autograder.rendering.SafeMetadata"]
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), *filter(None, [nbgrader_templates()])]
    c.GenerateFeedback.preprocessors = list(FEEDBACK_PREPROCESSORS)


def config_file_text(root: str | os.PathLike) -> str:
    """The text of an ``nbgrader_config.py`` for a course at ``root`` that uses these settings."""
    return (
        f"from autograder.config import configure\n\nconfigure(get_config(), root={os.fspath(root)!r})  # noqa: F821\n"
    )
