"""The README's own setup, followed by a newcomer: a virtual environment inside the repository, then the tests.

The README advises a Debian or Ubuntu user to make ``.venv/`` in the repository root. The repository's checks
(notebooks cleared, nothing that downloads) must then look only at the project's own files, never at the
packages in ``.venv/`` — nor in ``venv/``, ``env/``, ``build/`` or any folder git ignores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.toycourse import ROOT

#: What other projects' files look like to the repository's checks: a notebook with outputs, a download call.
JUNK_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": 1,
            "id": "a",
            "metadata": {},
            "source": "1",
            "outputs": [
                {"output_type": "execute_result", "execution_count": 1, "data": {"text/plain": "1"}, "metadata": {}}
            ],
        },  # fmt: skip
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}
JUNK_CODE = "import torchvision\nmodel = torchvision.models.resnet18(pretrained=True)\n"


def _copy_working_tree(dest: Path) -> None:
    """The repository's files as they are now (committed or not, ignored ones left out), as a fresh git repo."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True,
        check=True,
    )  # fmt: skip
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=dest, check=True, capture_output=True)


def _plant_junk(folder: Path) -> None:
    (folder / "pkg").mkdir(parents=True, exist_ok=True)
    (folder / "pkg" / "test_notebook.ipynb").write_text(json.dumps(JUNK_NOTEBOOK))
    (folder / "pkg" / "weights.py").write_text(JUNK_CODE)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_readme_setup_in_a_venv_inside_the_repository_keeps_the_checks_green(tmp_path):
    repo = tmp_path / "checkout"
    _copy_working_tree(repo)
    # the README's advice, as a newcomer follows it (the installed packages lent, so nothing large is fetched)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", ".venv"], cwd=repo, check=True)
    for ignored in (".venv", "venv", "env", "build", "bench/results"):
        _plant_junk(repo / ignored)
    python = repo / ".venv" / "bin" / "python"
    env = {**os.environ, "VIRTUAL_ENV": str(repo / ".venv"), "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    setup = subprocess.run(["bash", "setup.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert "setup: ok" in setup.stdout
    checks = subprocess.run(
        [str(python), "-m", "pytest", "-n", "0", "-q", "-p", "no:cacheprovider", "tests/test_repository.py"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert checks.returncode == 0, checks.stdout[-5000:] + checks.stderr[-2000:]
    # the checks did look at the project: its own notebooks were among those tested
    assert "test_notebook_valid_and_outputs_cleared[course/" in subprocess.run(
        [str(python), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_repository.py"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    ).stdout  # fmt: skip
