"""Run inside the student edition's virtual environment (its own Python, no PYTHONPATH): where the course's
packages come from, every lecture in fast mode, and every assignment's visible test cells twice.

``python edition_run.py EDITION ANSWERS OUT`` — ``ANSWERS`` is a JSON file ``{assignment: {grade_id: code}}`` of
the instructor's solution cells (the edition has none); ``OUT`` gets a JSON report: ``imports`` (module -> file or
the error), ``lectures`` (notebook -> errors), and per assignment and run (``answers``, ``released``) the outcome
of every visible test cell (``passed`` or the error's text).
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def _where(module: str) -> str:
    try:
        return str(importlib.import_module(module).__file__)
    except Exception as err:  # what a student's import would say
        return f"{type(err).__name__}: {err}"


def _run(nb: nbformat.NotebookNode, path: Path, timeout: int = 900) -> nbformat.NotebookNode:
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(path)}}
    )
    client.execute()
    return nb


def _error(cell: nbformat.NotebookNode) -> str | None:
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return f"{output.ename}: {output.evalue}"
    return None


def _test_cells(nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> 'passed' or the error, of every graded test cell with code (hidden tests are comments here)."""
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            code = [line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
            if code:
                out[meta["grade_id"]] = _error(cell) or "passed"
    return out


def main(edition: Path, answers_file: Path, out_file: Path) -> None:
    answers = json.loads(answers_file.read_text())
    report: dict = {"python": sys.executable}
    report["imports"] = {
        m: _where(m) for m in ("cnnlab", "autograder.checks", "autograder.checks.hidden", "autograder.cli")
    }
    report["lectures"] = {}
    for path in sorted((edition / "course").glob("*.ipynb")):
        nb = _run(nbformat.read(path, as_version=4), path.parent)
        errors = [_error(c) for c in nb.cells if c.cell_type == "code" and _error(c)]
        report["lectures"][path.name] = errors
    report["assignments"] = {}
    for path in sorted((edition / "assignments").glob("*/*.ipynb")):
        assignment = path.parent.name
        runs = {}
        for run in ("released", "answers"):
            nb = nbformat.read(path, as_version=4)
            if run == "answers":
                for cell in nb.cells:
                    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                    if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers[assignment]:
                        cell.source = answers[assignment][grade_id]
            _run(nb, path.parent)
            runs[run] = _test_cells(nb)
        report["assignments"][assignment] = runs
    out_file.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    try:
        main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
