"""``python3 -m autograder demo``, the README's main job: Assignment 1 released, graded, reported.

The test runs it with ``--quick`` on Assignment 1 (the release is not validated; release validation is tested
on the toy assignment, and Assignment 1's solution and blank release are graded by the demo itself; Assignment
2's grading, training included, is tested end to end by tests/test_assignment_02.py).
"""

from __future__ import annotations

import html
import re
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


def test_demo_runs_the_whole_pipeline(tmp_path):
    workdir = tmp_path / "demo"
    repo_state = {name: (ROOT / name).exists() for name in ("submitted", "autograded", "feedback", "gradebook.db")}
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "demo", "--quick", "--assignment", "01_layers", "--workdir", str(workdir)],
        capture_output=True, text=True, cwd=ROOT, env=cli_env(), timeout=1500,
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
    # the repository's own course folders are untouched
    assert {name: (ROOT / name).exists() for name in repo_state} == repo_state
