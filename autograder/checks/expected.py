"""Expected values of the visible checks whose reference is the course's own (no public library computes it).

A check asks ``expect(module, name, case, *inputs)`` for everything it compares one case with: the right answer
and the answers of the typical mistakes it names. On the instructor's side, and whenever a notebook is graded, the
grader-only references (``autograder.checks.hidden.<module>``, function ``name``) compute them from the inputs.
The student edition has no references: it holds the values of the visible cases, recorded from the same
references when the edition is built (``record``) and read back by ``case`` from
``autograder/checks/expected/<module>.pt``. The inputs depend on the case alone, never on a student's results, so
the recorded values are the ones the grader computes; ``case`` must name everything the inputs are made from.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .common import CheckFailed
from .references import grader_reference

#: Where the student edition keeps the recorded values, one file per module.
DIRECTORY = Path(__file__).with_name("expected")

_recording: dict[str, dict[str, Any]] | None = None
_tables: dict[str, dict[str, Any]] = {}


def _reference(module: str):
    name = f"{__package__}.hidden.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name is None or not name.startswith(err.name):
            raise
        return None


@grader_reference
def expect(module: str, name: str, case: str, *args: Any, **kwargs: Any) -> Any:
    """The expected values of ``case`` (computed by ``hidden.<module>.<name>(*args, **kwargs)``, or recorded)."""
    key = f"{name}/{case}"
    reference = _reference(module)
    if reference is None:
        return _recorded(module, key)
    value = getattr(reference, name)(*args, **kwargs)
    if _recording is not None:
        table = _recording.setdefault(module, {})
        if key in table and not _same(table[key], value):
            raise AssertionError(f"case {key!r} of {module} was recorded twice with different values")
        table[key] = _detached(value)
    return value


def _recorded(module: str, key: str) -> Any:
    if module not in _tables:
        path = DIRECTORY / f"{module}.pt"
        _tables[module] = _decode(torch.load(path, weights_only=True)) if path.exists() else {}
    try:
        return _tables[module][key]
    except KeyError:
        raise CheckFailed(
            key.split("/")[0], f"no expected values for the case {key!r} in this copy of the course"
        ) from None


@contextlib.contextmanager
def recording() -> Iterator[dict[str, dict[str, Any]]]:
    """Record every value ``expect`` computes while the block runs: ``{module: {name/case: value}}``."""
    global _recording
    previous, _recording = _recording, {}
    try:
        yield _recording
    finally:
        _recording = previous


def save(tables: dict[str, dict[str, Any]], directory: Path) -> list[Path]:
    """Write recorded tables as ``directory/<module>.pt`` (readable with ``torch.load(weights_only=True)``)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for module, table in sorted(tables.items()):
        path = directory / f"{module}.pt"
        torch.save(_encode(dict(sorted(table.items()))), path)
        written.append(path)
    return written


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_detached(v) for v in value)
    return value


def _same(a: Any, b: Any) -> bool:
    """The same value (NaN equal to NaN): a case recorded twice must not change."""
    if isinstance(a, (torch.Tensor, np.ndarray)) or isinstance(b, (torch.Tensor, np.ndarray)):
        if type(a) is not type(b) or a.shape != b.shape:
            return False
        x, y = (torch.as_tensor(v).detach().cpu() for v in (a, b))
        return x.dtype == y.dtype and bool(torch.equal(x, y) or torch.allclose(x.double(), y.double(), 0, 0, True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


def _encode(value: Any) -> Any:
    """Only what ``torch.load(weights_only=True)`` reads: tensors, numbers, strings, None, lists, tuples, dicts."""
    if isinstance(value, np.ndarray):
        return {"__numpy__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_encode(v) for v in value)
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__numpy__"}:
            return value["__numpy__"].numpy()
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_decode(v) for v in value)
    return value
