"""PyTorch's answers for Assignment 1's checks, read from tables recorded once, so that grading needs no torch.

Every value a check of Assignment 1 compares with is a PyTorch computation (``F.conv2d``, autograd, pooling) on
inputs made from the case alone. Importing torch costs a grading kernel about 2 s of CPU, a third of the job, for
an assignment written in NumPy. A function marked :func:`tabled` looks its value up by its name and a digest of its
arguments in the recorded tables and computes it with PyTorch (imported then) only when it is not there: the
answer is PyTorch's either way, and a case whose inputs change is simply computed.

Tables: ``autograder/checks/layers/torch_values.npz`` for the visible cases (shipped in the student edition with
the checks) and ``autograder/checks/hidden/layers_torch_values.npz`` for the hidden ones (grader only). Both are written
by ``python -m autograder.checks.layers.record_tables`` from the instructor's notebook; a test recomputes every
entry with PyTorch and compares.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

CHECKS = Path(__file__).resolve().parents[1]
VISIBLE_TABLE = CHECKS / "layers" / "torch_values.npz"
HIDDEN_TABLE = CHECKS / "hidden" / "layers_torch_values.npz"
TABLES = (VISIBLE_TABLE, HIDDEN_TABLE)

_table: dict[str, Any] | None = None
_recording: dict[str, Any] | None = None


class NotTabled(TypeError):
    """An argument the digest does not know: the value is computed, never looked up."""


def _feed(h: Any, value: object) -> None:
    if isinstance(value, np.ndarray):
        h.update(f"a{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(f"d{type(value).__qualname__}".encode())
        for f in dataclasses.fields(value):
            _feed(h, getattr(value, f.name))
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__}{len(value)}(".encode())
        for item in value:
            _feed(h, item)
        h.update(b")")
    elif value is None or isinstance(value, (bool, int, float, str, np.integer, np.floating)):
        h.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        raise NotTabled(type(value).__name__)


def key_of(name: str, args: tuple, kwargs: dict) -> str:
    """The table key of ``name(*args, **kwargs)``."""
    h = hashlib.sha256()
    _feed(h, args)
    _feed(h, sorted(kwargs.items()))
    return f"{name}:{h.hexdigest()[:32]}"


class Raised:
    """A computation that raised ``RuntimeError`` (e.g. a kernel larger than its padded input): raised again."""

    def __init__(self, message: str) -> None:
        self.message = message


def _decode(kind: str, arrays: dict[str, np.ndarray], key: str) -> Any:
    if kind == "raised":
        return Raised(str(arrays[key]))
    if kind == "none":
        return None
    if kind == "int":
        return int(arrays[key])
    if kind == "array":
        return arrays[key]
    if kind.startswith("tuple"):
        return tuple(arrays[f"{key}|{i}"] for i in range(int(kind[5:])))
    raise ValueError(kind)


def _encode(key: str, value: Any, arrays: dict[str, np.ndarray]) -> str:
    if isinstance(value, Raised):
        arrays[key] = np.asarray(value.message)
        return "raised"
    if value is None:
        return "none"
    if isinstance(value, (int, np.integer)):
        arrays[key] = np.asarray(int(value))
        return "int"
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return "array"
    if isinstance(value, tuple) and all(isinstance(v, np.ndarray) for v in value):
        for i, v in enumerate(value):
            arrays[f"{key}|{i}"] = v
        return f"tuple{len(value)}"
    raise NotTabled(type(value).__name__)


def read(path: Path) -> dict[str, Any]:
    """The entries of one table file (empty when it is absent)."""
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    kinds = json.loads(str(arrays.pop("__kinds__")))
    return {key: _decode(kind, arrays, key) for key, kind in kinds.items()}


def write(path: Path, entries: dict[str, Any]) -> None:
    """Write ``entries`` (key: value) as one table file."""
    arrays: dict[str, np.ndarray] = {}
    kinds = {key: _encode(key, entries[key], arrays) for key in sorted(entries)}
    arrays["__kinds__"] = np.asarray(json.dumps(kinds))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def _entries() -> dict[str, Any]:
    global _table
    if _table is None:
        merged: dict[str, Any] = {}
        for path in TABLES:
            try:
                merged.update(read(path))
            except Exception:  # an unreadable table is no table: every value is computed
                continue
        _table = merged
    return _table


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    return value


def tabled(fn: F) -> F:
    """Look ``fn``'s value up in the tables (computing it when absent; recording it while :func:`recording`)."""

    @functools.wraps(fn)
    def looked_up(*args: Any, **kwargs: Any) -> Any:
        try:
            key = key_of(fn.__qualname__, args, kwargs)
        except NotTabled:
            return fn(*args, **kwargs)
        if _recording is None:
            table = _entries()
            if key in table:
                found = table[key]
                if isinstance(found, Raised):
                    raise RuntimeError(found.message)
                return _copy(found)
            return fn(*args, **kwargs)
        try:
            value = fn(*args, **kwargs)
        except RuntimeError as err:
            _recording[key] = Raised(str(err))
            raise
        _recording[key] = _copy(value)
        return value

    return looked_up  # type: ignore[return-value]


@contextlib.contextmanager
def recording() -> Iterator[dict[str, Any]]:
    """Compute every tabled value with PyTorch while the block runs, and collect them: ``{key: value}``."""
    global _recording
    previous, _recording = _recording, {}
    try:
        yield _recording
    finally:
        _recording = previous


def forget() -> None:
    """Read the tables again at the next lookup (after they were rewritten)."""
    global _table
    _table = None
