"""``autograder export``: grades out of the gradebook, and class statistics per test.

- ``csv``: nbgrader's own ``CsvExportPlugin`` (``exports/grades.csv``), the same file ``nbgrader export`` writes;
- ``gradescope``: one Gradescope ``results.json`` per student (``exports/gradescope/<student>/results.json``)
  with ``score``, ``max_score`` and ``tests[]`` (``name``, ``score``, ``max_score``, ``output``,
  ``visibility``); a hidden test is ``after_published`` and shows only its failure message, never its source.

Both also write the class statistics per test (pass rate, mean points): ``<assignment>_tests.csv``, a
Markdown table ``<assignment>_tests.md`` (also printed) and a bar chart ``<assignment>_tests.png``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
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


def scores(course: Course, assignment: str) -> dict[str, dict[tuple[str, str], tuple[float, float]]]:
    """Per student, per (notebook, cell): (score, max score) from the gradebook (manual scores win)."""
    notebooks = course.released_notebooks(assignment)
    out: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}
    with course.gradebook() as gb:
        for submission in gb.find_assignment(assignment).submissions:
            cells = out.setdefault(submission.student_id, {})
            for nb in notebooks:
                for grade in gb.find_submission_notebook(nb, assignment, submission.student_id).grades:
                    cells[(nb, grade.name)] = (float(grade.score or 0), float(grade.max_score))
    if not out:
        raise AutograderError(f"nothing graded for {assignment!r} yet: run `autograder grade {assignment}` first")
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

    out.mkdir(parents=True, exist_ok=True)
    path = out / "grades.csv"
    plugin = CsvExportPlugin(config=course.config)
    plugin.to = str(path)
    with course.gradebook() as gb:
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
        result = {
            "score": round(sum(t["score"] for t in tests), 4),
            "max_score": sum(t["max_score"] for t in tests),
            "output": "\n".join(p["message"] for p in problems) or "graded",
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


def export(course: Course, assignment: str, fmt: str, output: Path | None = None) -> list[Path]:
    """Export ``assignment`` as ``csv`` or ``gradescope`` into ``output`` (default ``exports/``), with statistics."""
    out = Path(output) if output else course.root / "exports"
    if fmt == "csv":
        written = [export_csv(course, assignment, out)]
    elif fmt == "gradescope":
        written = []
        for student, result in gradescope_results(course, assignment).items():
            path = out / "gradescope" / student / "results.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2))
            written.append(path)
    else:
        raise AutograderError(f"unknown export format {fmt!r}: use csv or gradescope")
    stats = test_stats(course, assignment)
    written += write_stats(stats, out, assignment)
    return written
