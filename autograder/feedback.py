"""Feedback without hidden tests: an nbgrader preprocessor for ``generate_feedback``.

nbgrader's own feedback shows the source of hidden tests, and a failing hidden test's traceback quotes its
lines (nbgrader issues #917, #1363). ``HideHiddenTests`` removes the hidden region from every test cell and
replaces the traceback of a failing hidden test with its error message alone: the student learns what is
wrong (the check's message names the mistake) without seeing the test.
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearHiddenTests

HIDDEN_NOTE = "# (hidden tests: their source is not shown)"


class HideHiddenTests(ClearHiddenTests):
    """Strip hidden-test regions from test cells and reduce their error outputs to the message."""

    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden = cell.cell_type == "code" and self.begin_test_delimeter in cell.source
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if not had_hidden:
            return cell, resources
        cell.source = (cell.source.rstrip("\n") + "\n" + HIDDEN_NOTE).lstrip("\n")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
