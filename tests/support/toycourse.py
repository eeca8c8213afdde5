"""A tiny nbgrader assignment ("toy") whose notebooks run in a second or two, for the pipeline's tests.

Two functions to write, four autograded test cells (one hidden, one that draws a plot), 10 points. Its
submissions are made by editing the instructor's solution, like the Assignment 1 mistakes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.config import config_file_text

ROOT = Path(__file__).resolve().parents[2]

TOY = "toy"
HIDDEN_LINE = 'assert add(-7, 7) == 0, "add fails when the numbers cancel out"'


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, points: float = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3, "solution": solution}
    meta["task"] = False
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


ADD = 'def add(a, b):\n    """a + b"""\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION\n'
MUL = 'def mul(a, b):\n    """a * b"""\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION\n'
TESTS = {
    "test_add": (2, 'assert add(1, 2) == 3, "add(1, 2) should be 3"'),
    "test_add_hidden": (3, f"# hidden tests (3 points)\n### BEGIN HIDDEN TESTS\n{HIDDEN_LINE}\n### END HIDDEN TESTS"),
    "test_mul": (
        4,
        "import matplotlib.pyplot as plt\nfrom IPython.display import display\n"
        "fig = plt.figure(figsize=(2, 2)); plt.plot([mul(i, i) for i in range(4)]); display(fig); plt.close(fig)\n"
        'assert mul(3, 4) == 12, "mul(3, 4) should be 12: did you add instead of multiply?"',
    ),
    "test_mul_zero": (1, 'assert mul(5, 0) == 0, "mul(5, 0) should be 0"'),
}


def toy_notebook(add: str = ADD, mul: str = MUL, tests: dict | None = None) -> nbformat.NotebookNode:
    """The instructor notebook of the toy assignment (``tests``: grade_id -> (points, source))."""
    cells = [
        new_markdown_cell("# Toy assignment", metadata=_meta("intro")),
        new_code_cell(add, metadata=_meta("add", solution=True)),
    ]
    for gid, (points, source) in (tests or TESTS).items():
        if gid.startswith("test_mul") and not any(c.metadata["nbgrader"]["grade_id"] == "mul" for c in cells):
            cells.append(new_code_cell(mul, metadata=_meta("mul", solution=True)))
        cells.append(new_code_cell(source, metadata=_meta(gid, grade=True, points=points)))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def make_course(root: Path, notebook: nbformat.NotebookNode | None = None) -> Path:
    """A course at ``root`` using the repository's nbgrader settings, with the toy assignment in solutions/."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(config_file_text(root))
    folder = root / "solutions" / TOY
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook or toy_notebook(), folder / f"{TOY}.ipynb")
    return root


def student_notebook(release: Path, add: str | None = None, mul: str | None = None) -> nbformat.NotebookNode:
    """The release with its solution cells filled in (``None`` leaves a cell blank)."""
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "add" and add is not None:
            cell.source = add
        if gid == "mul" and mul is not None:
            cell.source = mul
    return nb


SOLVED_ADD = "def add(a, b):\n    return a + b\n"
SOLVED_MUL = "def mul(a, b):\n    return a * b\n"
WRONG_MUL = "def mul(a, b):\n    return a + b\n"  # fails test_mul (4) and test_mul_zero (1)
SLOW_MUL = "import time\ntime.sleep(600)\n" + SOLVED_MUL
CRASH_MUL = "import os\nos._exit(1)\n"


def write_submission(folder: Path, nb: nbformat.NotebookNode | str, name: str = TOY) -> Path:
    """Write a notebook (or raw text, for a corrupt one) as ``folder/<name>.ipynb``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb))
    return path


def released_course(root: Path, notebook: nbformat.NotebookNode | None = None) -> Path:
    """A toy course whose assignment nbgrader has generated (no validation run: no kernel starts)."""
    from autograder.course import Course
    from autograder.release import generate

    make_course(root, notebook)
    generate(Course.open(root).config, TOY)
    return root


def release_of(root: Path) -> Path:
    return root / "assignments" / TOY / f"{TOY}.ipynb"


def cli(
    *args: str, course: Path, timeout: float = 900, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m autograder --course COURSE ARGS`` with this repository importable (``env``: more
    environment variables); fail with its output."""
    env = {**cli_env(), **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "--course", str(course), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if check and result.returncode != 0:
        command = " ".join(args)
        raise AssertionError(f"autograder {command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
