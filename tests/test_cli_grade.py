"""``autograder release/collect/grade/feedback/export`` end to end on the toy assignment.

One course is released, collected and graded once for the module (2 workers): a correct, a blank and a wrong
submission, one that runs past the cell time limit, one whose kernel dies (``os._exit``), a corrupt
notebook and a misnamed one. The batch is killed with ``kill -9`` after its first result and run again to
finish. The same submissions graded by plain sequential ``nbgrader autograde`` and by a Dask cluster must
get the same points.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.course import Course
from autograder.feedback import generate_feedback
from autograder.pipeline.coordinator import grade, journal_for
from autograder.release import ReleaseRefused, release
from tests.support.toycourse import (
    CRASH_MUL,
    HIDDEN_LINE,
    SLOW_MUL,
    SOLVED_ADD,
    SOLVED_MUL,
    TESTS,
    TOY,
    WRONG_MUL,
    cli,
    cli_env,
    make_course,
    release_of,
    released_course,
    student_notebook,
    toy_notebook,
    write_submission,
)

EXPECTED = {"good": 10, "blank": 0, "wrong": 5, "slow": 5, "crash": 5, "corrupt": 0, "misnamed": 0}
NORMAL = ("good", "wrong")


def _cell_scores(root: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(TOY).submissions:
            nb = gb.find_submission_notebook(TOY, TOY, sub.student_id)
            out[sub.student_id] = {g.name: g.score for g in nb.grades}
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("pipeline")
    root = make_course(base / "course")
    released = cli("release", TOY, course=root)
    release = release_of(root)
    notebooks = {
        "good": student_notebook(release, SOLVED_ADD, SOLVED_MUL),
        "blank": student_notebook(release),
        "wrong": student_notebook(release, SOLVED_ADD, WRONG_MUL),
        "slow": student_notebook(release, SOLVED_ADD, SLOW_MUL),
        "crash": student_notebook(release, SOLVED_ADD, CRASH_MUL),
        "corrupt": '{"cells": [{"cell_type": "code", ',
    }
    incoming = base / "incoming"
    for student, nb in notebooks.items():
        write_submission(incoming / student, nb)
    write_submission(incoming / "misnamed", notebooks["good"], name="Toy (1)")
    collected = cli("collect", TOY, "--from", str(incoming), course=root)
    # the batch is killed (kill -9) once its first result is recorded, then run again to finish
    grade_args = ("grade", TOY, "--workers", "2", "--cell-timeout", "4")
    killed_after = _kill_9_after_first_result(root, grade_args, base / "killed.out")
    run = cli(*grade_args, course=root, check=False)
    return {"root": root, "release": released, "collect": collected, "run": run, "killed_after": killed_after,
            "output": (base / "killed.out").read_text() + run.stdout}  # fmt: skip


def _kill_9_after_first_result(root: Path, args: tuple[str, ...], out: Path) -> list[str]:
    """Run ``autograder ARGS``, kill -9 it once the journal holds a result; the students it had finished."""
    journal = journal_for(Course.open(root), TOY)
    with open(out, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autograder", "--course", str(root), *args, "--no-progress"],
            env=cli_env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that its orphans can be cleaned up below
        )
        try:
            deadline = time.monotonic() + 600
            while not journal.records() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert proc.poll() is None, "the batch ended before it could be killed:\n" + out.read_text()
            os.kill(proc.pid, signal.SIGKILL)  # the coordinator, mid-batch
            proc.wait()
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its orphaned workers and their kernels
            except ProcessLookupError:
                pass
    return [r["student"] for r in journal.records()]


def test_release_validates_both_ways(graded):
    assert "released toy" in graded["release"].stdout and "blank release none" in graded["release"].stdout
    assert release_of(graded["root"]).exists()


def test_release_refuses_a_wrong_solution_and_a_test_that_passes_blank(tmp_path):
    tests = {
        "test_add": (2, "assert add(1, 2) == 3"),
        "test_mul": (4, 'assert mul(3, 4) == 13, "mul(3, 4) should be 13"'),  # the solution gives 12
        "test_nothing": (1, "x = 1  # tests nothing"),
    }
    course = Course.open(make_course(tmp_path / "c", toy_notebook(tests=tests)))
    with pytest.raises(ReleaseRefused) as refused:
        release(course, TOY, echo=lambda text: None)
    message = str(refused.value)
    assert "test cell 'test_mul' fails on the instructor's solution" in message
    assert "mul(3, 4) should be 13" in message
    assert "test cell 'test_nothing' passes on the blank release" in message
    assert "test_add" not in message
    assert not (course.root / "assignments").exists()  # nothing released


def test_a_batch_killed_mid_way_resumes_with_every_student_graded_once(graded):
    finished = graded["killed_after"]
    assert 1 <= len(finished) < len(EXPECTED)
    assert f"skipping {len(finished)} already graded" in graded["run"].stdout
    records = journal_for(Course.open(graded["root"]), TOY).records()
    assert sorted(r["student"] for r in records) == sorted(EXPECTED)  # each exactly once
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['root'] / 'gradebook.db'}") as gb:
        assert {s: len(gb.find_student(s).submissions) for s in EXPECTED} == dict.fromkeys(EXPECTED, 1)
    autograded = graded["root"] / "autograded"
    assert sorted(p.name for p in autograded.iterdir() if not p.name.startswith(".")) == sorted(
        set(EXPECTED) - {"corrupt", "misnamed"}
    )
    assert not [p for p in autograded.iterdir() if "-old-" in p.name]


def test_every_submission_graded_with_expected_points(graded):
    assert graded["run"].returncode == 0, graded["run"].stdout + graded["run"].stderr
    records = journal_for(Course.open(graded["root"]), TOY).latest()
    assert {s: r["score"] for s, r in records.items()} == EXPECTED
    assert {s: sum(v or 0 for v in cells.values()) for s, cells in _cell_scores(graded["root"]).items()} == EXPECTED


def test_the_journal_breaks_each_job_down_by_phase(graded):
    from autograder.pipeline.job import JOB_PHASES

    records = journal_for(Course.open(graded["root"]), TOY).latest()
    for student in ("good", "wrong", "slow", "crash"):
        record = records[student]
        phases = record["phases"]
        assert list(phases) == list(JOB_PHASES) and all(v >= 0 for v in phases.values()), (student, phases)
        assert phases["kernel start"] > 0 and phases["test cells"] > 0, (student, phases)
        # the phases cover the job: together they are its time, up to the worker's bookkeeping around them
        assert 0.8 * record["seconds"] <= sum(phases.values()) <= record["seconds"] + 0.01, (student, record)
        assert record["cpu_seconds"] > 0
    # the slow student's solution cell ran into the 4 s cell limit: the time is the student's, not the tests'
    slow = records["slow"]["phases"]
    assert slow["student cells"] >= 3.5 and slow["student cells"] > slow["test cells"]
    good = records["good"]["phases"]
    assert good["student cells"] < 3.5


def test_same_points_as_sequential_nbgrader_autograde(graded, tmp_path):
    ref = released_course(tmp_path / "ref")  # nbgrader's GenerateAssignment, in this process
    nbgrader = [sys.executable, "-m", "nbgrader"]
    for student in NORMAL:
        shutil.copytree(graded["root"] / "submitted" / student, ref / "submitted" / student)
    subprocess.run([*nbgrader, "autograde", TOY], cwd=ref, check=True, capture_output=True, env=cli_env())
    ours, theirs = _cell_scores(graded["root"]), _cell_scores(ref)
    assert {s: ours[s] for s in NORMAL} == theirs
    assert theirs["wrong"] == {"test_add": 2, "test_add_hidden": 3, "test_mul": 0, "test_mul_zero": 0}


def test_problems_are_flagged_with_a_message_and_points_earned_before(graded):
    records = journal_for(Course.open(graded["root"]), TOY).latest()
    kinds = {s: [p["kind"] for p in r["problems"]] for s, r in records.items()}
    assert kinds == {"good": [], "blank": [], "wrong": [], "slow": ["timeout"], "crash": ["exit"],
                     "corrupt": ["corrupt"], "misnamed": ["missing_notebook"]}  # fmt: skip
    assert (
        records["crash"]["problems"][0]["cell"] == "mul"
        and "kernel died: it exited with status 1" in records["crash"]["problems"][0]["message"]
    )
    assert records["slow"]["problems"][0]["cell"] == "mul"
    assert "toy.ipynb is not a readable notebook" in records["corrupt"]["problems"][0]["message"]
    assert "Toy (1).ipynb" in records["misnamed"]["problems"][0]["message"]
    assert all(r["device"].startswith("cpu") for r in records.values())
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['root'] / 'gradebook.db'}") as gb:
        flagged = {s: gb.find_submission_notebook(TOY, TOY, s).flagged for s in EXPECTED}
    assert flagged == {s: bool(kinds[s]) for s in EXPECTED}
    out = graded["output"]
    assert "crash: 5/10" in out and "flagged exit" in out and "flagged timeout" in out


def test_rerun_skips_finished_and_force_grades_again_once(graded):
    root = graded["root"]
    journal = journal_for(Course.open(root), TOY)
    before = len(journal.records())
    again = cli("grade", TOY, "--no-progress", course=root)
    assert "skipping 7 already graded" in again.stdout and len(journal.records()) == before
    forced = grade(Course.open(root), TOY, force=True, students=["good"], workers=0, progress=False)
    assert [r["student"] for r in forced.graded] == ["good"] and not forced.skipped
    assert [r["student"] for r in journal.records()[before:]] == ["good"]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert len(gb.find_student("good").submissions) == 1
        assert gb.find_submission(TOY, "good").score == 10


def _text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_feedback_shows_messages_and_plots_but_no_hidden_test(graded):
    root = graded["root"]
    generate_feedback(Course.open(root), TOY)
    pages = {s: root / "feedback" / s / TOY / f"{TOY}.html" for s in EXPECTED}
    assert all(p.exists() for p in pages.values())
    for page in pages.values():
        assert HIDDEN_LINE not in page.read_text() and "add(-7, 7)" not in _text(page)
    assert "did you add instead of multiply?" in _text(pages["wrong"])
    assert "data:image/png" in pages["good"].read_text()  # the test's plot
    assert "Problems while grading" in _text(pages["crash"]) and "kernel died" in _text(pages["crash"])
    assert "not a readable notebook" in _text(pages["corrupt"])


def test_gradescope_results(graded):
    root = graded["root"]
    cli("export", TOY, "--format", "gradescope", course=root)
    for student, total in EXPECTED.items():
        result = json.loads((root / "exports" / "gradescope" / student / "results.json").read_text())
        assert result["score"] == total and result["max_score"] == 10
        assert sum(t["score"] for t in result["tests"]) == total
        assert [t["name"] for t in result["tests"]] == ["test_add", "test_add_hidden", "test_mul", "test_mul_zero"]
        for t in result["tests"]:
            assert set(t) == {"name", "score", "max_score", "output", "visibility"}
            assert t["visibility"] == ("after_published" if t["name"] == "test_add_hidden" else "visible")
            assert HIDDEN_LINE not in t["output"]
    wrong = json.loads((root / "exports" / "gradescope" / "wrong" / "results.json").read_text())
    assert "did you add instead of multiply?" in wrong["tests"][2]["output"]
    crash = json.loads((root / "exports" / "gradescope" / "crash" / "results.json").read_text())
    assert "kernel died" in crash["output"]


def test_csv_export_and_class_statistics(graded):
    root = graded["root"]
    run = cli("export", TOY, "--format", "csv", course=root)
    rows = (root / "exports" / "grades.csv").read_text().splitlines()
    header = rows[0].split(",")
    scores = {r.split(",")[header.index("student_id")]: float(r.split(",")[header.index("score")]) for r in rows[1:]}
    assert scores == EXPECTED
    stats = (root / "exports" / f"{TOY}_tests.csv").read_text().splitlines()
    by_test = {line.split(",")[1]: line.split(",") for line in stats[1:]}
    assert by_test["test_add"][4] == str(round(4 / 7, 4))  # good, wrong, slow, crash pass it
    assert float(by_test["test_mul"][5]) == pytest.approx(4 / 7, abs=1e-4)  # only good earns its 4 points
    assert "| test_add | 2 | 57% |" in run.stdout
    assert (root / "exports" / f"{TOY}_tests.png").stat().st_size > 1000


def test_dask_cluster_gives_the_same_grades(graded, tmp_path):
    distributed = pytest.importorskip("distributed")
    root = released_course(tmp_path / "dask")
    students = ("wrong", "crash")
    for student in students:
        shutil.copytree(graded["root"] / "submitted" / student, root / "submitted" / student)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        run = cli("grade", TOY, "--scheduler", cluster.scheduler_address, "--no-progress", course=root)
    assert "Dask cluster" in run.stdout
    theirs, ours = _cell_scores(root), _cell_scores(graded["root"])
    assert theirs == {s: ours[s] for s in students}
    records = journal_for(Course.open(root), TOY).latest()
    assert [p["kind"] for p in records["crash"]["problems"]] == ["exit"]


def test_autograded_notebook_records_the_problems(graded):
    path = graded["root"] / "autograded" / "crash" / TOY / f"{TOY}.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["autograder"]["problems"][0]["kind"] == "exit"
    [test_mul] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_mul"]
    assert test_mul.outputs[0]["ename"] == "NotRun"


def test_a_new_release_makes_earlier_grades_stale_and_they_are_graded_again(tmp_path):
    """A test fixed in the instructor's notebook and released again: the next `grade` grades everyone again
    without --force, says so, and the run after it skips them."""
    from autograder.release import generate

    buggy = {**{k: v for k, v in TESTS.items() if k != "test_mul_zero"}, "test_mul_zero": (1, "assert mul(5, 0) == 5")}
    root = released_course(tmp_path / "course", toy_notebook(tests=buggy))
    for student, mul in (("good", SOLVED_MUL), ("wrong", WRONG_MUL)):
        write_submission(root / "submitted" / student / TOY, student_notebook(release_of(root), SOLVED_ADD, mul))
    first = grade(Course.open(root), TOY, workers=0, progress=False, sandbox=None)
    assert {r["student"]: r["score"] for r in first.graded} == {"good": 9, "wrong": 6}

    nbformat.write(toy_notebook(), root / "solutions" / TOY / f"{TOY}.ipynb")  # the test fixed
    generate(Course.open(root).config, TOY)
    said = []
    again = grade(Course.open(root), TOY, workers=0, progress=False, sandbox=None, echo=said.append)
    assert sorted(again.stale) == ["good", "wrong"] and not again.skipped
    assert {r["student"]: r["score"] for r in again.graded} == {"good": 10, "wrong": 5}
    assert any("graded against an earlier release" in line for line in said)
    third = grade(Course.open(root), TOY, workers=0, progress=False, sandbox=None, echo=said.append)
    assert sorted(third.skipped) == ["good", "wrong"] and not third.graded and not third.stale
