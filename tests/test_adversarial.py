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
from tests.support.browser import dump_dom, file_url
from tests.support.nbcourse import ROOT, Course, hidden_test_lines, make_submission, visible_text
from tests.support.payloads import add_payloads, marks

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


#: A secret in the grading process's environment: an allow-listed kernel environment never shows it.
ENV_SECRETS = {"LMS_API_TOKEN": f"LMS-{secrets.token_hex(8)}", "AUTOGRADER_LMS_TOKEN": f"AG-{secrets.token_hex(8)}"}
#: Memory one grading worker may reach, whatever its kernels send it (measured: about 0.5-0.9 GiB).
WORKER_MEMORY_BUDGET_MB = 1536


def _change(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Whole-notebook changes of the corpus (``Attack.change``)."""
    if name == "many_cells":  # 200,000 empty cells: never validated or run (built as plain dicts: new_code_cell
        # validates each cell against the schema, about a minute for these)
        blank = {"cell_type": "code", "source": "", "metadata": {}, "outputs": [], "execution_count": None}
        nb.cells += [nbformat.from_dict({**blank, "id": f"many-{i}"}) for i in range(200_000)]
    elif name == "huge_notebook":  # 60 MB of text in one markdown cell
        nb.cells.append(new_markdown_cell("x" * 60_000_000))
    elif name == "duplicate_ids":  # a copied solution cell carries the same grade_id: nbgrader refused the notebook
        solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
        nb.cells.append(nbformat.from_dict(json.loads(json.dumps(solution))))
    elif name == "script_injection":  # Markdown, HTML, SVG, JavaScript and image outputs that would run a script
        nb = add_payloads(nb)
    elif name == "hostile_grade_id":  # a cell that claims a grade_id the assignment never had, full of HTML
        cell = new_code_cell("print('hello')")
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": False, "points": 1000,
                                     "grade_id": '"><img src=x onerror="document.title=1">'}  # fmt: skip
        nb.cells.append(cell)
    else:
        raise ValueError(name)
    return nb


def _attack_notebook(release: Path, attack: Attack, fill: dict[str, str]) -> nbformat.NotebookNode:
    mutations = FLIPPED.mutations if attack.work == "flipped" else ()
    nb = make_submission(release, ASSIGNMENT, NOTEBOOK, mutations, fill=attack.work != "blank")
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
    return _change(nb, attack.change) if attack.change else nb


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("adversarial")
    course = Course(base / "course", [ASSIGNMENT])
    course.nbgrader("generate_assignment", ASSIGNMENT, "--force")
    release = course.root / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    token, other_token = f"SECRET-{secrets.token_hex(8)}", f"OTHER-STUDENT-{secrets.token_hex(8)}"
    (course.root / "secret.txt").write_text(token)
    outside = tmp_path_factory.mktemp("outside")  # files of the machine, outside the course: the links' targets
    canary, secret_file, secret_dir = outside / "canary.txt", outside / "secret.txt", outside / "private"
    canary.write_text(f"CANARY-{secrets.token_hex(8)}")
    secret_file.write_text(token)
    secret_dir.mkdir()
    (secret_dir / "key.txt").write_text(token)
    for path in (canary, secret_file, secret_dir / "key.txt"):
        path.chmod(0o600)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    fill = {"course": str(course.root), "repo": str(ROOT), "port": listener.getsockname()[1], "token": token,
            "canary": str(canary), "secret_file": str(secret_file), "secret_dir": str(secret_dir)}  # fmt: skip

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
            nb = _attack_notebook(release, attack, fill)
            if len(nb.cells) > 10_000:  # many_cells: written without nbformat's validation on writing (8 s)
                (folder / attack.filename).write_text(nbformat.v4.writes_json(nb) + "\n", encoding="utf-8")
            else:
                nbformat.write(nb, folder / attack.filename)
        for name, target in attack.links:
            os.symlink(target.format(**fill), folder / name)
    watched = {path: (path.read_bytes(), path.stat().st_mode) for path in (canary, secret_file, secret_dir / "key.txt")}
    instructor_nb = course.root / "submitted" / "instructor" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    watched[instructor_nb] = (instructor_nb.read_bytes(), instructor_nb.stat().st_mode)

    command = [sys.executable, "-m", "autograder", "--course", str(course.root), "grade", ASSIGNMENT]
    # The two attacks that never finish wait out --cell-timeout; Assignment 1's longest honest cell takes about
    # 0.5 s alone (its setup), so 8 s leaves it room on a loaded machine without idling a worker for longer.
    command += ["--workers", "2", "--no-progress", "--cell-timeout", "8", "--memory-mb", "1536"]
    env = {**os.environ, "MPLBACKEND": "Agg", **ENV_SECRETS}
    run = subprocess.run(command, capture_output=True, text=True, timeout=1500, env=env)
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
            "token": token, "other_token": other_token, "fill": fill, "watched": watched}  # fmt: skip


def _outputs(course: Course, student: str) -> str:
    path = course.root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    if not path.exists():
        return ""
    nb = nbformat.read(path, as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells])


def _everything_of(course: Course, student: str) -> str:
    """All the bytes the grader wrote for ``student``: the autograded folder and the feedback, as text."""
    found = []
    for top in ("autograded", "feedback"):
        folder = course.root / top / student
        for path in sorted(folder.rglob("*")) if folder.exists() else []:
            assert not path.is_symlink(), f"{path} is a link"
            if path.is_file():
                found.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(found)


def _feedback(course: Course, student: str) -> str:
    path = course.root / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
    return visible_text(path.read_text()) if path.exists() else ""


def _expected(attack: Attack | None, work: str) -> dict[str, float]:
    points = _points()
    cells = {gid: (0.0 if work == "flipped" and gid in FLIPPED.failing else p) for gid, p in points.items()}
    if attack is None:
        return cells
    if attack.outcome == "zero" or attack.work == "blank":
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
    if os.geteuid() == 0:  # a grader running as root forks its kernels: the corpus is graded that way too
        assert "kernels forked from a fork server" in corpus["run"].stdout


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


def test_nothing_is_written_read_or_chmod_through_a_link(corpus):
    """The link attacks' targets (files outside the course, another student's submission, the gradebook) keep
    their bytes and modes; nothing the grader wrote for any student is a link or holds a target's content."""
    for path, (data, mode) in corpus["watched"].items():
        assert path.read_bytes() == data and path.stat().st_mode == mode, path
    course = corpus["course"]
    assert corpus["course"].scores(ASSIGNMENT, NOTEBOOK)["instructor"] == _expected(None, "correct")
    canary = corpus["watched"][Path(corpus["fill"]["canary"])][0].decode()
    for attack in ATTACKS:
        written = _everything_of(course, attack.name)
        assert canary not in written and corpus["token"] not in written, attack.name


def test_each_worker_stays_within_its_memory_budget(corpus):
    peaks = {student: r["worker_peak_mb"] for student, r in corpus["records"].items()}
    assert max(peaks.values()) <= WORKER_MEMORY_BUDGET_MB, peaks


def test_secrets_stay_out_of_outputs_and_feedback(corpus):
    course = corpus["course"]
    hidden = [line for line in hidden_test_lines(SOURCE) if len(line) >= 20]
    assert hidden
    for attack in (a for a in ATTACKS if a.secrets):
        out, feedback = _outputs(course, attack.name), _feedback(course, attack.name)
        assert feedback, f"{attack.name}: no feedback"
        for secret in (corpus["token"], corpus["other_token"], *ENV_SECRETS.values()):
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


def test_feedback_pages_run_no_script_in_a_browser(corpus):
    """Every student's feedback page, opened in headless Chromium: no payload ran or left a live mark."""
    course = corpus["course"]
    pages = sorted((course.root / "feedback").rglob("*.html"))
    assert any("script_injection" in str(p) for p in pages)
    for page in pages:
        if "script_injection" in str(page) or "hostile_grade_id" in str(page):
            dom = dump_dom(file_url(page))
            assert "Problems while grading" in dom or "Score" in dom, page
            assert not marks(dom), f"{page}: {marks(dom)}"
