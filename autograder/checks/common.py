"""Shared machinery of the checks: failures with kind messages, relative errors, mistake diagnosis.

A check calls the student's function on fixed inputs, compares with a reference computed by PyTorch, and
on a mismatch raises ``CheckFailed`` whose message names the likely mistake. ``CheckFailed`` renders in
Jupyter as its message alone (no traceback into the checking code), so the feedback stays readable and
reveals nothing of hidden tests.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from ..failure import CheckFailed
from .references import student_code

try:  # the grader records what checks see in the kernel (autograder.verify); the student edition has no grader
    from ..verify.record import boundary, replaying
except ImportError:  # pragma: no cover - exercised in the student edition

    def boundary(fn: Callable) -> Callable:
        return fn

    def replaying() -> bool:
        return False


if TYPE_CHECKING:
    from .forbidden import Forbidden

_CHECKS_DIR = os.path.dirname(os.path.abspath(__file__))

#: Relative error below which an output counts as correct (stated in the assignment notebooks).
TOLERANCE = 1e-5


#: What a hidden test says where the grader-only cases are not installed (the student edition).
GRADED_ONLY = "hidden tests run when your notebook is graded; they are not part of the course you received"


def grader_only(name: str) -> ModuleType:
    """The grader-only module ``autograder.checks.hidden.<name>`` (hidden cases, references).

    In the student edition it is absent: a ``CheckFailed`` then says that hidden tests run when graded.
    """
    module = f"{__package__}.hidden.{name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is None or not module.startswith(err.name):
            raise
        raise CheckFailed("hidden tests", GRADED_ONLY) from None


@contextlib.contextmanager
def case_of(index: int, total: int) -> Iterator[None]:
    """Run one of a check's ``total`` cases (``index`` from 0): a failure also says how many passed before it."""
    try:
        yield
    except CheckFailed as err:
        raise CheckFailed(err.task, f"{err.message}\n{cases_passed(index, total)}") from err


def cases_passed(index: int, total: int) -> str:
    """The line a failing case adds to its message."""
    return f"({index} of the {total} cases of this test passed before this one.)"


def finite(value: object) -> bool:
    """True when ``value`` (a number, an array or a tensor) holds no NaN and no infinity."""
    try:
        return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
    except (TypeError, ValueError):
        try:
            import torch

            if isinstance(value, torch.Tensor):
                return bool(torch.isfinite(value.detach().double()).all())
        except ImportError:
            pass
        return False


OVERLAP = (
    "right where a single window (kernel tap) reaches a pixel, wrong where several overlap: contributions to "
    "the same pixel must add up. `a[idx] += v` with repeated indices adds only one of them, and `a[...] = v` "
    "keeps only the last; use np.add.at(a, idx, v) or a loop with += over the kernel taps."
)


def overlap_hint(got: np.ndarray, expected: np.ndarray, coverage: np.ndarray, tolerance: float = TOLERANCE) -> str:
    """``OVERLAP`` when ``got`` matches ``expected`` where ``coverage`` (how many windows reach each entry) is 1
    and not where it is larger; else ""."""
    if got.shape != expected.shape or coverage.shape != expected.shape:
        return ""
    single, several = coverage == 1, coverage > 1
    if not several.any() or not single.any() or not np.all(np.isfinite(got)):
        return ""
    if rel_error(got[single], expected[single]) < tolerance <= rel_error(got[several], expected[several]):
        return OVERLAP
    return ""


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference relative to the larger of the two arrays' largest magnitudes.

    ``rel_error(x, y) = max|x - y| / max(max|x|, max|y|, 1e-12)``: scale-free, and not fooled by
    near-zero entries as an elementwise ratio would be.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)), 1e-12)
    return float(np.abs(a - b).max(initial=0.0)) / scale


def describe_call(**kwargs: object) -> str:
    """Format a test case for a message: arrays by shape, other values as they are."""
    parts = []
    for name, value in kwargs.items():
        if hasattr(value, "shape"):
            parts.append(f"{name} of shape {tuple(value.shape)}")
        else:
            parts.append(f"{name}={value!r}")
    return ", ".join(parts)


@boundary
def call_student(task: str, fn: Callable, *args: object, **kwargs: object) -> object:
    """Call the student's ``fn``; turn an exception or a missing function into a ``CheckFailed`` that says so."""
    if not callable(fn):
        raise CheckFailed(task, f"expected a function, got {type(fn).__name__}")
    with student_code() as reached:
        try:
            result = fn(*args, **kwargs)
        except NotImplementedError as err:
            _refuse_references(task, reached)
            raise CheckFailed(task, "not implemented yet (the function raises NotImplementedError)") from err
        except CheckFailed:
            _refuse_references(task, reached)
            raise
        except Exception as err:  # the student's bug: report it, not a traceback into the checks
            _refuse_references(task, reached)
            where = _student_line(err)
            raise CheckFailed(task, f"raised {type(err).__name__}: {err}{where}") from err
    _refuse_references(task, reached)
    return plain(result)


#: Packages whose subclasses of arrays, tensors and numbers the checks take as they are (NumPy's scalars, torch's
#: ``Parameter``, torchvision's ``tv_tensors``). A subclass defined anywhere else is the student's: its methods, or
#: PyTorch's ``__torch_function__``, could answer the checks' own comparisons (``allclose`` always true, ``==``
#: always equal), so :func:`plain` turns it into the plain type holding the same values.
TRUSTED_PACKAGES = frozenset({"builtins", "numpy", "torch", "torchvision"})


def _trusted(value: object) -> bool:
    return (type(value).__module__ or "").split(".")[0] in TRUSTED_PACKAGES


def plain(value: object, depth: int = 0) -> object:
    """``value`` with the student's subclasses of ``numpy.ndarray``, ``torch.Tensor``, ``float`` and ``int`` made
    plain (same values, autograd history kept), inside lists, tuples and dicts too; anything else unchanged."""
    import sys

    if depth > 4 or value is None or type(value) in (bool, int, float, str):
        return value
    torch = sys.modules.get("torch")
    trusted = _trusted(value)
    if torch is not None and isinstance(value, torch.Tensor):
        if trusted:
            return value
        with torch._C.DisableTorchFunctionSubclass():
            return torch.Tensor.as_subclass(value, torch.Tensor)
    if isinstance(value, np.ndarray):
        return value if trusted else np.ndarray.view(value, np.ndarray).copy()
    if isinstance(value, float) and not trusted:
        return float.__float__(value)
    if isinstance(value, int) and not isinstance(value, bool) and not trusted:
        return int.__int__(value)
    if isinstance(value, list):
        return [plain(v, depth + 1) for v in list.__iter__(value)]
    if isinstance(value, tuple):
        return tuple(plain(v, depth + 1) for v in tuple.__iter__(value))
    if isinstance(value, dict):
        return {k: plain(v, depth + 1) for k, v in dict.items(value)}
    return value


def _refuse_references(task: str, reached: list[str]) -> None:
    """Fail the task when the student's code called one of the grader's references (``checks.references``)."""
    if reached:
        raise CheckFailed(
            task,
            f"calls {reached[0]}, which is part of the grader's checks: write the function yourself; it earns no "
            "points while it calls the checks' own code.",
        )


def call_within(task: str, forbidden: Forbidden, fn: Callable, *args: object, **kwargs: object) -> object:
    """Call the student's ``fn`` where the ``forbidden`` libraries cannot be reached; fail the task if it reaches one
    (``forbidden.rule`` says what the task allows)."""
    from .forbidden import run_without

    result, touched = call_student(task, run_without, forbidden, fn, *args, **kwargs)
    if touched:
        names = ", ".join(sorted(set(touched)))
        raise CheckFailed(task, f"calls {names}: {forbidden.rule}, so it earns no points while it calls them.")
    return result


def _student_line(err: BaseException) -> str:
    """Where in the student's own code the error happened: the deepest frame outside installed packages."""
    where = ""
    tb = err.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if "site-packages" not in filename and not filename.startswith(_CHECKS_DIR):
            where = f" (in {tb.tb_frame.f_code.co_name}, line {tb.tb_lineno})"
        tb = tb.tb_next
    return where


def as_number(value: object) -> int | float | None:
    """A real number a student's function returned, as a Python ``int`` or ``float``: a Python number, a NumPy scalar
    (``np.int64`` from ``np.sum``, ``np.float32``), or an array or tensor holding one number (``.item()`` is taken
    for them); None for anything else (a bool, a string, several numbers)."""
    import numbers
    import sys

    if isinstance(value, (bool, np.bool_)):
        return None
    torch = sys.modules.get("torch")  # a tensor exists only where torch was imported
    if torch is not None and isinstance(value, torch.Tensor):
        if value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool:
            return value.item()
        return None
    if isinstance(value, np.ndarray):
        return value.item() if value.size == 1 and value.dtype.kind in "iuf" else None
    if isinstance(value, np.generic):
        return value.item() if value.dtype.kind in "iuf" else None
    if isinstance(value, numbers.Real):
        return value
    return None


def as_array(task: str, value: object, name: str = "the result") -> np.ndarray:
    """Require a NumPy array (a torch tensor or a list is a mistake worth naming)."""
    if isinstance(value, np.ndarray):
        return value
    kind = type(value).__module__.split(".")[0] + "." + type(value).__name__
    raise CheckFailed(task, f"{name} must be a numpy.ndarray, got {kind}")


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: what it would return, and the message that names it."""

    output: np.ndarray | None
    message: str


def compare(
    task: str,
    got: np.ndarray,
    expected: np.ndarray,
    case: str,
    mistakes: Sequence[Mistake] = (),
    name: str = "output",
    tolerance: float = TOLERANCE,
    diagnose: Callable[[np.ndarray], str] | None = None,
) -> None:
    """Check ``got`` against ``expected``; on a mismatch, name the first typical mistake it matches.

    A mismatch in shape is reported first (with a matching mistake when its output has the same shape);
    then NaN or infinite values; then values, with the relative error. ``diagnose(got)``, when no listed mistake
    matches, may name a mistake that is not one fixed output (e.g. ``overlap_hint``).
    """
    got = as_array(task, got, name)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        same_shape = [m for m in mistakes if m.output is not None and m.output.shape == got.shape]
        exact = [m for m in same_shape if np.all(np.isfinite(got)) and rel_error(got, m.output) < tolerance]
        hint = (exact or same_shape or [Mistake(None, "")])[0].message or None
        text = f"{name} has shape {got.shape}, expected {expected.shape} for {case}."
        raise CheckFailed(task, text + (f"\nLikely mistake: {hint}" if hint else ""))
    if not np.all(np.isfinite(got)):
        raise CheckFailed(task, f"{name} contains NaN or infinite values for {case}.")
    err = rel_error(got, expected)
    if err < tolerance:
        return
    for mistake in mistakes:
        if (
            mistake.output is not None
            and mistake.output.shape == got.shape
            and rel_error(got, mistake.output) < tolerance
        ):
            raise CheckFailed(task, f"{name} is wrong for {case}.\nLikely mistake: {mistake.message}")
    hint = diagnose(got) if diagnose is not None else ""
    if hint:
        raise CheckFailed(task, f"{name} is wrong for {case}: relative error {err:.2e}.\nLikely mistake: {hint}")
    raise CheckFailed(task, f"{name} is wrong for {case}: relative error {err:.2e} (tolerance {tolerance:.0e}).")


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at ``x`` (float64), one entry at a time."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        plus = f(x)
        x[idx] = old - h
        minus = f(x)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad
