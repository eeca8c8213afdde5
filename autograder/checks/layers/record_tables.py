"""Record the tables of PyTorch's answers for Assignment 1's checks (``torch_values``) from the instructor's notebook.

    python -m autograder.checks.layers.record_tables [--notebook solutions/01_layers/01_layers.ipynb]

Runs the notebook's code cells in this process twice, with every tabled value computed by PyTorch and collected:
once with the hidden tests taken out (the visible table, which the student edition ships), once whole (the hidden
table holds what only the hidden tests compute). Run it again when a case, a check or the notebook changes;
tests/test_torch_values.py says when the tables are out of date.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
from pathlib import Path
from typing import Any

from . import torch_values

HIDDEN_BLOCK = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.M | re.S)
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)[ \t]*\n?", re.M)
DEFAULT_NOTEBOOK = Path("solutions") / "01_layers" / "01_layers.ipynb"


def _code(source: str, hidden: bool) -> str:
    if not hidden:
        source = HIDDEN_BLOCK.sub("", source)
    source = MARKERS.sub("", source)
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def record(notebook: Path, hidden: bool) -> dict[str, Any]:
    """Every tabled value the notebook's cells compute (its hidden tests included when ``hidden``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    cwd = os.getcwd()
    os.chdir(notebook.parent)
    try:
        with torch_values.recording() as found, contextlib.redirect_stdout(io.StringIO()):
            for cell in nb.cells:
                if cell.cell_type == "code":
                    exec(compile(_code(cell.source, hidden), f"<{notebook.name}>", "exec"), namespace)
                    plt.close("all")
    finally:
        os.chdir(cwd)
    return dict(found)


def record_tables(notebook: Path) -> tuple[int, int]:
    """Write the visible and the hidden table; the numbers of their entries."""
    visible = record(notebook, hidden=False)
    every = record(notebook, hidden=True)
    hidden_only = {key: value for key, value in every.items() if key not in visible}
    torch_values.write(torch_values.VISIBLE_TABLE, visible)
    torch_values.write(torch_values.HIDDEN_TABLE, hidden_only)
    torch_values.forget()
    return len(visible), len(hidden_only)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.checks.layers.record_tables", description=__doc__)
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK, help="the instructor's notebook")
    args = parser.parse_args(argv)
    visible, hidden = record_tables(args.notebook.resolve())
    print(f"{torch_values.VISIBLE_TABLE}: {visible} values; {torch_values.HIDDEN_TABLE}: {hidden} values")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
