"""Every path that runs student code for a grade is sandboxed: ``nbgrader autograde`` run by hand on the course,
and Formgrader's Autograde button (its HTTP API), not only ``autograder grade``.

A toy submission that answers correctly also tries to write a file outside the course, to reach a server on
the grading machine's loopback, and to read a secret from the grader's environment; each must be blocked, and
its correct answers keep their points.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.support.formgrader import formgrader_server
from tests.support.toycourse import SOLVED_MUL, TOY, cli_env, release_of, released_course, student_notebook

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or not Path("/usr/bin/bwrap").exists(), reason="the sandbox needs bubblewrap on Linux"
)

SECRET = f"LMS-{secrets.token_hex(8)}"
ATTEMPTS = """import os, socket
def add(a, b):
    return a + b
report = []
try:
    open({canary!r}, "w").write("pwned")
    report.append("WROTE")
except OSError:
    report.append("BLOCKED-write")
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("127.0.0.1", {port}))
    report.append("CONNECTED")
except OSError:
    report.append("BLOCKED-net")
report.append("SECRET=" + os.environ.get("LMS_API_TOKEN", "none"))
print(report)
"""


@pytest.fixture
def attempt(tmp_path):
    """A released toy course with the attacking submission, a canary file outside it, and a loopback listener."""
    root = released_course(tmp_path / "course")
    canary = tmp_path / "outside" / "canary.txt"
    canary.parent.mkdir()
    canary.write_text("canary")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.setblocking(False)
    code = ATTEMPTS.format(canary=str(canary), port=listener.getsockname()[1])
    nb = student_notebook(release_of(root), code, SOLVED_MUL)
    folder = root / "submitted" / "student" / TOY
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{TOY}.ipynb")
    yield {"root": root, "canary": canary, "listener": listener}
    listener.close()


def _assert_contained(attempt) -> None:
    root = attempt["root"]
    assert attempt["canary"].read_text() == "canary"
    with pytest.raises(BlockingIOError):
        attempt["listener"].accept()
    autograded = nbformat.read(root / "autograded" / "student" / TOY / f"{TOY}.ipynb", as_version=4)
    outputs = json.dumps([c.get("outputs", []) for c in autograded.cells])
    assert "BLOCKED-write" in outputs and "BLOCKED-net" in outputs and "SECRET=none" in outputs, outputs[:2000]
    assert SECRET not in outputs and "WROTE" not in outputs and "CONNECTED" not in outputs
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert gb.find_submission(TOY, "student").score == 10  # its correct answers keep their points


def test_nbgrader_autograde_by_hand_runs_student_code_in_the_sandbox(attempt):
    run = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", TOY],
        cwd=attempt["root"], capture_output=True, text=True, timeout=600,
        env={**cli_env(), "LMS_API_TOKEN": SECRET},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    _assert_contained(attempt)


def test_formgrader_autograde_button_runs_student_code_in_the_sandbox(attempt, tmp_path, monkeypatch):
    monkeypatch.setenv("LMS_API_TOKEN", SECRET)  # in the Jupyter server's environment
    with formgrader_server(attempt["root"], tmp_path / "server") as server:
        request = urllib.request.Request(
            f"{server.url}/formgrader/api/submission/{TOY}/student/autograde",
            data=b"", method="POST", headers={"Authorization": f"token {server.token}"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.loads(response.read())
    assert answer.get("success"), answer
    _assert_contained(attempt)


def test_the_course_configuration_names_the_sandbox(attempt):
    """What makes both paths sandboxed: the course's own nbgrader configuration (a TA's copy carries it)."""
    from autograder.course import Course

    config = Course.open(attempt["root"]).config
    assert config.GuardedExecute.kernel_manager_class.endswith("SandboxedKernelManager")
    chain = [
        p if isinstance(p, str) else f"{p.__module__}.{p.__name__}" for p in config.Autograde.autograde_preprocessors
    ]
    assert "autograder.pipeline.execute.GuardedExecute" in chain
    assert not any(name.endswith(".Execute") and "Guarded" not in name for name in chain)
    assert os.fspath(attempt["root"]) == config.CourseDirectory.root
