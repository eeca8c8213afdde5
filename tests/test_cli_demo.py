"""``python3 -m autograder demo``, the README's main job: Assignment 1 released, graded, reported.

The test runs it with ``--quick`` on Assignment 1 (the release is not validated; release validation is tested
on the toy assignment, and Assignment 1's solution and blank release are graded by the demo itself; Assignment
2's grading, training included, is tested end to end by tests/test_assignment_02.py).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder.course import AutograderError
from autograder.demo import prepare_workdir
from tests.support.toycourse import ROOT, cli_env


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(AutograderError, match="not made by `autograder demo`"):
        prepare_workdir(tmp_path)
    assert (tmp_path / "precious.txt").exists()


def test_demo_runs_the_whole_pipeline_where_it_is_run(tmp_path):
    """Run from a second copy of the course (the package installed from this one), with no --workdir: the demo
    course is made in that copy's build/demo, and nothing is written into this repository."""
    checkout = tmp_path / "second-checkout"
    shutil.copytree(ROOT / "solutions" / "01_layers", checkout / "solutions" / "01_layers")
    workdir = checkout / "build" / "demo"
    watched = ("submitted", "autograded", "feedback", "gradebook.db", "build/demo")
    repo_state = {name: _state(ROOT / name) for name in watched}
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "demo", "--quick", "--assignment", "01_layers"],
        capture_output=True, text=True, cwd=checkout, env=cli_env(), timeout=1500,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rows = dict(re.findall(r"^\| (\w+) \| ([^|]+?) \|", run.stdout, flags=re.M))
    assert rows["instructor"] == "100 / 100" and rows["blank"] == "0 / 100" and rows["broken"] == "0 / 100"
    partial = float(rows["partial"].split("/")[0])
    assert 0 < partial < 100
    assert re.search(r"^\| broken \| 0 / 100 \| corrupt \|$", run.stdout, flags=re.M)
    assert (workdir / "gradebook.db").exists()
    csv_rows = (workdir / "exports" / "grades.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 4
    # feedback for all four, without hidden tests
    source = nbformat.read(ROOT / "solutions" / "01_layers" / "01_layers.ipynb", as_version=4)
    hidden = {
        line.strip()
        for c in source.cells
        if "### BEGIN HIDDEN TESTS" in c.source
        for line in c.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].splitlines()
        if line.strip()
    }
    pages = sorted((workdir / "feedback").rglob("01_layers.html"))
    assert len(pages) == 4
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        assert "BEGIN HIDDEN TESTS" not in text and not [line for line in hidden if line in text]
    # the repository's own course folders, and its own demo, are untouched
    assert {name: _state(ROOT / name) for name in watched} == repo_state
    assert f"demo course in {workdir.resolve()}" in run.stdout


def _state(path):
    """Whether ``path`` exists and when it last changed (a folder: its newest entry's time)."""
    if not path.exists():
        return None
    return max([path.stat().st_mtime_ns, *(p.stat().st_mtime_ns for p in path.rglob("*"))])
