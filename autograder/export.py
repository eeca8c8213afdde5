"""``autograder export``: grades out of the gradebook, and class statistics per test.

- ``csv``: nbgrader's own ``CsvExportPlugin`` (``exports/grades.csv``), the same file ``nbgrader export`` writes;
- ``gradescope``: one Gradescope ``results.json`` per student (``exports/gradescope/<student>/results.json``)
  with ``score``, ``max_score`` and ``tests[]`` (``name``, ``score``, ``max_score``, ``output``,
  ``visibility``); a hidden test is ``after_published`` and shows only its failure message, never its source;
- ``canvas`` and ``moodle``: the LMS's own grade-import CSV (``exports/<assignment>_canvas.csv``, ``_moodle.csv``),
  students keyed through the roster (:func:`autograder.lms.read_roster`), with a feedback comment (score,
  lateness, flags); graded students missing from the roster are listed, never dropped silently;
- ``gradescope-autograder``: a Gradescope autograder zip (:mod:`autograder.gradescope`).

Every score is the gradebook's: the points of the cells minus nbgrader's late penalties
(``late_submission_penalty``, set by the course's late policy, :mod:`autograder.late`), as in nbgrader's CSV.

Both also write the class statistics per test (pass rate, mean points): ``<assignment>_tests.csv``, a
Markdown table ``<assignment>_tests.md`` (also printed) and a bar chart ``<assignment>_tests.png``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import nbformat

from .course import AutograderError, Course

HIDDEN_MARK = "### BEGIN HIDDEN TESTS"


@dataclass
class TestStat:
    """Class statistics of one test cell."""

    notebook: str
    name: str
    max_score: float
    scores: list[float]

    @property
    def pass_rate(self) -> float:
        return sum(s >= self.max_score for s in self.scores) / len(self.scores) if self.scores else 0.0

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0


def _cell_order(course: Course, assignment: str, notebook: str) -> list[str]:
    path = course.directory("release") / assignment / f"{notebook}.ipynb"
    if not path.exists():
        return []
    nb = nbformat.read(path, as_version=4)
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def is_graded(submission) -> bool:
    """Whether a gradebook submission has been graded: some cell has a score (``autograder extend`` makes a
    submission entry for a student who has not submitted yet, with none)."""
    return any(g.auto_score is not None or g.manual_score is not None for nb in submission.notebooks for g in nb.grades)


def scores(course: Course, assignment: str) -> dict[str, dict[tuple[str, str], tuple[float, float]]]:
    """Per student, per (notebook, cell): (score, max score) from the gradebook (manual scores win)."""
    notebooks = course.released_notebooks(assignment)
    out: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
    with course.gradebook(assignment) as gb:
        for submission in gb.find_assignment(assignment).submissions:
            if not is_graded(submission):
                continue
            cells = out.setdefault(submission.student_id, {})
            for nb in notebooks:
                for grade in gb.find_submission_notebook(nb, assignment, submission.student_id).grades:
                    cells[(nb, grade.name)] = (float(grade.score or 0), float(grade.max_score))
    if not out:
        raise AutograderError(f"nothing graded for {assignment!r} yet: run `autograder grade {assignment}` first")
    return out


@dataclass
class FinalGrade:
    """A student's grade as every export gives it: points earned, nbgrader's late penalty, and why."""

    student: str
    raw: float
    penalty: float
    max_score: float
    timestamp: datetime | None = None
    seconds_late: float = 0.0
    extension: timedelta | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """The points that count: earned minus the late penalty, as nbgrader's CSV export has it."""
        return round(max(0.0, self.raw - self.penalty), 4)

    def lateness(self) -> str:
        """``late 3 h: -3 points`` (with the extension, if any); empty when on time."""
        if self.seconds_late <= 0:
            return ""
        text = f"late {self.seconds_late / 3600:.2f} h"
        if self.extension:
            text += f" after an extension of {self.extension.total_seconds() / 3600:g} h"
        return f"{text}: -{self.penalty:g} points" if self.penalty else f"{text}: no penalty"

    def comment(self) -> str:
        """The feedback comment of the LMS exports: score, lateness, flags."""
        parts = [f"{self.score:g}/{self.max_score:g} points"]
        if self.penalty:
            parts[0] += f" ({self.raw:g} earned)"
        if self.lateness():
            parts.append(self.lateness())
        if self.flags:
            parts.append("flagged: " + ", ".join(self.flags))
        return "; ".join(parts)


def final_grades(course: Course, assignment: str) -> dict[str, FinalGrade]:
    """Each graded student's :class:`FinalGrade` from the gradebook, with the flags of the grading journal."""
    from .deadlines import from_gradebook
    from .pipeline.coordinator import journal_for

    records = journal_for(course, assignment).latest()
    cells = scores(course, assignment)
    out = {}
    with course.gradebook(assignment) as gb:
        a = gb.find_assignment(assignment)
        max_score = float(a.max_score)
        for submission in a.submissions:
            student = submission.student_id
            if student not in cells:
                continue
            problems = records.get(student, {}).get("problems", [])
            out[student] = FinalGrade(
                student,
                raw=round(sum(score for score, _ in cells[student].values()), 4),
                penalty=round(float(submission.late_submission_penalty or 0.0), 4),
                max_score=max_score,
                timestamp=from_gradebook(submission.timestamp),
                seconds_late=float(submission.total_seconds_late),
                extension=submission.extension,
                flags=list(dict.fromkeys(p["kind"] for p in problems)),
            )
    return out


def test_stats(course: Course, assignment: str) -> list[TestStat]:
    """Pass rate and mean points of every graded cell over all graded students, in notebook order."""
    table = scores(course, assignment)
    stats: dict[tuple[str, str], TestStat] = {}
    for cells in table.values():
        for (nb, name), (score, max_score) in cells.items():
            stats.setdefault((nb, name), TestStat(nb, name, max_score, [])).scores.append(score)
    order = {nb: _cell_order(course, assignment, nb) for nb in {k[0] for k in stats}}

    def key(k: tuple[str, str]) -> tuple:
        cells = order[k[0]]
        return (k[0], cells.index(k[1]) if k[1] in cells else len(cells), k[1])

    return [stats[k] for k in sorted(stats, key=key)]


def write_stats(stats: list[TestStat], out: Path, assignment: str) -> list[Path]:
    """The statistics as CSV, a Markdown table and a bar chart of pass rates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path, png_path = (out / f"{assignment}_tests.{ext}" for ext in ("csv", "md", "png"))
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["notebook", "test", "max_score", "students", "pass_rate", "mean_score"])
        for s in stats:
            w.writerow([s.notebook, s.name, s.max_score, len(s.scores), round(s.pass_rate, 4), round(s.mean, 4)])
    lines = ["| test | points | pass rate | mean points |", "| --- | --- | --- | --- |"]
    lines += [f"| {s.name} | {s.max_score:g} | {s.pass_rate:.0%} | {s.mean:.2f} |" for s in stats]
    md_path.write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(stats) + 1.2))
    ax.barh([s.name for s in stats][::-1], [100 * s.pass_rate for s in stats][::-1], color="tab:blue")
    ax.set_xlim(0, 100)
    ax.set_xlabel("students who pass (%)")
    ax.set_title(f"{assignment}: pass rate per test ({len(stats[0].scores) if stats else 0} students)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return [csv_path, md_path, png_path]


def export_csv(course: Course, assignment: str, out: Path) -> Path:
    """nbgrader's CSV export of the whole gradebook (one row per student and assignment)."""
    from nbgrader.plugins.export import CsvExportPlugin

    path = out / "grades.csv"
    plugin = CsvExportPlugin(config=course.config)
    plugin.to = str(path)
    with course.gradebook(assignment) as gb:  # first: a folder without a gradebook gets no exports/ either
        out.mkdir(parents=True, exist_ok=True)
        plugin.export(gb)
    return path


def _hidden_tests(course: Course, assignment: str, notebook: str) -> set[str]:
    """The graded cells of the instructor notebook that hold hidden tests."""
    path = course.directory("source") / assignment / f"{notebook}.ipynb"
    cells = nbformat.read(path, as_version=4).cells if path.exists() else []
    return {c.metadata["nbgrader"]["grade_id"] for c in cells if c.cell_type == "code" and HIDDEN_MARK in c.source}


def _test_outputs(course: Course, assignment: str, student: str, notebook: str) -> dict[str, tuple[str, bool]]:
    """Per graded cell: (its failure message in the autograded notebook or "", whether it is a hidden test)."""
    hidden = _hidden_tests(course, assignment, notebook)
    cd = course.coursedir()
    path = Path(cd.format_path(cd.autograded_directory, student, assignment)) / f"{notebook}.ipynb"
    out = {name: ("", True) for name in hidden}
    if not path.exists():
        return out
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade") or cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        message = f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors else ""
        out[meta["grade_id"]] = (message, meta["grade_id"] in hidden)
    return out


def gradescope_results(course: Course, assignment: str) -> dict[str, dict]:
    """Gradescope ``results.json`` content per student."""
    from .pipeline.coordinator import journal_for

    records = journal_for(course, assignment).latest()
    grades = final_grades(course, assignment)
    results = {}
    for student, cells in scores(course, assignment).items():
        outputs = {}
        for nb in {k[0] for k in cells}:
            outputs.update({(nb, k): v for k, v in _test_outputs(course, assignment, student, nb).items()})
        tests = []
        for nb, name in sorted(cells, key=lambda k: (k[0], _index(course, assignment, k))):
            score, max_score = cells[(nb, name)]
            message, hidden = outputs.get((nb, name), ("", False))
            passed = score >= max_score
            tests.append(
                {
                    "name": name if len({k[0] for k in cells}) == 1 else f"{nb}: {name}",
                    "score": score,
                    "max_score": max_score,
                    "output": "passed" if passed else (message or "failed"),
                    "visibility": "after_published" if hidden else "visible",
                }
            )
        problems = records.get(student, {}).get("problems", [])
        grade = grades[student]
        lines = [p["message"] for p in problems]
        if grade.lateness():
            lines.insert(0, f"Submitted {grade.lateness()} (late policy of the course).")
        result = {
            "score": grade.score,
            "max_score": sum(t["max_score"] for t in tests),
            "output": "\n".join(lines) or "graded",
            "visibility": "visible",
            "tests": tests,
        }
        if student in records:
            result["execution_time"] = records[student]["seconds"]
        results[student] = result
    return results


def _index(course: Course, assignment: str, key: tuple[str, str]) -> int:
    cells = _cell_order(course, assignment, key[0])
    return cells.index(key[1]) if key[1] in cells else len(cells)


#: Canvas's gradebook import: the student columns its own export writes, then custom columns, then assignments.
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: Canvas imports a column titled as one of the course's custom gradebook columns into it: its teacher notes.
CANVAS_COMMENT_COLUMN = "Notes"
MOODLE_COLUMNS = ("Email address", "User ID", "Full name")
MOODLE_COMMENT_COLUMN = "Feedback"


@dataclass
class LmsExport:
    """An LMS grade-import file and the students it could not key: graded but not in the roster."""

    path: Path
    rows: int
    not_in_roster: list[str]
    no_grade: list[str]

    def notes(self) -> list[str]:
        lines = [f"{self.path.name}: {self.rows} student(s)"]
        if self.not_in_roster:
            lines.append(
                f"NOT IN THE ROSTER ({len(self.not_in_roster)}), graded but left out of {self.path.name}: "
                + ", ".join(self.not_in_roster)
            )
        if self.no_grade:
            lines.append(
                f"in the roster without a graded submission ({len(self.no_grade)}), left out (their LMS grade is "
                "not changed): " + ", ".join(self.no_grade)
            )
        return lines


def _number(value: float) -> str:
    return format(round(value, 4), "g")


def lms_export(
    course: Course,
    assignment: str,
    lms: str,
    out: Path,
    roster: Path,
    column: str | None = None,
    comments: bool = True,
) -> LmsExport:
    """Write ``<assignment>_<lms>.csv``, the grade-import CSV of ``lms`` (``canvas`` or ``moodle``), keyed through
    ``roster``; ``column`` names the LMS's assignment column (default: the assignment's id)."""
    from .lms import read_roster

    if roster is None:
        raise AutograderError(
            f"--format {lms} needs --roster CSV (lms_id,student_id,name,email): the LMS knows students by its own id"
        )
    by_student = {entry.student_id: entry for entry in read_roster(Path(roster)).values()}
    grades = final_grades(course, assignment)
    column = column or assignment
    if lms == "canvas":
        if column in CANVAS_COLUMNS or (comments and column == CANVAS_COMMENT_COLUMN):
            raise AutograderError(f"--column {column!r} is one of Canvas's own columns: name the assignment's")
        header = [*CANVAS_COLUMNS, *([CANVAS_COMMENT_COLUMN] if comments else []), column]
    elif lms == "moodle":
        header = [*MOODLE_COLUMNS, column, *([MOODLE_COMMENT_COLUMN] if comments else [])]
    else:
        raise AutograderError(f"unknown LMS {lms!r}: canvas or moodle")
    rows = []
    for student, grade in sorted(grades.items()):
        entry = by_student.get(student)
        if entry is None:
            continue
        note = [grade.comment()] if comments else []
        if lms == "canvas":
            rows.append([entry.name or student, entry.lms_id, "", "", "", *note, _number(grade.score)])
        else:
            rows.append([entry.email, entry.lms_id, entry.name or student, _number(grade.score), *note])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{assignment}_{lms}.csv"
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)
    return LmsExport(
        path,
        len(rows),
        sorted(set(grades) - set(by_student)),
        sorted(set(by_student) - set(grades)),
    )


class ExportResult(list):
    """The paths written (a list), and lines the TA must read (``notes``), e.g. students not in the roster."""

    def __init__(self, paths=(), notes=(), missing=()):
        super().__init__(paths)
        self.notes: list[str] = list(notes)
        self.missing: list[str] = list(missing)


FORMATS = ("csv", "gradescope", "canvas", "moodle", "gradescope-autograder")


def export(
    course: Course,
    assignment: str,
    fmt: str,
    output: Path | None = None,
    *,
    roster: Path | None = None,
    column: str | None = None,
    comments: bool = True,
) -> ExportResult:
    """Export ``assignment`` in ``fmt`` (:data:`FORMATS`) into ``output`` (default ``exports/``), with statistics.

    ``roster``, ``column`` and ``comments`` apply to ``canvas`` and ``moodle`` (:func:`lms_export`).
    """
    course.released_notebooks(assignment)  # before anything is written: a clear error when there is nothing to export
    out = Path(output) if output else course.root / "exports"
    result = ExportResult()
    if fmt == "csv":
        result.append(export_csv(course, assignment, out))
    elif fmt == "gradescope":
        for student, res in gradescope_results(course, assignment).items():
            path = out / "gradescope" / student / "results.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(res, indent=2))
            result.append(path)
    elif fmt in ("canvas", "moodle"):
        done = lms_export(course, assignment, fmt, out, roster, column, comments)
        result.append(done.path)
        result.notes += done.notes()
        result.missing += done.not_in_roster
    elif fmt == "gradescope-autograder":
        from .gradescope import build_autograder

        result.append(build_autograder(course, assignment, out))
        return result  # an autograder grades submissions still to come: no statistics
    else:
        raise AutograderError(f"unknown export format {fmt!r}: use {', '.join(FORMATS)}")
    stats = test_stats(course, assignment)
    result += write_stats(stats, out, assignment)
    return result
