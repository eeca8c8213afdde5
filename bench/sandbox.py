"""The sandbox's cost: the same Assignment 1 submissions graded with and without bubblewrap, in one run.

Each round grades every submission once sandboxed and once with ``--no-sandbox`` (the order alternates
between rounds), one worker, so that the two see the same machine. The table gives the median and the spread
of the seconds per notebook (the job's own timing: kernel start, execution, the outside verdicts) and the
overhead of the sandbox as a ratio.

    python3 -m bench.sandbox [--students 4] [--rounds 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.course import Course as GradingCourse
from autograder.pipeline.coordinator import grade, journal_for
from autograder.sandbox import SandboxPolicy
from autograder.sandbox.command import bwrap_argv
from autograder.sandbox.fontcache import font_list_argv

RESULTS = Path(__file__).resolve().parent / "results"
ASSIGNMENT = NOTEBOOK = "01_layers"


def make_course(root: Path, students: int) -> GradingCourse:
    """A course with Assignment 1 released and ``students`` copies of the instructor's solution submitted."""
    from tests.support.nbcourse import Course, make_submission

    course = Course(root, [ASSIGNMENT])
    course.nbgrader("generate_assignment", ASSIGNMENT, "--force")
    release = root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    for i in range(students):
        course.submit(f"student{i:02d}", ASSIGNMENT, NOTEBOOK, make_submission(release, ASSIGNMENT, NOTEBOOK))
    return GradingCourse.open(root)


def seconds_per_notebook(course: GradingCourse, sandbox: SandboxPolicy | None) -> list[float]:
    """Grade every submission again (one worker); the seconds each job took."""
    report = grade(course, ASSIGNMENT, workers=1, force=True, sandbox=sandbox, progress=False, echo=lambda _: None)
    assert not report.failed, [r.log for r in report.failed]
    latest = journal_for(course, ASSIGNMENT).latest()
    return [latest[r["student"]]["seconds"] for r in report.graded]


FIRST_FIGURE = (
    "import time; start = time.perf_counter()\n"
    "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt\n"
    "figure = plt.figure(); figure.text(0.5, 0.5, 'x'); figure.canvas.draw()\n"
    "print(time.perf_counter() - start)"
)


def first_figure_seconds(lend_font_list: bool) -> float:
    """Seconds a fresh sandboxed program takes to import matplotlib and draw its first figure.

    With ``lend_font_list`` the sandbox is the grader's (matplotlib's font list lent read-only); without it, the
    same command line less that list, as before the grader lent it (each kernel scans the fonts itself).
    """
    with tempfile.TemporaryDirectory() as work:
        argv = bwrap_argv(SandboxPolicy(), [], "/")
        lent = font_list_argv()
        if not lend_font_list and lent:
            at = next(i for i in range(len(argv)) if argv[i : i + len(lent)] == lent)
            argv = argv[:at] + argv[at + len(lent) :]
        run = subprocess.run([*argv, sys.executable, "-c", FIRST_FIGURE], capture_output=True, text=True,
                             timeout=120, cwd=work)  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"the sandboxed program failed: {run.stderr[-1000:]}")
    return float(run.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    timings: dict[str, list[float]] = {"sandboxed": [], "unsandboxed": []}
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        course = make_course(Path(tmp) / "course", args.students)
        for i in range(args.rounds):
            order = [("sandboxed", SandboxPolicy()), ("unsandboxed", None)]
            for name, policy in order if i % 2 == 0 else order[::-1]:
                timings[name] += seconds_per_notebook(course, policy)
    med = {k: statistics.median(v) for k, v in timings.items()}
    spread = {k: (min(v), max(v)) for k, v in timings.items()}
    ratio = med["sandboxed"] / med["unsandboxed"]
    lines = [
        f"Grading Assignment 1 (instructor's solution), {args.students} submissions x {args.rounds} rounds, 1 worker",
        "",
        "| grading | median s / notebook | min - max |",
        "|---|---|---|",
        *(f"| {k} | {med[k]:.2f} | {spread[k][0]:.2f} - {spread[k][1]:.2f} |" for k in timings),
        "",
        f"sandbox overhead: x{ratio:.3f} ({(ratio - 1) * 100:+.1f}%; aim: under +10%)",
    ]
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sandbox.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
