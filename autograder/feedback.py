"""Feedback a student can read, without hidden tests: nbgrader preprocessors for ``generate_feedback``.

nbgrader's own feedback shows the source of hidden tests, and a failing hidden test's traceback quotes its
lines (nbgrader issues #917, #1363). ``HideHiddenTests`` removes the hidden region from every test cell and
replaces the traceback of a failing hidden test with its error message alone: the student learns what is
wrong (the check's message names the mistake) without seeing the test.

``FeedbackSummary`` puts a summary at the top of the page: each task (the section of the notebook its test
cells are in) with the points earned, the messages of the checks that failed, and the problems met in
grading (a time limit, a crashed kernel...). The course's ``feedback`` template (``autograder/templates``)
shows it in place of nbgrader's list of cells, with no script and a Content-Security-Policy that forbids
them; student content on the page is sanitized (``autograder.safehtml``, set up by
``autograder.config.configure_html``).

``generate_feedback`` (``autograder feedback``) runs nbgrader's ``GenerateFeedback`` with these
preprocessors.
"""

from __future__ import annotations

import copy
import html
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbgrader.preprocessors import ClearHiddenTests

from .config import configure_html

#: What a feedback page may load and run: nothing but its own styles and embedded images and fonts.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; base-uri 'none'; form-action 'none'"
)

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

#: Longest failure message the summary shows (the full output is in the notebook below it).
MAX_MESSAGE = 600

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class Check:
    """One graded cell as the summary shows it."""

    grade_id: str
    name: str  # readable: ``test_conv2d_hidden`` -> "conv2d (hidden tests)"
    score: float | None  # None: not graded yet (a manually graded answer)
    points: float
    message: str | None  # why it lost points, when it did


@dataclass
class Task:
    """The graded cells of one section of the notebook (or one graded cell, outside any section)."""

    name_html: str  # safe HTML: the section's heading, or the cell's readable name
    checks: list[Check] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        scores = [c.score for c in self.checks]
        return None if any(s is None for s in scores) else sum(scores)

    @property
    def points(self) -> float:
        return sum(c.points for c in self.checks)


def readable_name(grade_id: str) -> str:
    """``test_conv2d_backward_dx_hidden`` -> ``conv2d backward dx (hidden tests)``."""
    name = grade_id.removeprefix("test_")
    hidden = name.endswith("_hidden")
    name = name.removesuffix("_hidden").replace("_", " ").strip() or grade_id
    return f"{name} (hidden tests)" if hidden else name


def _headings(source: str) -> list[tuple[int, str]]:
    """The ATX headings (``## Title``) of a Markdown cell, outside code blocks: (level, text)."""
    found, fenced = [], False
    for line in source.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(line)):
            found.append((len(m.group(1)), m.group(2)))
    return found


def _inline_html(text: str) -> str:
    """Safe HTML of one line of Markdown (a heading's text), math as MathML, without the paragraph around it."""
    from .rendering import markdown_html

    rendered = markdown_html(f"#### {text}").strip()  # as a heading: "1. Metrics" is no list
    return rendered[4:-5].strip() if rendered.startswith("<h4>") and rendered.endswith("</h4>") else rendered


def _number(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def failure_message(cell) -> str | None:
    """What the cell's first error says: the check's message, not a traceback."""
    for output in cell.get("outputs", []):
        if output.get("output_type") != "error":
            continue
        ename, evalue = str(output.get("ename", "")), str(output.get("evalue", ""))
        message = evalue.strip()
        if not message:  # e.g. the time limit's error keeps its words in its one-line traceback
            last = _ANSI.sub("", str((output.get("traceback") or [""])[-1])).strip()
            message = last.removeprefix(f"{ename}:").strip() if last.startswith(f"{ename}:") else ""
        message = message or ename or "error"
        return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + " ..."
    return None


def summarize(nb) -> list[Task]:
    """The notebook's graded cells grouped into tasks by the heading of the section they are in.

    The notebook's first heading, when of level 1, is its title, not a section; graded cells before any
    section are tasks of their own, named after the cell. Run after ``GetGrades`` (it puts the scores into
    the cells) and ``HideHiddenTests`` (messages are read from the outputs it left).
    """
    tasks: list[Task] = []
    section: str | None = None
    section_task: Task | None = None
    seen_heading = False
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "markdown":
            for level, text in _headings(cell.get("source", "")):
                if seen_heading or level > 1:
                    section, section_task = text, None
                seen_heading = True
        if not (isinstance(meta, dict) and meta.get("grade")):
            continue
        grade_id = str(meta.get("grade_id", ""))
        score, points = _number(meta.get("score")), _number(meta.get("points")) or 0.0
        hidden = HIDDEN_NOTE in cell.get("source", "") or "BEGIN HIDDEN TESTS" in cell.get("source", "")
        name = readable_name(grade_id)
        if hidden and not name.endswith("(hidden tests)"):
            name += " (hidden tests)"
        message = None
        if score is not None and score < points:
            message = failure_message(cell)
        check = Check(grade_id, name, score, points, message)
        if section is None:
            tasks.append(Task(html.escape(name[:1].upper() + name[1:]), [check]))
            continue
        if section_task is None:
            section_task = Task(_inline_html(section))
            tasks.append(section_task)
        section_task.checks.append(check)
    return tasks


def _points(score: float | None, points: float) -> str:
    return f"— / {points:g}" if score is None else f"{score:g} / {points:g}"


def _text_html(text) -> str:
    return html.escape(str(text)).replace("\n", "<br>")


def problems_html(problems: list) -> str:
    """The problems met in grading, every word escaped."""
    problems = [p for p in problems if isinstance(p, dict)]
    if not problems:
        return ""
    items = "".join(
        f"<li><strong>{_text_html(str(p.get('kind', 'problem')).replace('_', ' '))}</strong>: "
        f"{_text_html(p.get('message', ''))}</li>"
        for p in problems
    )
    text = f'<h3>Problems while grading</h3>\n<ul class="problems">{items}</ul>\n'
    if any(p.get("kind") in STOPPED for p in problems):
        text += "<p>Cells after the problem were not run and score zero.</p>\n"
    return text


def summary_html(tasks: list[Task], problems: list, score: float | None = None, max_score: float | None = None) -> str:
    """The summary at the top of the feedback: each task with its points and why it lost some, then the
    problems met in grading. Every text from the notebook is escaped (or sanitized, for headings)."""
    rows = []
    for task in tasks:
        state = "pending" if task.score is None else "passed" if task.score >= task.points else "failed"
        anchor = html.escape(task.checks[0].grade_id, quote=True)
        failures = "".join(
            "<li>"
            + (  # a task of one cell is that cell: its name and points are on the row already
                f'<a href="#{html.escape(c.grade_id, quote=True)}">{html.escape(c.name)}</a> '
                f"({_points(c.score, c.points)}): "
                if len(task.checks) > 1
                else ""
            )
            + f'<span class="message">{_text_html(c.message or "no points")}</span></li>'
            for c in task.checks
            if c.score is not None and c.score < c.points
        )
        failures = f'<ul class="failures">{failures}</ul>' if failures else ""
        rows.append(
            f'<tr class="task {state}"><td><a href="#{anchor}">{task.name_html}</a>{failures}</td>'
            f'<td class="points">{_points(task.score, task.points)}</td></tr>'
        )
    if score is None:
        score = None if any(t.score is None for t in tasks) else sum(t.score for t in tasks)
    if max_score is None:
        max_score = sum(t.points for t in tasks)
    table = (
        '<table class="table table-condensed summary">\n<thead><tr><th>Task</th><th class="points">Points</th></tr>'
        f"</thead>\n<tbody>\n{chr(10).join(rows)}\n</tbody>\n"
        f'<tfoot><tr><th>Total</th><th class="points">{_points(score, max_score)}</th></tr></tfoot>\n</table>\n'
        if rows
        else ""
    )
    problems_part = problems_html(problems)
    if not (table or problems_part):
        return ""
    return f'<div class="autograder-summary">\n<h2>Summary</h2>\n{table}{problems_part}</div>\n'


class FeedbackSummary(Preprocessor):
    """Make the summary of the feedback page (``resources["autograder_summary"]``, which the course's
    ``feedback`` template shows above the notebook): each task's points, the failing checks' messages, the
    problems met in grading."""

    enabled = True

    def preprocess(self, nb, resources):
        problems = nb.metadata.get("autograder", {}).get("problems", [])
        grades = resources.get("nbgrader", {}) if hasattr(resources, "get") else {}
        resources["autograder_summary"] = summary_html(
            summarize(nb),
            problems if isinstance(problems, list) else [],
            _number(grades.get("score")) if grades else None,
            _number(grades.get("max_score")) if grades else None,
        )
        return nb, resources


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}"><title>{title}</title></head>
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
    configure_html(config)  # whatever the course's nbgrader_config.py says: sanitized, the course's template
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
                    _PAGE.format(
                        csp=CONTENT_SECURITY_POLICY,
                        title=title,
                        score=record["score"],
                        max_score=record["max_score"],
                        items=items,
                    )
                )
            written.append(path)
    return written
