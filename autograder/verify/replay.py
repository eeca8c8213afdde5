"""Judging a graded test cell outside the student's kernel, from what the kernel recorded.

The cell's trusted source (the instructor's, restored by nbgrader) runs in the grader's own process with:
the names the instructor's locked cells import (NumPy, the checks) and the built-ins, taken from this
process, never from the kernel; the student's functions as :class:`~autograder.verify.record.Replayer`s;
the student's values decoded from the record. A check that fails here fails the cell, whatever the kernel
displayed. Checks that depend on the live kernel (timing) raise ``NotReplayable``: such a cell keeps the
kernel's verdict.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import record as rec
from .codec import decode

PASS, FAIL, UNVERIFIABLE = "pass", "fail", "unverifiable"

#: Top-level packages a recorded module name may be imported from in the grader.
IMPORTABLE = {"numpy", "math", "torch", "torchvision", "autograder", "cnnlab", "matplotlib", "scipy", "skimage"}


@dataclass(frozen=True)
class CellVerdict:
    """The outside verdict of one graded test cell."""

    grade_id: str
    status: str
    reason: str = ""


def free_names(source: str) -> list[str] | None:
    """Names the cell reads that it may find in the kernel (built-ins excluded); ``None`` if not Python."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted(n for n in names if not hasattr(builtins, n))


def trusted_imports(sources: list[str]) -> dict[str, Any]:
    """The names bound by the import statements of the instructor's locked cells, imported here."""
    namespace: dict[str, Any] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                with contextlib.suppress(Exception):
                    exec(compile(ast.Module(body=[node], type_ignores=[]), "<trusted imports>", "exec"), namespace)
    namespace.pop("__builtins__", None)
    return namespace


@contextlib.contextmanager
def _replay_mode() -> Iterator[None]:
    import numpy as np

    saved = (np.random.get_state(), random.getstate())
    rec.set_replaying(True)
    rec._STATE.update(mismatch=None, not_replayable=None)
    try:
        yield
    finally:
        rec.set_replaying(False)
        np.random.set_state(saved[0])
        random.setstate(saved[1])


def replay_cell(grade_id: str, source: str, record_text: str | None, trusted: dict[str, Any]) -> CellVerdict:
    """Run the trusted ``source`` of a graded cell on the kernel's record; pass, fail, or unverifiable."""
    names = free_names(source)
    if names is None:
        return CellVerdict(grade_id, UNVERIFIABLE, "the cell is not plain Python")
    if record_text is None:
        return CellVerdict(grade_id, FAIL, "the kernel left no record of this cell's checks")
    try:
        record = rec.load(record_text)
    except ValueError as err:
        return CellVerdict(grade_id, FAIL, f"the kernel's record of this cell is unusable ({err})")
    try:
        namespace = _namespace(record, trusted)
    except _Refused as refused:
        return refused.verdict(grade_id)
    except Exception as err:  # a forged record of the wrong shape
        return CellVerdict(grade_id, FAIL, f"the kernel's record of this cell is unusable ({type(err).__name__})")
    with _replay_mode(), contextlib.redirect_stdout(io.StringIO()), _quiet_plots():
        rec.set_rng(record)
        try:
            exec(compile(source, f"<{grade_id}>", "exec"), namespace)
            outcome: BaseException | None = None
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # the cell's verdict: any exception fails it, as in the kernel
            outcome = err
    mismatch, kernel_only = rec._STATE.get("mismatch"), rec._STATE.get("not_replayable")
    if mismatch:
        return CellVerdict(grade_id, FAIL, f"the kernel's record does not match the checks: {mismatch}")
    if kernel_only or isinstance(outcome, rec.NotReplayable):
        return CellVerdict(grade_id, UNVERIFIABLE, f"{kernel_only or outcome} is judged in the kernel only")
    if outcome is not None:
        lines = str(getattr(outcome, "message", outcome)).splitlines()
        return CellVerdict(grade_id, FAIL, f"{type(outcome).__name__}: {lines[0] if lines else ''}".rstrip(": "))
    return CellVerdict(grade_id, PASS)


class _Refused(Exception):
    """A record names something the replay cannot stand in for; carries the verdict."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason

    def verdict(self, grade_id: str) -> CellVerdict:
        return CellVerdict(grade_id, self.status, self.reason)


def _namespace(record: dict[str, Any], trusted: dict[str, Any]) -> dict[str, Any]:
    """The cell's namespace for the replay: trusted imports, replayers for functions, decoded values, modules."""
    namespace: dict[str, Any] = {"__name__": "__replay__", **trusted}
    players = rec.replayers(record)
    for name, info in record.get("names", {}).items():
        if name in trusted or hasattr(builtins, name):
            continue  # the instructor's imports and Python's built-ins come from here, never from the kernel
        kind = info.get("kind")
        if kind == "function":
            namespace[name] = players[name]
        elif kind == "value":
            namespace[name] = decode(info.get("value"))
        elif kind == "module":
            module = str(info.get("module", ""))
            if module.split(".")[0] not in IMPORTABLE:
                raise _Refused(FAIL, f"{name} is the module {module}, not something the grader can check")
            try:
                namespace[name] = importlib.import_module(module)
            except Exception:
                raise _Refused(FAIL, f"{name} names the module {module}, which does not exist") from None
    return namespace


@contextlib.contextmanager
def _quiet_plots() -> Iterator[None]:
    """Figures a test cell draws during the replay are closed, not shown."""
    try:
        yield
    finally:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")
