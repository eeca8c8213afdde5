"""``autograder demo``: the whole pipeline on the course's own assignments, in a folder of its own.

In ``--workdir`` (default ``build/demo`` in the course directory it is run from — ``--course``, by default the
current directory — which git ignores) it makes an nbgrader course from that directory's ``solutions/`` (or, run
from elsewhere, from the installed package's repository, and says so), releases every assignment (validated
both ways), writes four sample submissions per assignment — the instructor's solution, the blank release, a
partly done one (the first half of the tasks solved) and a broken notebook (cut-off JSON) — collects them,
grades them into the course's SQLite gradebook, writes feedback and ``exports/grades.csv``, and prints a table
of students and scores. The repository's own ``assignments/`` and gradebook are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat

from .config import config_file_text
from .course import AutograderError, Course

REPO = Path(__file__).resolve().parents[1]
MARKER = ".autograder-demo"
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", flags=re.M)
STUDENTS = ("instructor", "blank", "partial", "broken")


def demo_assignments(repo: Path = REPO) -> list[str]:
    """The repository's assignments: folders of ``solutions/`` that hold notebooks."""
    return sorted(p.name for p in (repo / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def prepare_workdir(workdir: Path) -> None:
    """Empty ``workdir`` for a fresh demo; refuse a non-empty folder that an earlier demo did not make."""
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise AutograderError(f"{workdir} is not empty and was not made by `autograder demo`; choose another")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by `autograder demo`; deleted and made again by the next demo\n")


def fill(release: nbformat.NotebookNode, source: nbformat.NotebookNode, how_many: int | None = None):
    """The release with the instructor's solutions (markers removed) in its first ``how_many`` solution cells."""
    answers = {
        c.metadata["nbgrader"]["grade_id"]: SOLUTION_MARKERS.sub("", c.source)
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = nbformat.from_dict(release)
    filled = 0
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in answers:
            if how_many is not None and filled >= how_many:
                break
            cell.source = answers[gid]
            filled += 1
    return nb


def make_submissions(course: Course, assignment: str, incoming: Path) -> None:
    """Write the four sample students' notebooks of ``assignment`` into ``incoming/<student>/``."""
    for name in course.released_notebooks(assignment):
        release = nbformat.read(course.directory("release") / assignment / f"{name}.ipynb", as_version=4)
        source = nbformat.read(course.directory("source") / assignment / f"{name}.ipynb", as_version=4)
        n_solutions = sum(1 for c in source.cells if c.metadata.get("nbgrader", {}).get("solution"))
        versions = {
            "instructor": fill(release, source),
            "blank": release,
            "partial": fill(release, source, how_many=(n_solutions + 1) // 2),
        }
        for student, nb in versions.items():
            (incoming / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, incoming / student / f"{name}.ipynb")
        text = nbformat.writes(versions["instructor"])
        (incoming / "broken").mkdir(parents=True, exist_ok=True)
        (incoming / "broken" / f"{name}.ipynb").write_text(text[: len(text) // 3])  # a cut-off upload


def score_table(course: Course, assignments: list[str]) -> str:
    """A Markdown table of every student's score (and flags) per assignment."""
    from .pipeline.coordinator import journal_for

    records = {a: journal_for(course, a).latest() for a in assignments}
    rows = ["| student | " + " | ".join(assignments) + " | flags |", "| --- |" + " --- |" * (len(assignments) + 1)]
    for student in sorted({s for r in records.values() for s in r}):
        cells, flags = [], []
        for a in assignments:
            r = records[a].get(student)
            cells.append(f"{r['score']:g} / {r['max_score']:g}" if r else "—")
            flags += [p["kind"] for p in (r or {}).get("problems", [])]
        rows.append(f"| {student} | " + " | ".join(cells) + f" | {', '.join(sorted(set(flags))) or ''} |")
    return "\n".join(rows)


def demo_source(course_dir: Path | None = None) -> Path:
    """Where the demo takes its assignments: ``course_dir`` (default: the current directory) when it holds
    ``solutions/``, else the repository the ``autograder`` package was installed from."""
    here = (course_dir or Path.cwd()).resolve()
    return here if (here / "solutions").is_dir() else REPO


def run_demo(
    workdir: Path | None = None,
    workers: int | None = None,
    quick: bool = False,
    echo=print,
    only: list[str] | None = None,
    course_dir: Path | None = None,
) -> int:
    """Run the demo; return 0 when every sample submission was graded. ``quick`` skips the release validation.

    ``only`` restricts it to some of the assignments (default: all of them). The assignments come from
    ``course_dir`` (see :func:`demo_source`); the demo course is made in ``workdir`` (default: ``build/demo``
    there).
    """
    from .collect import collect
    from .export import export
    from .feedback import generate_feedback
    from .pipeline.coordinator import grade
    from .release import release

    source = demo_source(course_dir)
    if source == REPO and (course_dir or Path.cwd()).resolve() != REPO:
        echo(f"no solutions/ in {(course_dir or Path.cwd()).resolve()}: the demo uses the assignments of {REPO}")
    workdir = (workdir or source / "build" / "demo").resolve()
    # kernels import the course's checks (autograder.checks, cnnlab) from this repository, installed or not
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    prepare_workdir(workdir)
    (workdir / "nbgrader_config.py").write_text(config_file_text(workdir))
    assignments = demo_assignments(source)
    if only:
        unknown = sorted(set(only) - set(assignments))
        if unknown:
            known = ", ".join(assignments)
            raise AutograderError(f"no assignment {', '.join(unknown)} in solutions/; there are {known}")
        assignments = [a for a in assignments if a in only]
    for a in assignments:
        shutil.copytree(source / "solutions" / a, workdir / "solutions" / a)
    course = Course.open(workdir)
    echo(f"demo course in {workdir}: {', '.join(assignments)}")
    failed = 0
    for a in assignments:
        echo(f"\n== {a}: release")
        release(course, a, echo=echo, validate_first=not quick)
        incoming = workdir / "incoming" / a
        make_submissions(course, a, incoming)
        echo(f"\n== {a}: collect from {incoming}")
        echo(collect(course, a, incoming).text())
        echo(f"\n== {a}: grade")
        report = grade(course, a, workers=workers, progress=False, echo=echo)
        failed += len(report.failed)
        echo(f"\n== {a}: feedback and exports")
        paths = generate_feedback(course, a)
        echo(f"feedback: {len(paths)} page(s) in {course.directory('feedback')}")
        for path in export(course, a, "csv"):
            echo(f"wrote {path}")
    echo(f"\nscores (gradebook {course.db_url}):\n")
    echo(score_table(course, assignments))
    return 1 if failed else 0
