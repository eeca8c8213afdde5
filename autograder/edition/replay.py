"""Lecture 03 in the student edition: the results of ``cnnlab.feature_visualization``, replayed.

``cnnlab.feature_visualization`` is Assignment 4's answer key, so the edition does not have it. Lecture 03 imports
it all the same: in the edition ``cnnlab/feature_visualization.py`` is a stand-in with the same function names that
hands back, call by call, what the real functions returned when the edition was built — lecture 03 run in fast mode
(``COURSE_FAST=1``) on the CPU, its calls recorded (``record``) into ``cnnlab/recorded/03_visualization.pt``.
The lecture's own code (its network, its training, its figures and tables) runs as it is; the maps, dreams and
receptive fields it shows are the instructor's.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

#: The module the edition replaces by a stand-in, and the stand-in's path in the edition.
MODULE = "cnnlab.feature_visualization"
STAND_IN_PATH = "cnnlab/feature_visualization.py"
#: The lecture that imports it, and where its recorded results go in the edition.
LECTURE = "course/03_visualization.ipynb"
RECORDING = "cnnlab/recorded/03_visualization.pt"

_START = """
import torch as _torch
import cnnlab.feature_visualization as _references

_calls = {}
_depth = [0]


def _recorder(_name, _fn):
    # Only the lecture's own calls are recorded: a function handed to another (penalty=tv_penalty) is called
    # inside it, and the stand-in that replays the outer call never makes those inner calls.
    def recorded(*args, **kwargs):
        _depth[0] += 1
        try:
            result = _fn(*args, **kwargs)
        finally:
            _depth[0] -= 1
        if _depth[0] == 0:
            _calls.setdefault(_name, []).append(_detached(result))
        return result

    return recorded


def _detached(value):
    if isinstance(value, _torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_detached(v) for v in value)
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value


for _name in [n for n, v in list(globals().items()) if getattr(v, "__module__", None) == _references.__name__]:
    globals()[_name] = _recorder(_name, globals()[_name])
"""

_SAVE = "_torch.save(_calls, {path!r})"

STAND_IN = '''"""Lecture 03's visualisations, replayed (student edition).

The course's implementations of these functions are the answer key of Assignment 4, which asks you to write them;
this copy of the course does not have them. Each function here hands back, call by call, what the real one returned
when this copy was built: lecture 03 run in fast mode on a CPU. Your own network and training in the lecture run
for real; the maps, dreams and receptive fields it shows are the instructor's.
"""

from __future__ import annotations

from pathlib import Path

import torch

#: These functions replay recorded results: lecture 03 skips the checks that compare them with your own network.
REPLAYED = True
_RECORDING = Path(__file__).with_name("recorded") / "03_visualization.pt"
_calls: dict[str, list] | None = None
_done: dict[str, int] = {{}}


def _replay(name: str):
    global _calls
    if _calls is None:
        _calls = torch.load(_RECORDING, weights_only=True)
        print(
            "cnnlab.feature_visualization: showing the results recorded when this copy of the course was built "
            "(fast mode)"
        )
    recorded = _calls.get(name, [])
    index = _done.get(name, 0)
    if index >= len(recorded):
        raise RuntimeError(
            f"cnnlab.feature_visualization.{{name}} has no more recorded results: this copy of the course replays "
            "lecture 03 as it ran when the course was built; run the lecture's cells from the top, in order"
        )
    _done[name] = index + 1
    return recorded[index]


{functions}
'''

_FUNCTION = '''def {name}(*args, **kwargs):
    """The recorded result of ``{name}`` at this point of lecture 03."""
    return _replay("{name}")

'''


def imported_names(lecture: Path) -> list[str]:
    """The names the lecture imports from ``cnnlab.feature_visualization``."""
    import ast

    names = []
    for cell in nbformat.read(lecture, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module == MODULE:
                names += [alias.name for alias in node.names]
    return sorted(set(names))


def stand_in(names: list[str]) -> str:
    """The text of the edition's ``cnnlab/feature_visualization.py``."""
    functions = [n for n in names if n != "REPLAYED"]  # a constant of the stand-in itself
    return STAND_IN.format(functions="\n".join(_FUNCTION.format(name=n) for n in functions).rstrip() + "\n")


def record(root: Path, out: Path, timeout: int = 1200) -> Path:
    """Run lecture 03 of ``root`` in fast mode on the CPU and write what its ``cnnlab.feature_visualization`` calls
    returned to ``out`` (a ``torch.load(weights_only=True)`` file)."""
    nb = nbformat.read(root / LECTURE, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and MODULE in c.source)
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(_START))
    out.parent.mkdir(parents=True, exist_ok=True)
    nb.cells.append(nbformat.v4.new_code_cell(_SAVE.format(path=str(out))))
    env = {**os.environ, "COURSE_FAST": "1", "COURSE_DEVICE": "cpu", "MPLBACKEND": "Agg", "PYTHONPATH": str(root)}
    # the kernel gets its own environment; this process's is left alone
    with tempfile.TemporaryDirectory(prefix="edition-lecture-") as tmp:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}})
        client.execute(env=env)
    return out


def write(root: Path, edition: Path) -> list[str]:
    """Record lecture 03's results and write the edition's stand-in ``cnnlab/feature_visualization.py``; return the
    paths."""
    record(root, edition / RECORDING)
    (edition / STAND_IN_PATH).write_text(stand_in(imported_names(root / LECTURE)))
    return [STAND_IN_PATH, RECORDING]
