"""Feedback without hidden tests: an nbgrader preprocessor for ``generate_feedback``.

nbgrader's own feedback shows the source of hidden tests, and a failing hidden test's traceback quotes its
lines (nbgrader issues #917, #1363). ``HideHiddenTests`` removes the hidden region from every test cell and
replaces the traceback of a failing hidden test with its error message alone: the student learns what is
wrong (the check's message names the mistake) without seeing the test.

``generate_feedback`` (``autograder feedback``) runs nbgrader's ``GenerateFeedback`` with these
preprocessors and ``ProblemsBanner``, which puts what went wrong in grading at the top of the page.
"""

from __future__ import annotations

import copy
import html
import shutil
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_markdown_cell
from nbgrader.preprocessors import ClearHiddenTests

HIDDEN_NOTE = "# (hidden tests: their source is not shown)"


class HideHiddenTests(ClearHiddenTests):
    """Strip hidden-test regions from test cells and reduce their error outputs to the message.

    Any output that quotes a line of a hidden test (a student's cell that printed ``In``, the input history)
    has the line replaced by ``[hidden test]``.
    """

    def preprocess(self, nb, resources):
        lines = sorted(self._hidden_lines(nb), key=len, reverse=True)
        nb, resources = super().preprocess(nb, resources)
        if lines:
            for cell in nb.cells:
                for output in cell.get("outputs", []):
                    _redact(output, lines)
        return nb, resources

    def _hidden_lines(self, nb) -> set[str]:
        found = set()
        for cell in nb.cells:
            inside = False
            for line in cell.get("source", "").splitlines() if cell.cell_type == "code" else []:
                if self.begin_test_delimeter in line:
                    inside = True
                elif self.end_test_delimeter in line:
                    inside = False
                elif inside and len(line.strip()) >= MIN_REDACTED:
                    found.add(line.strip())
        return found

    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden = cell.cell_type == "code" and self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if not had_hidden:
            return cell, resources
        cell.source = (cell.source.rstrip("\n") + "\n" + HIDDEN_NOTE).lstrip("\n")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


MIN_REDACTED = 12  # shorter hidden lines (``)``, ``else:``) say nothing and would garble outputs


def _scrub(text: str, lines: list[str]) -> str:
    for line in lines:
        if line in text:
            text = text.replace(line, "[hidden test]")
    return text


def _redact(output, lines: list[str]) -> None:
    """Replace hidden-test lines quoted in one output (stream text, rich data, error parts)."""
    if "text" in output and isinstance(output["text"], str):
        output["text"] = _scrub(output["text"], lines)
    for mime, value in output.get("data", {}).items():
        if isinstance(value, str) and mime.startswith("text/"):
            output["data"][mime] = _scrub(value, lines)
    if output.get("output_type") == "error":
        output["evalue"] = _scrub(output.get("evalue", ""), lines)
        output["traceback"] = [_scrub(t, lines) for t in output.get("traceback", [])]


#: Problems after which the notebook's later cells did not run.
STOPPED = {"notebook_timeout", "dead_kernel", "unresponsive", "memory_limit", "cpu_limit", "crash", "exit", "killed"}


class ProblemsBanner(Preprocessor):
    """Put what went wrong in grading (a time limit, a crashed kernel...) at the top of the feedback."""

    enabled = True

    def preprocess(self, nb, resources):
        problems = nb.metadata.get("autograder", {}).get("problems", [])
        if problems:
            items = "\n".join(f"- **{p['kind'].replace('_', ' ')}**: {p['message']}" for p in problems)
            text = f"## Problems while grading\n\n{items}"
            if any(p["kind"] in STOPPED for p in problems):
                text += "\n\nCells after the problem were not run and score zero."
            nb.cells.insert(0, new_markdown_cell(text))
        return nb, resources


FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.HideHiddenTests",
    "autograder.feedback.ProblemsBanner",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>Score: {score:g} / {max_score:g}</p>
<h2>Problems while grading</h2><ul>{items}</ul></body></html>
"""


def generate_feedback(course, assignment: str, students: list[str] | None = None) -> list[Path]:
    """HTML feedback for every graded student (or ``students``) of ``assignment`` via nbgrader's
    ``GenerateFeedback``, hidden tests removed; a notebook that could not be read gets a page that says why.
    Returns the feedback files written.
    """
    from nbgrader.converters import GenerateFeedback
    from nbgrader.utils import capture_log

    from .course import AutograderError, quiet_logger
    from .pipeline.coordinator import journal_for

    notebooks = course.released_notebooks(assignment)
    records = journal_for(course, assignment).latest()
    wanted = students or sorted(records)
    unknown = [s for s in wanted if s not in records]
    if unknown:
        raise AutograderError(f"not graded yet: {', '.join(unknown)}; run `autograder grade {assignment}` first")
    config = copy.deepcopy(course.config)
    config.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS
    config.HTMLExporter.template_name = "feedback"
    cd = course.coursedir()
    written = []
    for student in wanted:
        graded = Path(cd.format_path(cd.autograded_directory, student, assignment))
        out = Path(cd.format_path(cd.feedback_directory, student, assignment))
        if out.exists():
            shutil.rmtree(out)  # feedback of an earlier grading must not outlive it
        if any((graded / f"{nb}.ipynb").exists() for nb in notebooks):
            app = GenerateFeedback(coursedir=course.coursedir(assignment_id=assignment, student_id=student),
                                   config=config, log=quiet_logger("feedback"))  # fmt: skip
            app.force = True
            outcome = capture_log(app)
            if not outcome["success"]:
                raise AutograderError(f"nbgrader generate_feedback failed for {student}:\n{outcome.get('log', '')}")
        record = records[student]
        for nb in notebooks:
            path = out / f"{nb}.html"
            if not path.exists():  # nothing nbgrader could render: say why instead
                items = (
                    "".join(
                        f"<li>{html.escape(p['message'])}</li>"
                        for p in record["problems"]
                        if p.get("notebook") in (nb, None)
                    )
                    or "<li>no notebook was graded</li>"
                )
                out.mkdir(parents=True, exist_ok=True)
                title = html.escape(f"{assignment}/{nb} — {student}")
                path.write_text(
                    _PAGE.format(title=title, score=record["score"], max_score=record["max_score"], items=items)
                )
            written.append(path)
    return written
