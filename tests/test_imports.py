"""``import autograder`` refuses jsonschema's optional rfc3987_syntax (seconds of parser building in every
process that reads notebooks), and notebooks are still validated as before."""

from __future__ import annotations

import subprocess
import sys

from tests.support.nbcourse import ROOT

CHECK = """
import sys
import autograder
import nbformat
import nbgrader.preprocessors  # jsonschema's format checkers load here

assert sys.modules["rfc3987_syntax"] is None, "rfc3987_syntax was imported"
good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
nbformat.validate(good)
bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
bad.cells[0]["cell_type"] = "spreadsheet"
try:
    nbformat.validate(bad)
except nbformat.ValidationError:
    print("rejected")
"""


def test_autograder_refuses_rfc3987_syntax_and_notebooks_still_validate():
    run = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "rejected"
