"""A due date, extensions and the course's late policy, from collect to every export, on the toy assignment.

The course's timezone is Asia/Kolkata (UTC+05:30) and the TA's machine is in New York: the submissions'
times (files' modification times) are instants, the due date is given as a local time in the course's zone.
The late policy (``autograder.late.LatePolicy``) takes 10% of the points earned per started hour, at most
50%, after 15 minutes of grace. Six students:

========  ===========  ==========================================  ======  =======  =====
student   notebook     submitted                                   earned  penalty  score
========  ===========  ==========================================  ======  =======  =====
ontime    solved       1 h before the due date                     10      0        10
late      solved       2.5 h after (3 started hours)               10      3        7
extended  wrong mul    30 h after, with a 28 h extension (2 h)     5       1        4
excused   solved       20 h after; extension to +24 h given later  10      0        10
graced    solved       10 minutes after (grace)                    10      0        10
capped    solved       3 days after (capped at 50%)                10      5        5
========  ===========  ==========================================  ======  =======  =====

The gradebook, nbgrader's CSV, the Gradescope export, the Canvas and Moodle imports and the Gradescope
autograder all give these scores, and plain ``nbgrader autograde`` gives the same penalties.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from tests.support.toycourse import (
    SOLVED_ADD,
    SOLVED_MUL,
    TOY,
    WRONG_MUL,
    cli,
    cli_env,
    release_of,
    released_course,
    student_notebook,
    write_submission,
)

DUE = datetime(2025, 3, 3, 11, 30, tzinfo=timezone.utc)  # 17:00 in Kolkata
POLICY = """
c.Exchange.timezone = "Asia/Kolkata"
c.AssignLatePenalties.plugin_class = "autograder.late.LatePolicy"
c.LatePolicy.per_hour = 0.1
c.LatePolicy.cap = 0.5
c.LatePolicy.grace_minutes = 15
"""
SUBMITTED = {
    "ontime": -timedelta(hours=1),
    "late": timedelta(hours=2.5),
    "extended": timedelta(hours=30),
    "excused": timedelta(hours=20),
    "graced": timedelta(minutes=10),
    "capped": timedelta(days=3),
}
EARNED = {"ontime": 10, "late": 10, "extended": 5, "excused": 10, "graced": 10, "capped": 10}
PENALTY = {"ontime": 0, "late": 3, "extended": 1, "excused": 0, "graced": 0, "capped": 5}
EXPECTED = {s: EARNED[s] - PENALTY[s] for s in EARNED}
NEW_YORK = {"TZ": "America/New_York"}
ROSTER = (
    "lms_id,student_id,name,email\n"
    '101,ontime,"Time, On",ontime@uni.example\n'
    '102,late,"Late, Lee",late@uni.example\n'
    '103,extended,"Tended, Ex",extended@uni.example\n'
    '104,excused,"Cused, Ex",excused@uni.example\n'
    '105,graced,"Grace, G.",\n'
    '106,nosub,"Sub, No",nosub@uni.example\n'
)  # capped is missing from the roster; nosub never submitted


def _notebook(release: Path, student: str):
    return student_notebook(release, SOLVED_ADD, WRONG_MUL if EARNED[student] == 5 else SOLVED_MUL)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("late")
    root = released_course(base / "course")
    with open(root / "nbgrader_config.py", "a") as fh:
        fh.write(POLICY)
    incoming = base / "incoming"
    for student, offset in SUBMITTED.items():
        path = write_submission(incoming / student, _notebook(release_of(root), student))
        at = (DUE + offset).timestamp()
        os.utime(path, (at, at))
    runs = {"collect": cli("collect", TOY, "--from", str(incoming), course=root, env=NEW_YORK)}
    runs["due"] = cli("due", TOY, "2025-03-03 17:00", course=root)
    runs["extend"] = cli("extend", TOY, "extended", "--hours", "28", course=root)
    grade = ("grade", TOY, "--workers", "0", "--no-sandbox", "--no-progress")
    runs["grade"] = cli(*grade, course=root, env=NEW_YORK)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        runs["before_excuse"] = float(gb.find_submission(TOY, "excused").late_submission_penalty)
    runs["excuse"] = cli("extend", TOY, "excused", "--until", "2025-03-04 17:00", course=root)
    (base / "roster.csv").write_text(ROSTER)
    return {"root": root, "base": base, "runs": runs, "roster": base / "roster.csv"}


def _gradebook(root: Path) -> dict[str, tuple[float, float, float]]:
    """Per student: (points earned, late penalty, seconds late) as nbgrader's gradebook has them."""
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {
            s.student_id: (float(s.score), float(s.late_submission_penalty), s.total_seconds_late)
            for s in gb.find_assignment(TOY).submissions
        }


def test_the_gradebook_has_the_lateness_and_penalties(course):
    book = _gradebook(course["root"])
    assert {s: v[0] for s, v in book.items()} == EARNED
    assert {s: v[1] for s, v in book.items()} == PENALTY
    late = {s: v[2] for s, v in book.items()}
    # measured from 11:30 UTC whatever the zones of the course and the TA's machine, extensions included
    assert late == {"ontime": 0, "late": 9000, "extended": 7200, "excused": 0, "graced": 600, "capped": 259200}


def test_an_extension_given_after_grading_reassesses_the_penalty(course):
    runs = course["runs"]
    assert runs["before_excuse"] == 5.0  # 20 started hours: capped at half of 10
    assert "until 2025-03-04 17:00:00 IST (2025-03-04 11:30:00 UTC)" in runs["excuse"].stdout
    assert "late penalty of excused: 5 -> 0 points (not late)" in runs["excuse"].stdout
    assert "toy: due 2025-03-03 17:00:00 IST (2025-03-03 11:30:00 UTC)" in runs["due"].stdout


def test_the_scratch_gradebook_of_a_job_saw_the_extension(course):
    """``extended`` was graded after its extension: the job's own penalty (in the journal) is the 2 h one."""
    from autograder.course import Course
    from autograder.pipeline.coordinator import journal_for

    records = journal_for(Course.open(course["root"]), TOY).latest()
    assert records["extended"]["score"] == 4 and records["late"]["score"] == 7
    assert records["late"]["timestamp"] == "2025-03-03 14:00:00+00:00"  # the instant, with its offset


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_export_gives_the_same_scores(course):
    root = course["root"]
    cli("export", TOY, "--format", "csv", course=root)
    rows = _csv(root / "exports" / "grades.csv")
    nbgrader_csv = {r["student_id"]: float(r["score"]) for r in rows}
    penalties_csv = {r["student_id"]: float(r["late_submission_penalty"]) for r in rows}
    cli("export", TOY, "--format", "gradescope", course=root)
    gradescope = {
        s: json.loads((root / "exports" / "gradescope" / s / "results.json").read_text())["score"] for s in EXPECTED
    }
    roster = str(course["roster"])
    for lms in ("canvas", "moodle"):
        cli("export", TOY, "--format", lms, "--roster", roster, course=root, check=False)
    canvas = {r["ID"]: float(r[TOY]) for r in _csv(root / "exports" / f"{TOY}_canvas.csv")}
    moodle = {r["User ID"]: float(r[TOY]) for r in _csv(root / "exports" / f"{TOY}_moodle.csv")}
    book = {s: v[0] - v[1] for s, v in _gradebook(root).items()}
    ids = {"101": "ontime", "102": "late", "103": "extended", "104": "excused", "105": "graced"}
    assert book == nbgrader_csv == gradescope == EXPECTED
    assert penalties_csv == PENALTY
    assert {ids[k]: v for k, v in canvas.items()} == {ids[k]: v for k, v in moodle.items()}
    assert {ids[k]: v for k, v in canvas.items()} == {s: EXPECTED[s] for s in ids.values()}


def test_gradescope_says_why_points_were_taken(course):
    root = course["root"]
    cli("export", TOY, "--format", "gradescope", course=root)
    extended = json.loads((root / "exports" / "gradescope" / "extended" / "results.json").read_text())
    assert sum(t["score"] for t in extended["tests"]) == 5 and extended["score"] == 4
    assert "late 2.00 h after an extension of 28 h: -1 points" in extended["output"]
    ontime = json.loads((root / "exports" / "gradescope" / "ontime" / "results.json").read_text())
    assert "late" not in ontime["output"]


def test_canvas_import_file(course):
    root = course["root"]
    run = cli("export", TOY, "--format", "canvas", "--roster", str(course["roster"]), course=root, check=False)
    assert run.returncode == 1  # a graded student is not in the roster: said, and the exit status says so
    assert "NOT IN THE ROSTER (1), graded but left out of toy_canvas.csv: capped" in run.stdout
    assert "without a graded submission (1), left out (their LMS grade is not changed): nosub" in run.stdout
    with open(root / "exports" / f"{TOY}_canvas.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    # Canvas's student columns as its own export writes them; its teacher notes column; then the assignment
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Notes", TOY]
    by_id = {r[1]: r for r in rows[1:]}
    assert sorted(by_id) == ["101", "102", "103", "104", "105"]
    assert by_id["103"][0] == "Tended, Ex" and by_id["103"][6] == "4"
    assert by_id["103"][5] == "4/10 points (5 earned); late 2.00 h after an extension of 28 h: -1 points"
    assert by_id["101"][5] == "10/10 points"
    named = cli(
        "export", TOY, "--format", "canvas", "--roster", str(course["roster"]), "--column",
        "Assignment 1 (4321)", "--no-comments", course=root, check=False,
    )  # fmt: skip
    assert named.returncode == 1
    header = (root / "exports" / f"{TOY}_canvas.csv").read_text().splitlines()[0]
    assert header == "Student,ID,SIS User ID,SIS Login ID,Section,Assignment 1 (4321)"


def test_moodle_import_file(course):
    root = course["root"]
    cli("export", TOY, "--format", "moodle", "--roster", str(course["roster"]), course=root, check=False)
    rows = _csv(root / "exports" / f"{TOY}_moodle.csv")
    assert list(rows[0]) == ["Email address", "User ID", "Full name", TOY, "Feedback"]
    late = next(r for r in rows if r["User ID"] == "102")
    assert late == {
        "Email address": "late@uni.example",
        "User ID": "102",
        "Full name": "Late, Lee",
        TOY: "7",
        "Feedback": "7/10 points (10 earned); late 2.50 h: -3 points",
    }
    assert next(r for r in rows if r["User ID"] == "105")["Email address"] == ""  # none in the roster


def test_lms_exports_refuse_bad_input(course, tmp_path):
    root = course["root"]
    missing = cli("export", TOY, "--format", "canvas", course=root, check=False)
    assert missing.returncode == 2 and "--format canvas needs --roster" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("lms_id,student_id\n1,ann\n1,bob\n")
    refused = cli("export", TOY, "--format", "moodle", "--roster", str(bad), course=root, check=False)
    assert refused.returncode == 2 and "lms_id '1' appears twice, on lines 2 and 3" in refused.stderr
    stray = cli("export", TOY, "--format", "csv", "--roster", str(bad), course=root, check=False)
    assert stray.returncode == 2 and "apply to --format canvas and moodle" in stray.stderr


def test_plain_nbgrader_autograde_gives_the_same_penalties(course, tmp_path):
    """nbgrader itself, with the course's configuration, gradebook (due date, extensions) and submissions."""
    ref = tmp_path / "ref"
    shutil.copytree(course["root"], ref, ignore=shutil.ignore_patterns("autograded", "exports", ".autograder"))
    (ref / "nbgrader_config.py").write_text((ref / "nbgrader_config.py").read_text().replace(
        str(course["root"]), str(ref)))  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", TOY, "--force"],
        cwd=ref,
        capture_output=True,
        text=True,
        env={**cli_env(), **NEW_YORK},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    theirs, ours = _gradebook(ref), _gradebook(course["root"])
    assert theirs == ours
    assert {s: v[1] for s, v in theirs.items()} == PENALTY


def test_gradescope_autograder_grades_one_submission_with_the_late_policy(course, tmp_path):
    root = course["root"]
    run = cli("export", TOY, "--format", "gradescope-autograder", course=root)
    archive = root / "exports" / f"{TOY}_gradescope_autograder.zip"
    assert f"wrote {archive}" in run.stdout
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "requirements.txt", "course/gradebook.db"} <= names
        assert {f"course/solutions/{TOY}/{TOY}.ipynb", f"course/assignments/{TOY}/{TOY}.ipynb"} <= names
        assert "autograder/gradescope.py" in names and "cnnlab/__init__.py" in names
        assert not any("__pycache__" in n for n in names)
        assert (zf.getinfo("run_autograder").external_attr >> 16) & 0o111
        requirements = zf.read("requirements.txt").decode()
    assert "nbgrader" in requirements and "copydetect" in requirements and "pytest" not in requirements

    def gradescope(name: str, submitted: datetime, user_due: datetime | None = None) -> tuple[dict, str]:
        """Lay the zip out as Gradescope does under a root of our own, then run ``run_autograder``."""
        gs = tmp_path / name
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(gs / "source")
        shutil.copy(gs / "source" / "run_autograder", gs / "run_autograder")
        write_submission(gs / "submission", _notebook(release_of(root), "extended"))  # 5 points earned
        meta = {"created_at": submitted.isoformat(), "users": [{"email": "s@uni.example", "assignment": {}}]}
        if user_due is not None:
            meta["users"][0]["assignment"]["due_date"] = user_due.isoformat()
        (gs / "submission_metadata.json").write_text(json.dumps(meta))
        (gs / "results").mkdir()
        done = subprocess.run(
            ["bash", str(gs / "run_autograder")],
            capture_output=True,
            text=True,
            env={**cli_env(), "AUTOGRADER_ROOT": str(gs)},
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads((gs / "results" / "results.json").read_text()), done.stdout

    pacific = timezone(timedelta(hours=-8))
    late, log = gradescope("late", (DUE + timedelta(hours=2.5)).astimezone(pacific))
    assert f"with {tmp_path / 'late' / 'source' / 'autograder'}" in log  # the zip's own package graded it
    assert late["score"] == 3.5 and late["max_score"] == 10  # 5 earned, 30% off
    assert [t["score"] for t in late["tests"]] == [2, 3, 0, 0]
    assert "late 2.50 h: -1.5 points" in late["output"]
    extended, _ = gradescope("extended", DUE + timedelta(hours=2.5), user_due=DUE + timedelta(hours=3))
    assert extended["score"] == 5  # Gradescope's later due date for the student is their extension


def test_gradescope_autograder_reports_a_failure_in_results_json(tmp_path):
    (tmp_path / "source" / "course").mkdir(parents=True)  # no assignment in it
    done = subprocess.run(
        [sys.executable, "-m", "autograder.gradescope", str(tmp_path)], capture_output=True, text=True, env=cli_env()
    )
    assert done.returncode == 1
    result = json.loads((tmp_path / "results" / "results.json").read_text())
    assert result["score"] == 0 and result["output"].startswith("The autograder could not grade this submission")
