"""The adversarial corpus, graded in one batch with two honest submissions (``autograder grade``, sandboxed).

Each attack (tests/support/adversarial.py) is Assignment 1's release with one malicious or broken cell or
file. The test asserts, for each: nothing happened outside the sandbox (files it wrote or deleted, the
connection it opened, secrets it read), its points are those of an honest submission of the same work
(zero for the cells it meant to affect, none after a cell that killed its kernel), and the report flags what
can be detected. The honest submissions keep their exact points.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from tests.support.adversarial import AFTER, ASSIGNMENT, ATTACKS, EDITED_CELL, NOTEBOOK, Attack
from tests.support.assignment01 import MISTAKES
from tests.support.nbcourse import ROOT, Course, hidden_test_lines, make_submission, visible_text

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or not Path("/usr/bin/bwrap").exists(), reason="the sandbox needs bubblewrap on Linux"
)

FLIPPED = next(m for m in MISTAKES if m.name == "flipped_kernel")
SOURCE = ROOT / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"


def _gid(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _points() -> dict[str, float]:
    """Points of each graded cell in notebook order (from the instructor's notebook)."""
    nb = nbformat.read(SOURCE, as_version=4)
    return {
        _gid(c): float(c.metadata["nbgrader"]["points"])
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


def _attack_notebook(release: Path, attack: Attack, fill: dict[str, str]) -> nbformat.NotebookNode:
    mutations = FLIPPED.mutations if attack.work == "flipped" else ()
    nb = make_submission(release, ASSIGNMENT, NOTEBOOK, mutations)
    ids = [_gid(c) for c in nb.cells]
    if attack.edit:
        at = ids.index(EDITED_CELL)
        if attack.edit == "edit":
            nb.cells[at].source = "pass  # nothing to check here"
        elif attack.edit == "delete":
            del nb.cells[at]
        else:
            nb.cells[at] = nbformat.NotebookNode({**nb.cells[at], "cell_type": "markdown"})
            nb.cells[at].pop("outputs", None)
            nb.cells[at].pop("execution_count", None)
    if attack.code:
        at = len(nb.cells) if attack.place == "end" else ids.index(AFTER) + 1
        nb.cells.insert(at, new_code_cell(attack.code.format(**fill)))
    return nb


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("adversarial")
    course = Course(base / "course", [ASSIGNMENT])
    course.nbgrader("generate_assignment", ASSIGNMENT, "--force")
    release = course.root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    token, other_token = f"SECRET-{secrets.token_hex(8)}", f"OTHER-STUDENT-{secrets.token_hex(8)}"
    (course.root / "secret.txt").write_text(token)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    fill = {"course": str(course.root), "repo": str(ROOT), "port": listener.getsockname()[1], "token": token}

    honest = make_submission(release, ASSIGNMENT, NOTEBOOK)
    honest.cells.append(new_markdown_cell(f"My own notes: {other_token}"))
    course.submit("instructor", ASSIGNMENT, NOTEBOOK, honest)
    course.submit("flipped", ASSIGNMENT, NOTEBOOK, make_submission(release, ASSIGNMENT, NOTEBOOK, FLIPPED.mutations))
    for attack in ATTACKS:
        folder = course.root / "submitted" / attack.name / ASSIGNMENT
        folder.mkdir(parents=True)
        if attack.raw is not None:
            (folder / attack.filename).write_bytes(attack.raw)
        else:
            nbformat.write(_attack_notebook(release, attack, fill), folder / attack.filename)

    command = [sys.executable, "-m", "autograder", "--course", str(course.root), "grade", ASSIGNMENT]
    command += ["--workers", "2", "--no-progress", "--cell-timeout", "20", "--memory-mb", "1536"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=1500, env={**os.environ, "MPLBACKEND": "Agg"})
    feedback = subprocess.run(
        [sys.executable, "-m", "autograder", "--course", str(course.root), "feedback", ASSIGNMENT],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    try:
        connection = listener.accept()
    except BlockingIOError:
        connection = None
    listener.close()
    journal = course.root / ".autograder" / f"{ASSIGNMENT}.jsonl"
    records = {}
    for line in journal.read_text().splitlines() if journal.exists() else []:
        record = json.loads(line)
        records[record["student"]] = record
    return {"course": course, "run": run, "feedback": feedback, "records": records, "connection": connection,
            "token": token, "other_token": other_token, "fill": fill}  # fmt: skip


def _outputs(course: Course, student: str) -> str:
    path = course.root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    if not path.exists():
        return ""
    nb = nbformat.read(path, as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells])


def _feedback(course: Course, student: str) -> str:
    path = course.root / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
    return visible_text(path.read_text()) if path.exists() else ""


def _expected(attack: Attack | None, work: str) -> dict[str, float]:
    points = _points()
    cells = {gid: (0.0 if work == "flipped" and gid in FLIPPED.failing else p) for gid, p in points.items()}
    if attack is None:
        return cells
    if attack.outcome == "zero":
        return dict.fromkeys(cells, 0.0)
    if attack.outcome == "killed":
        order = list(points)
        cells = {gid: (p if order.index(gid) <= order.index(AFTER) else 0.0) for gid, p in cells.items()}
    return {gid: (0.0 if gid in attack.affected else p) for gid, p in cells.items()}


def test_the_whole_batch_is_graded(corpus):
    assert corpus["run"].returncode == 0, corpus["run"].stdout + corpus["run"].stderr
    assert set(corpus["records"]) == {"instructor", "flipped", *(a.name for a in ATTACKS)}
    assert corpus["feedback"].returncode == 0, corpus["feedback"].stderr
    assert "sandbox: bubblewrap" in corpus["run"].stdout


@pytest.mark.parametrize("student, work", [("instructor", "correct"), ("flipped", "flipped")])
def test_honest_submissions_keep_their_exact_points(corpus, student, work):
    assert corpus["course"].scores(ASSIGNMENT, NOTEBOOK)[student] == _expected(None, work)
    assert corpus["records"][student]["problems"] == []


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_an_attack_earns_what_honest_work_earns(corpus, attack):
    scores = corpus["course"].scores(ASSIGNMENT, NOTEBOOK).get(attack.name)
    if attack.outcome == "zero" and scores is None:
        assert corpus["records"][attack.name]["score"] == 0
        return
    assert scores == _expected(attack, attack.work)


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.flags], ids=lambda a: a.name)
def test_what_can_be_detected_is_flagged(corpus, attack):
    problems = corpus["records"][attack.name]["problems"]
    kinds = {p["kind"] for p in problems}
    for alternatives in attack.flags:
        assert kinds & set(alternatives), f"{attack.name}: expected one of {alternatives}, got {problems}"
    feedback = _feedback(corpus["course"], attack.name)
    if feedback:  # what went wrong is also at the top of the student's feedback
        assert "Problems while grading" in feedback


def test_nothing_happens_outside_the_sandbox(corpus):
    course, fill = corpus["course"], corpus["fill"]
    writer = next(a for a in ATTACKS if a.name == "write_outside")
    for path in writer.writes:
        assert not Path(path.format(**fill)).exists(), path
    for kept in ("gradebook.db", "secret.txt", "submitted/instructor", "submitted/flipped"):
        assert (course.root / kept).exists(), kept
    assert corpus["connection"] is None, "a sandboxed kernel reached the grading machine's loopback"
    for name in ("net_outside", "net_loopback", "write_outside", "delete_files", "read_files"):
        out = _outputs(course, name)
        assert "BLOCKED" in out, f"{name}: the attempt's own report is missing: {out[:500]}"
        for word in ("CONNECTED", "WROTE", "DELETED"):
            assert word not in out.replace("BLOCKED", ""), f"{name}: {word}"


def test_secrets_stay_out_of_outputs_and_feedback(corpus):
    course = corpus["course"]
    hidden = [line for line in hidden_test_lines(SOURCE) if len(line) >= 20]
    assert hidden
    for attack in (a for a in ATTACKS if a.secrets):
        out, feedback = _outputs(course, attack.name), _feedback(course, attack.name)
        assert feedback, f"{attack.name}: no feedback"
        for secret in (corpus["token"], corpus["other_token"]):
            assert secret not in out and secret not in feedback, attack.name
        for line in hidden:
            assert line not in feedback, f"{attack.name}: hidden test line in feedback: {line}"
            if attack.name == "read_files":
                assert line not in out, f"read_files read a hidden test: {line}"


@pytest.mark.parametrize(
    "name, words",
    [("memory_bomb", ("memory", "limit")), ("segfault", ("segmentation fault",)), ("os_exit", ("status 3",)),
     ("infinite_loop", ("time limit",)), ("huge_output", ("output removed",)), ("patch_checks", ("outside",))],
)  # fmt: skip
def test_messages_say_what_happened(corpus, name, words):
    text = " ".join(p["message"] for p in corpus["records"][name]["problems"])
    for word in words:
        assert word in text, f"{name}: {word!r} not in {text!r}"
