"""A grading batch killed with ``kill -9`` mid-way resumes: every student graded exactly once, no grade lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from nbgrader.api import Gradebook

from autograder.course import Course
from autograder.pipeline.coordinator import grade, journal_for
from tests.support.toycourse import (
    SOLVED_ADD,
    SOLVED_MUL,
    TOY,
    WRONG_MUL,
    cli_env,
    release_of,
    released_course,
    student_notebook,
    write_submission,
)


def test_kill_9_mid_batch_then_resume(tmp_path):
    root = released_course(tmp_path / "course")
    expected = {"s0": 10, "s1": 5, "s2": 10}
    for student, points in expected.items():
        nb = student_notebook(release_of(root), SOLVED_ADD, SOLVED_MUL if points == 10 else WRONG_MUL)
        write_submission(root / "submitted" / student / TOY, nb)
    journal = journal_for(Course.open(root), TOY)
    command = [sys.executable, "-m", "autograder", "--course", str(root), "grade", TOY, "--workers", "1"]
    proc = subprocess.Popen(
        [*command, "--no-progress"],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so that its orphans can be cleaned up below
    )
    try:
        deadline = time.monotonic() + 600
        while not journal.records() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the batch finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)  # the coordinator, mid-batch
        proc.wait()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its orphaned worker and kernel
        except ProcessLookupError:
            pass
    done_before = {r["student"] for r in journal.records()}
    assert 1 <= len(done_before) < len(expected)

    said = []
    rerun = grade(Course.open(root), TOY, workers=0, progress=False, echo=said.append)
    assert any(f"skipping {len(done_before)} already graded" in line for line in said)
    assert sorted(rerun.skipped) == sorted(done_before) and not rerun.failed
    records = journal.records()
    assert sorted(r["student"] for r in records) == sorted(expected)  # each exactly once
    assert {r["student"]: r["score"] for r in records} == expected
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert {s: len(gb.find_student(s).submissions) for s in expected} == dict.fromkeys(expected, 1)
        assert {s: gb.find_submission(TOY, s).score for s in expected} == expected
    leftovers = [p.name for p in (root / "autograded").iterdir() if p.name.startswith(".")]
    assert sorted(p.name for p in (root / "autograded").iterdir() if not p.name.startswith(".")) == sorted(expected)
    assert not [name for name in leftovers if "-old-" in name]
