"""What the checks of Assignment 1 share: the seeds and the hidden cases, the random convolution problems, running
a student's function with library convolutions out of reach, and PyTorch's answers (float64)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import common
from ..common import (
    TOLERANCE,
    CheckFailed,
    Mistake,
    as_array,
    boundary,
    call_student,
    describe_call,
    grader_only,
    rel_error,
)
from ..forbidden import run_without_libraries
from ..references import grader_reference
from .torch_values import tabled

if TYPE_CHECKING:
    import torch

SEED_VISIBLE = 1


def _hidden():
    """The hidden cases (grader only)."""
    return grader_only("layers")


def _seed(hidden: bool) -> int:
    return _hidden().SEED if hidden else SEED_VISIBLE


# --------------------------------------------------------------------------------------------- helpers
@grader_reference
def _t(a: np.ndarray) -> torch.Tensor:
    import torch  # here, not above: a notebook whose answers are in the tables never imports it (torch_values)

    return torch.from_numpy(np.array(a, dtype=np.float64, order="C", copy=True))


@grader_reference
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


@boundary
def run_numpy_only(task: str, fn: Callable, *args: object, **kwargs: object) -> object:
    """Call the student's function with library convolutions out of reach; fail the task if it reaches one.

    The function gets copies of the arrays: one that wrote into its inputs (zeroing ``w``, say) would otherwise
    change what the check computes its expected answer from afterwards."""
    args = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
    kwargs = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    result, touched = call_student(task, run_without_libraries, fn, *args, **kwargs)
    if touched:
        names = ", ".join(sorted(set(touched)))
        raise CheckFailed(
            task,
            f"uses a library ({names}). This task must be written with NumPy only, so it earns no points "
            "while it calls torch, scipy, OpenCV, numpy.convolve or similar.",
        )
    return result


@dataclass(frozen=True)
class ConvCase:
    """One random convolution problem."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: int
    padding: int
    dilation: int

    def describe(self) -> str:
        return describe_call(x=self.x, w=self.w, stride=self.stride, padding=self.padding, dilation=self.dilation)


CONV_SHAPES_VISIBLE = [
    # (N, C, H, W), (F, kh, kw), stride, padding, dilation
    ((1, 1, 5, 5), (1, 3, 3), 1, 0, 1),
    ((2, 3, 7, 6), (4, 3, 3), 1, 1, 1),
    ((2, 3, 8, 9), (2, 3, 2), 2, 0, 1),
    ((1, 2, 9, 7), (3, 3, 3), 1, 0, 2),
    ((3, 4, 10, 8), (5, 2, 3), 2, 1, 1),
]


def conv_cases(hidden: bool) -> list[ConvCase]:
    """The random convolution problems of the visible or the hidden tests (fixed seeds)."""
    rng = np.random.default_rng(_seed(hidden))
    cases = []
    for (n, c, h, w), (f, kh, kw), s, p, d in _hidden().CONV_SHAPES if hidden else CONV_SHAPES_VISIBLE:
        cases.append(
            ConvCase(
                rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw)), rng.standard_normal(f), s, p, d
            )
        )
    return cases


@grader_reference
@tabled
def _conv_ref(x, w, b, stride, padding, dilation) -> np.ndarray:
    import torch.nn.functional as F

    bias = None if b is None else _t(b)
    return _np(F.conv2d(_t(x), _t(w), bias, stride=stride, padding=padding, dilation=dilation))


def _call_conv(task: str, fn: Callable, c: ConvCase, *arrays: np.ndarray) -> object:
    """Call ``fn(*arrays, stride=, padding=, dilation=)``; with stride 1, padding 0 and dilation 1 leave those
    out, so that the defaults the task gives (stride=1, padding=0, dilation=1) are used and checked."""
    if (c.stride, c.padding, c.dilation) == (1, 0, 1):
        return run_numpy_only(task, fn, *arrays)
    return run_numpy_only(task, fn, *arrays, stride=c.stride, padding=c.padding, dilation=c.dilation)


@grader_reference
@tabled
def _conv_grads(c: ConvCase, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import torch.nn.functional as F

    x, w, b = _t(c.x).requires_grad_(), _t(c.w).requires_grad_(), _t(c.b).requires_grad_()
    out = F.conv2d(x, w, b, stride=c.stride, padding=c.padding, dilation=c.dilation)
    (out * _t(dout)).sum().backward()
    return _np(x.grad), _np(w.grad), _np(b.grad)


@grader_reference
@tabled
def _conv1d_ref(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The valid 1-D cross-correlation of ``x`` with ``w``."""
    import torch.nn.functional as F

    return _np(F.conv1d(_t(x)[None, None], _t(w)[None, None]))[0, 0]


@grader_reference
@tabled
def _conv1d_matrix_ref(w: np.ndarray, n: int) -> np.ndarray:
    """The matrix of the valid 1-D cross-correlation with ``w`` of vectors of length ``n`` (its columns: the
    images of the unit vectors)."""
    return np.stack([_conv1d_ref(e, w) for e in np.eye(n)], axis=1)


@grader_reference
@tabled
def _transpose_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, padding: int) -> np.ndarray:
    """``F.conv_transpose2d`` (``w`` of shape (C_in, C_out, kh, kw))."""
    import torch.nn.functional as F

    return _np(F.conv_transpose2d(_t(x), _t(w), None if b is None else _t(b), stride=stride, padding=padding))


def _crop_mistakes(expected: np.ndarray, padding: int, name: str) -> list[Mistake]:
    """Outputs of a wrong crop of the padding: none at all, or with negative indices (empty when padding is 0)."""
    n, c, h, w = expected.shape
    out = [
        Mistake(
            np.zeros((n, c, h + 2 * padding, w + 2 * padding)),
            f"{name} still has the padding around it: crop {padding} pixels from each border, "
            f"[:, :, p : p + H, p : p + W].",
        )
    ]
    if padding == 0:
        out.append(
            Mistake(
                np.zeros((n, c, 0, 0)),
                f"{name} is empty: a crop with negative indices, [p:-p], is empty when p = 0; "
                "use [:, :, p : p + H, p : p + W].",
            )
        )
    return out


# ------------------------------------------------------------------------------- comparing with names
#: A mistake whose output is computed only when the student's answer is wrong: a function of no arguments that
#: returns the mistakes it makes on this case (none when the mistake is impossible there). The right answers of
#: the instructor's notebook never compute them, so they cost a correct notebook nothing (no PyTorch either).
LazyMistakes = Callable[[], Iterable[Mistake]]


def compare_outputs(
    task: str,
    got: object,
    expected: np.ndarray,
    case: str,
    mistakes: Sequence[Mistake] = (),
    lazy: Sequence[LazyMistakes] = (),
    name: str = "output",
    tolerance: float = TOLERANCE,
    diagnose: Callable[[np.ndarray], str] | None = None,
    size_rule: str | None = None,
) -> None:
    """``common.compare`` (looked up when called), and when ``got`` is wrong, more names for the mistake.

    Before ``compare`` names the listed ``mistakes``, these are named here: one of the ``lazy`` mistakes that
    ``got`` equals; an array of integers (values truncated when stored); the right values in the wrong shape (a
    reshape missing or too many, keepdims) or with the axes in another order (a transpose missing); and, where the
    output's size follows a rule (``size_rule``, said in the message), an output of the wrong size whose first rows
    and columns are right.
    """
    got = as_array(task, got, name)
    expected = np.asarray(expected)
    if not _wrong(got, expected, tolerance):
        return
    exact = [m for make in lazy for m in _made(make) if _equals(got, m.output, tolerance)]
    if exact:
        common.compare(task, got, expected, case, exact, name, tolerance)
    if got.shape == expected.shape and got.dtype.kind in "biu":
        raise CheckFailed(
            task,
            f"{name} is wrong for {case}.\nLikely mistake: {name} is an array of {got.dtype} (integers), so every "
            "value was truncated when it was stored: make the array you fill a float array (np.zeros(shape) is "
            "float64; np.zeros_like(a) takes the dtype of a, and dtype=int truncates).",
        )
    if got.shape != expected.shape and not any(_equals(got, m.output, tolerance) for m in mistakes):
        hint = _layout_hint(got, expected, tolerance, name)
        if not hint and size_rule:
            hint = _size_hint(got, expected, tolerance, size_rule)
        if hint:
            raise CheckFailed(
                task, f"{name} has shape {got.shape}, expected {expected.shape} for {case}.\nLikely mistake: {hint}"
            )
    common.compare(task, got, expected, case, mistakes, name, tolerance, diagnose)


def _layout_hint(got: np.ndarray, expected: np.ndarray, tolerance: float, name: str) -> str:
    """When ``got`` holds the right values in another shape: with its axes in another order (a transpose), or in
    the same order (a reshape)."""
    if got.size != expected.size or got.size == 0 or not np.all(np.isfinite(got)):
        return ""
    if got.ndim == expected.ndim and got.ndim <= 6:
        for order in itertools.permutations(range(got.ndim)):
            moved = got.transpose(order)
            if moved.shape == expected.shape and rel_error(moved, expected) < tolerance:
                return (
                    f"the values are right but the axes are in another order: {name}.transpose{order} is right. A "
                    "product such as np.tensordot or a matrix product puts the axes it keeps in its own order: "
                    "transpose them back."
                )
    if rel_error(got.reshape(expected.shape), expected) < tolerance:
        return (
            f"the values are right, in the right order, but {name} must have shape {expected.shape}: a reshape is "
            "missing or one too many (keepdims=True, or an axis of length 1 left in, gives this)."
        )
    return ""


def _wrong(got: np.ndarray, expected: np.ndarray, tolerance: float) -> bool:
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return True
    return not rel_error(got, expected) < tolerance


def _made(make: LazyMistakes) -> list[Mistake]:
    try:
        return [m for m in make() if m.output is not None]
    except RuntimeError:  # impossible for this case (PyTorch refused, e.g. a kernel larger than its input)
        return []


def _equals(got: np.ndarray, output: np.ndarray | None, tolerance: float) -> bool:
    return (
        output is not None
        and output.shape == got.shape
        and bool(np.all(np.isfinite(got)))
        and rel_error(got, output) < tolerance
    )


def _size_hint(got: np.ndarray, expected: np.ndarray, tolerance: float, rule: str) -> str:
    """When ``got`` has the expected leading axes and its top-left block (the rows and columns both have) is right:
    what is off is the number of output positions."""
    if got.ndim != expected.ndim or got.ndim < 2 or got.shape[:-2] != expected.shape[:-2] or got.size == 0:
        return ""
    rows, cols = min(got.shape[-2], expected.shape[-2]), min(got.shape[-1], expected.shape[-1])
    if rows == 0 or cols == 0 or not np.all(np.isfinite(got[..., :rows, :cols])):
        return ""
    if rel_error(got[..., :rows, :cols], expected[..., :rows, :cols]) >= tolerance:
        return ""
    return (
        f"the values it has are right, but its last two axes are {got.shape[-2]} x {got.shape[-1]} instead of "
        f"{expected.shape[-2]} x {expected.shape[-1]}: {rule}"
    )


#: How many output positions a convolution has (the message of an output of the wrong size).
CONV_SIZE_RULE = (
    "the number of output positions is off. Along each axis it is (H + 2p - d(k - 1) - 1) // s + 1: a dilated "
    "kernel spans d(k - 1) + 1 pixels, and a window must fit entirely in the padded input."
)
