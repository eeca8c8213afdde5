"""``autograder``: the TA's command line over nbgrader (release, collect, grade, due, extend, feedback, export, hub).

Every command works on an nbgrader course directory (``--course``, default: the current directory) and
uses nbgrader's own apps and gradebook underneath. Errors in the input end the command with a message that
names the file and what is wrong, and exit status 2; nothing already saved is lost.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .course import AutograderError, Course


def _positive(unit: str):
    """An argparse ``type``: a whole number above 0 (a limit of 0 or less would zero or break every grading)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number of {unit}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be more than 0 {unit}, got {value}")
        return value

    return parse


def _limits(args: argparse.Namespace):
    from .pipeline.job import Limits

    return Limits(args.cell_timeout, args.notebook_timeout, args.max_output)


def _add_limits(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("limits (default: the course's nbgrader settings)")
    g.add_argument("--cell-timeout", type=_positive("seconds"), metavar="S", help="seconds one cell may run")
    g.add_argument(
        "--notebook-timeout", type=_positive("seconds"), metavar="S", help="seconds one notebook may run (default 1800)"
    )
    g.add_argument(
        "--max-output", type=_positive("bytes"), metavar="BYTES", help="largest output of one cell (default 1000000)"
    )


def _sandbox(args: argparse.Namespace):
    from .sandbox import SandboxPolicy

    if args.no_sandbox:
        return None
    defaults = SandboxPolicy()
    return SandboxPolicy(
        memory_mb=args.memory_mb or defaults.memory_mb,
        cpu_seconds=args.cpu_seconds or defaults.cpu_seconds,
        max_processes=args.max_processes or defaults.max_processes,
        fork_server=not args.no_fork_server,
    )


def _add_sandbox(p: argparse.ArgumentParser) -> None:
    from .sandbox import SandboxPolicy

    d = SandboxPolicy()
    g = p.add_argument_group("sandbox (bubblewrap; every student kernel runs in it)")
    g.add_argument("--no-sandbox", action="store_true", help="run student code unconfined (said in the report)")
    g.add_argument(
        "--memory-mb", type=_positive("MiB"), metavar="MIB", help=f"memory of one kernel (default {d.memory_mb})"
    )
    g.add_argument(
        "--cpu-seconds",
        type=_positive("seconds"),
        metavar="S",
        help=f"CPU time of one kernel (default {d.cpu_seconds})",
    )
    g.add_argument(
        "--max-processes",
        type=_positive("processes"),
        metavar="N",
        help=f"processes and threads (default {d.max_processes})",
    )
    g.add_argument(
        "--no-fork-server", action="store_true",
        help="start every kernel with its own Python instead of forking it from a server that has imported the "
        "notebook's modules once (the server is used only when grading as root)",
    )  # fmt: skip


def cmd_release(args: argparse.Namespace) -> int:
    from .release import release

    release(Course.open(args.course), args.assignment, _limits(args))
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from .collect import collect

    report = collect(
        Course.open(args.course), args.assignment, args.source, exchange=args.exchange, lms=args.lms, roster=args.roster
    )
    print(report.text())
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from .pipeline.coordinator import grade
    from .pipeline.execute import KERNEL_START_FAILED

    resources = dict(_resource(r) for r in args.resources) if args.resources else None
    report = grade(
        Course.open(args.course),
        args.assignment,
        workers=args.workers,
        students=args.student,
        force=args.force,
        scheduler=args.scheduler,
        resources=resources,
        limits=_limits(args),
        sandbox=_sandbox(args),
        progress=not args.no_progress,
    )
    flagged = [r for r in report.graded if r["problems"]]
    stale = f" ({len(report.stale)} of them again, after a new release)" if report.stale else ""
    print(
        f"graded {len(report.graded)}{stale} ({len(flagged)} flagged), skipped {len(report.skipped)} already graded, "
        f"{len(report.failed)} not graded; sandbox: {report.sandbox}"
    )
    if report.failed and not report.graded and all(KERNEL_START_FAILED in r.log for r in report.failed):
        print(
            "No kernel could start: the machine, not the students' code. If the sandbox's limits are small "
            "(--memory-mb, --max-processes), raise them; after three such runs a submission is given up and scores "
            "0 until graded again with --force.",
            file=sys.stderr,
        )
    return 1 if report.failed else 0


def _resource(text: str) -> tuple[str, float]:
    name, _, amount = text.partition("=")
    try:
        return name, float(amount or 1)
    except ValueError:
        raise AutograderError(f"--resources takes NAME=AMOUNT (e.g. GPU=1), got {text!r}") from None


def cmd_feedback(args: argparse.Namespace) -> int:
    from .feedback import generate_feedback

    paths = generate_feedback(Course.open(args.course), args.assignment, students=args.student)
    print(f"wrote feedback for {len(paths)} student(s) into {paths[0].parents[2] if paths else 'nothing'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export

    if (args.roster or args.column or args.no_comments) and args.format not in ("canvas", "moodle"):
        raise AutograderError("--roster, --column and --no-comments apply to --format canvas and moodle")
    result = export(
        Course.open(args.course),
        args.assignment,
        args.format,
        args.output,
        roster=args.roster,
        column=args.column,
        comments=not args.no_comments,
    )
    for path in result:
        if path.suffix == ".md":
            print(path.read_text().rstrip())
        print(f"wrote {path}")
    for line in result.notes:
        print(line)
    return 1 if result.missing else 0


def cmd_due(args: argparse.Namespace) -> int:
    from .deadlines import parse_when, set_due

    course = Course.open(args.course)
    when = parse_when(args.when, course, args.timezone) if args.when else None
    print(set_due(course, args.assignment, when).text())
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    from .deadlines import extend, parse_when

    course = Course.open(args.course)
    until = parse_when(args.until, course, args.timezone, "--until") if args.until else None
    if args.timezone and not args.until:
        raise AutograderError("--timezone applies to --until, not to --hours")
    print(extend(course, args.assignment, args.student, hours_=args.hours, until=until).text())
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    from .similarity import similarity

    report = similarity(Course.open(args.course), args.assignment, args.output, top=args.top, noise=args.min_match)
    print(report.text(args.top))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    workdir = Path(args.workdir) if args.workdir else None
    return run_demo(workdir, workers=args.workers, quick=args.quick, only=args.assignment, course_dir=Path(args.course))


def cmd_student_edition(args: argparse.Namespace) -> int:
    from .edition import build

    build(Path(args.course), Path(args.out_dir), force=args.force, zip_file=args.zip)
    return 0


def cmd_hub_start(args: argparse.Namespace) -> int:
    from .hub.service import start

    report = start(
        Course.open(args.course),
        args.roster,
        port=args.port,
        ip=args.ip,
        state=args.state,
        student_files=args.student_files,
        extra_config=args.hub_config,
    )
    print(report.text())
    return 0


def cmd_hub_stop(args: argparse.Namespace) -> int:
    from .hub.service import stop

    print(stop(Course.open(args.course), args.state))
    return 0


def _add_hub(sub) -> None:
    p = sub.add_parser("hub", help="run the class on JupyterHub on this machine (start, stop)")
    hub = p.add_subparsers(dest="hub_command", required=True, metavar="ACTION")
    course = {"default": argparse.SUPPRESS, "help": "the nbgrader course directory (default: .)"}
    state = {"type": Path, "metavar": "DIR", "help": "the hub's state folder (default: /srv/jupyterhub/<course id>)"}

    s = hub.add_parser("start", help="create the class's users, set up the exchange, start JupyterHub")
    s.add_argument("--roster", type=Path, required=True, metavar="CSV", help="student_id (login), role, name, ...")
    s.add_argument("--port", type=int, default=8000, help="the hub's port (default 8000)")
    s.add_argument("--ip", default="127.0.0.1", help="the address it listens on (default 127.0.0.1; 0.0.0.0: all)")
    s.add_argument("--course", **course)
    s.add_argument("--state", **state)
    s.add_argument(
        "--student-files",
        type=Path,
        metavar="DIR",
        help="what students find in their home under <course id>/ (default: the course's course/ and release)",
    )
    s.add_argument("--config", dest="hub_config", type=Path, metavar="FILE", help="more JupyterHub configuration")
    s.set_defaults(func=cmd_hub_start)

    t = hub.add_parser("stop", help="stop the hub, its proxy and the users' servers")
    t.add_argument("--course", **course)
    t.add_argument("--state", **state)
    t.set_defaults(func=cmd_hub_stop)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", default=".", help="the nbgrader course directory (default: .)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="generate the student version, validated both ways")
    p.add_argument("assignment")
    _add_limits(p)
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("collect", help="collect submissions from a folder, an LMS zip, or the exchange")
    p.add_argument("assignment")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from", dest="source", type=Path, help="a folder of <student>/<notebook>.ipynb or a zip")
    src.add_argument("--exchange", action="store_true", help="collect from nbgrader's exchange")
    p.add_argument(
        "--lms",
        choices=["auto", "canvas", "moodle", "blackboard"],
        default="auto",
        help="the LMS the download comes from (default auto: the one whose file names the files have)",
    )
    p.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="maps LMS ids to the course's student ids: a CSV file with the header lms_id,student_id,name,email",
    )
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("grade", help="autograde collected submissions in parallel, resumably")
    p.add_argument("assignment")
    p.add_argument(
        "--workers",
        type=int,
        help="worker processes (default: one per GPU, else one per core; 0: grade in this process)",
    )
    p.add_argument("--student", nargs="+", help="grade only these students")
    p.add_argument("--force", action="store_true", help="grade again students already graded")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the jobs on this Dask cluster")
    p.add_argument("--resources", nargs="+", metavar="NAME=N", help="Dask worker resources per job, e.g. GPU=1")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_limits(p)
    _add_sandbox(p)
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("feedback", help="per-student HTML feedback without hidden tests")
    p.add_argument("assignment")
    p.add_argument("--student", nargs="+", help="only these students")
    p.set_defaults(func=cmd_feedback)

    when_help = (
        "ISO 8601 with a UTC offset (2025-03-01T17:00+01:00, 2025-03-01 16:00Z), or a local time read in "
        "--timezone, else in the course's c.Exchange.timezone (refused when neither is set)"
    )
    p = sub.add_parser(
        "due",
        help="set (or show) the due date of an assignment in nbgrader's gradebook",
        description="Set the due date nbgrader measures lateness from; without WHEN, show it and the extensions. "
        "Late penalties of submissions already graded are reassessed with the course's late policy.",
    )
    p.add_argument("assignment")
    p.add_argument("when", nargs="?", metavar="WHEN", help=when_help)
    p.add_argument("--timezone", metavar="ZONE", help="IANA zone of a WHEN without offset, e.g. Europe/Berlin")
    p.set_defaults(func=cmd_due)

    p = sub.add_parser(
        "extend",
        help="give a student an extension (nbgrader's per-submission extension)",
        description="Give STUDENT more time on an assignment: the extension nbgrader adds to the due date for "
        "that student. A new extension replaces the old one (--hours 0 removes it). Late penalties of a graded "
        "submission are reassessed at once.",
    )
    p.add_argument("assignment")
    p.add_argument("student")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--hours", type=float, metavar="N", help="hours after the due date (0: no extension)")
    how.add_argument("--until", metavar="WHEN", help="a new deadline for this student: " + when_help)
    p.add_argument("--timezone", metavar="ZONE", help="IANA zone of an --until without offset")
    p.set_defaults(func=cmd_extend)

    p = sub.add_parser(
        "export",
        help="grades for nbgrader's CSV, Gradescope, Canvas or Moodle; a Gradescope autograder zip",
        description="Write the gradebook's grades (late penalties subtracted) and the class statistics per test. "
        "csv: nbgrader's exports/grades.csv; gradescope: exports/gradescope/<student>/results.json; canvas, "
        "moodle: the LMS's grade-import CSV exports/<ID>_<lms>.csv with a feedback comment, keyed through "
        "--roster (exit status 1 when a graded student is not in it; they are listed); gradescope-autograder: "
        "exports/<ID>_gradescope_autograder.zip to upload as a Gradescope programming assignment's autograder.",
    )
    p.add_argument("assignment")
    p.add_argument(
        "--format", choices=["csv", "gradescope", "canvas", "moodle", "gradescope-autograder"], default="csv"
    )
    p.add_argument("--output", type=Path, help="where to write (default: exports/ in the course)")
    p.add_argument(
        "--roster", type=Path, metavar="CSV", help="canvas/moodle: lms_id,student_id,name,email (as for collect)"
    )
    p.add_argument(
        "--column",
        metavar="NAME",
        help="canvas/moodle: the LMS's column of the assignment, e.g. 'Assignment 1 (12345)' (default: ID)",
    )
    p.add_argument("--no-comments", action="store_true", help="canvas/moodle: no feedback comment column")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "similarity",
        help="similar solutions between students (copydetect), the starter code left out",
        description="Compare every pair of collected submissions' solution cells (the release's starter code "
        "removed) with copydetect; write exports/<ID>_similarity.html and .csv and print the top pairs.",
    )
    p.add_argument("assignment")
    p.add_argument(
        "--top", type=_positive("pairs"), default=10, metavar="N", help="pairs printed and detailed (default 10)"
    )
    p.add_argument(
        "--min-match",
        type=_positive("characters"),
        default=25,
        metavar="CHARS",
        help="shortest match that counts, in characters of tokenized code (default 25, copydetect's)",
    )
    p.add_argument("--output", type=Path, help="where to write (default: exports/ in the course)")
    p.set_defaults(func=cmd_similarity)

    p = sub.add_parser("demo", help="release, make sample submissions, collect, grade, feedback, CSV, table")
    p.add_argument("--workdir", help="where the demo course is made (default: build/demo in the course directory)")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    p.add_argument("--quick", action="store_true", help="release without running the validation (a faster check)")
    p.add_argument(
        "--assignment", action="append", metavar="ID", help="only this assignment (repeatable; default: all)"
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "student-edition", help="build what students install: lectures, releases, library, visible-test support"
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="an empty folder (or a new one) for the edition")
    p.add_argument("--zip", type=Path, metavar="FILE", help="also write the edition as one archive (an LMS upload)")
    p.add_argument("--force", action="store_true", help="replace what OUT_DIR holds")
    p.set_defaults(func=cmd_student_edition)

    _add_hub(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AutograderError as err:
        print(f"autograder: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograder: interrupted; run the same command again to finish", file=sys.stderr)
        return 130
