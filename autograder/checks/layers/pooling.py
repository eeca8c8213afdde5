"""Checks of Assignment 1's pooling: max and average pooling, forward and backward, against PyTorch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..common import (
    TOLERANCE,
    CheckFailed,
    Mistake,
    as_array,
    case_of,
    describe_call,
    overlap_hint,
)
from ..references import grader_reference
from .cases import (
    _hidden,
    _np,
    _seed,
    _t,
    compare_outputs,
    run_numpy_only,
)
from .torch_values import tabled

# Visible and hidden cases alike: windows that tile the input and windows that leave a remainder (which must be
# dropped: no padding, floor), overlapping windows (stride < kernel), and (h, w) pairs for kernel_size and stride.
POOL_CASES_VISIBLE = [
    ((1, 1, 4, 4), 2, 2),
    ((2, 3, 6, 8), 2, 2),
    ((2, 2, 8, 5), 3, 2),
    ((1, 3, 9, 9), 3, 3),
    ((2, 2, 7, 9), (2, 3), (2, 2)),
    ((1, 1, 7, 8), 3, 3),
]


#: Max pooling's cases with ties (windows whose maximum is reached more than once, as after a ReLU): small whole
#: numbers, windows that tile the input (stride = kernel_size) and a remainder that no window reads.
POOL_TIE_CASES_VISIBLE = [((2, 3, 6, 9), 2, 2)]

#: How many windows pooling has (the message of an output of the wrong size).
POOL_SIZE_RULE = (
    "the number of windows is off. There are (H - kh) // sh + 1 rows of windows and (W - kw) // sw + 1 columns "
    "(no padding; a window must fit entirely in the input)."
)


def _pool_cases(hidden: bool):
    rng = np.random.default_rng(20 + _seed(hidden))
    for shape, k, s in _hidden().POOL_CASES if hidden else POOL_CASES_VISIBLE:
        yield rng.standard_normal(shape), k, s


@grader_reference
@tabled
def _pool_ref(kind: str, x: np.ndarray, k, s, ceil_mode: bool = False) -> np.ndarray:
    import torch.nn.functional as F

    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    return _np(fn(_t(x), k, s, ceil_mode=ceil_mode))


def _pool_coverage(x: np.ndarray, k, s) -> np.ndarray:
    """How many pooling windows contain each entry of x."""
    return np.rint(_spread(np.zeros_like(x), k, s, np.ones(_pool_ref("avg", x, k, s).shape), 1.0))


@grader_reference
@tabled
def _pool_grad(kind: str, x: np.ndarray, k, s, dout: np.ndarray) -> np.ndarray:
    import torch.nn.functional as F

    xt = _t(x).requires_grad_()
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    (fn(xt, k, s) * _t(dout)).sum().backward()
    return _np(xt.grad)


@grader_reference
@tabled
def _spread(x: np.ndarray, k, s, dout: np.ndarray, scale: float) -> np.ndarray:
    """Every position of each window gets ``scale * dout`` (the gradient of a sum pool, scaled)."""
    import torch.nn.functional as F

    xt = _t(x).requires_grad_()
    kh, kw = (k, k) if isinstance(k, int) else k
    (F.avg_pool2d(xt, k, s) * kh * kw * _t(dout)).sum().backward()
    return _np(xt.grad) * scale


def check_pool2d(pool2d: Callable, kind: str, hidden: bool = False) -> None:
    """``max_pool2d`` / ``avg_pool2d(x, kernel_size, stride)`` equal PyTorch's; NumPy only."""
    task = f"{kind}_pool2d"
    cases = list(_pool_cases(hidden))
    for index, (x, k, s) in enumerate(cases):
        with case_of(index, len(cases)):
            got = run_numpy_only(task, pool2d, x.copy(), k, s)
            mistakes = []
            if s != k:
                mistakes.append(Mistake(_pool_ref(kind, x, k, k), "stride ignored (the window moved by kernel_size)."))
            other = "avg" if kind == "max" else "max"
            mistakes.append(Mistake(_pool_ref(other, x, k, s), f"this is {other}-pooling, not {kind}-pooling."))
            if isinstance(k, tuple) or isinstance(s, tuple):
                kh, kw = (k, k) if isinstance(k, int) else k
                sh, sw = (s, s) if isinstance(s, int) else s
                mistakes.append(
                    Mistake(
                        _pool_ref(kind, x, kh, sh),
                        "(h, w) pairs not handled: kernel_size and stride may be pairs (kh, kw) and (sh, sw); "
                        "the height uses the first of each, the width the second.",
                    )
                )
            mistakes.append(
                Mistake(
                    _pool_ref(kind, x, k, s, ceil_mode=True),
                    "a last, partial window was counted (ceil mode): a window must fit entirely in the input, so "
                    "there are (H - kh) // sh + 1 rows of windows, rounded down.",
                )
            )
            compare_outputs(
                task,
                got,
                _pool_ref(kind, x, k, s),
                describe_call(x=x, kernel_size=k, stride=s),
                mistakes,
                size_rule=POOL_SIZE_RULE,
            )


def check_pool2d_backward(pool2d_backward: Callable, kind: str, hidden: bool = False) -> None:
    """``max_pool2d_backward`` / ``avg_pool2d_backward(dout, x, kernel_size, stride)`` equal autograd's dx; for max
    pooling, also a right gradient where windows have tied maxima (``_check_ties``)."""
    task = f"{kind}_pool2d_backward"
    rng = np.random.default_rng(30 + _seed(hidden))
    cases = list(_pool_cases(hidden))
    ties = _tie_cases(hidden) if kind == "max" else []
    total = len(cases) + len(ties)
    for index, (x, k, s) in enumerate(cases):
        with case_of(index, total):
            dout = rng.standard_normal(_pool_ref(kind, x, k, s).shape)
            got = run_numpy_only(task, pool2d_backward, dout.copy(), x.copy(), k, s)
            kh, kw = (k, k) if isinstance(k, int) else k
            if kind == "max":
                mistakes = [
                    Mistake(
                        _spread(x, k, s, dout, 1.0),
                        "the gradient was routed to every position of the window; "
                        "only the position of the maximum (the argmax) receives dout.",
                    ),
                    Mistake(
                        _spread(x, k, s, dout, 1.0 / (kh * kw)),
                        "the gradient was spread evenly over the window "
                        "(that is average pooling); only the argmax receives dout.",
                    ),
                ]
            else:
                mistakes = [
                    Mistake(
                        _spread(x, k, s, dout, 1.0),
                        f"not divided by the window area: each of the {kh * kw} inputs of a window gets "
                        "dout / (kh * kw).",
                    ),
                    Mistake(_pool_grad("max", x, k, s, dout), "this is the gradient of max pooling."),
                ]
            expected = _pool_grad(kind, x, k, s, dout)
            coverage = _pool_coverage(x, k, s)
            compare_outputs(
                task,
                got,
                expected,
                describe_call(x=x, kernel_size=k, stride=s),
                mistakes,
                name="dx",
                diagnose=lambda g, expected=expected, coverage=coverage: overlap_hint(g, expected, coverage),
            )
    for index, (x, k, dout) in enumerate(ties, start=len(cases)):
        with case_of(index, total):
            _check_ties(task, pool2d_backward, x, k, dout)


def _tie_cases(hidden: bool) -> list[tuple[np.ndarray, int, np.ndarray]]:
    """``(x, kernel_size, dout)`` of max pooling's cases with ties (the stride is the kernel size)."""
    rng = np.random.default_rng(40 + _seed(hidden))
    out = []
    for shape, k, s in _hidden().POOL_TIE_CASES if hidden else POOL_TIE_CASES_VISIBLE:
        if s != k:
            raise ValueError(f"the windows of a case with ties tile the input: stride {s} is not kernel_size {k}")
        n, c, h, w = shape
        x = rng.integers(0, 3, shape).astype(np.float64)
        out.append((x, k, rng.standard_normal((n, c, (h - k) // k + 1, (w - k) // k + 1))))
    return out


def _check_ties(task: str, pool2d_backward: Callable, x: np.ndarray, k: int, dout: np.ndarray) -> None:
    """Max pooling's gradient where a window's maximum is reached more than once.

    There the maximum has no single derivative: PyTorch gives dout to the first maximum, ``argmax`` finds the same,
    a loop with ``>=`` the last, and CS231n's mask divided by the number of maxima shares it. Each is a right
    answer: the window's gradient reaches only its maxima, each gets a share of dout between 0 and all of it, and
    the shares add up to dout. A mask ``x == max`` without the division gives all of dout to every maximum: the
    window passes on more gradient than it received."""
    case = describe_call(x=x, kernel_size=k, stride=k) + " (x holds whole numbers: windows with tied maxima)"
    got = as_array(task, run_numpy_only(task, pool2d_backward, dout, x, k, k), "dx")
    if got.shape != x.shape:
        raise CheckFailed(task, f"dx has shape {got.shape}, expected {x.shape} for {case}.")
    if not np.all(np.isfinite(got)):
        raise CheckFailed(task, f"dx contains NaN or infinite values for {case}.")
    message = _tie_mistake(got, x, dout, k)
    if message:
        raise CheckFailed(task, f"dx is wrong for {case}.\nLikely mistake: {message}")


def _tie_mistake(got: np.ndarray, x: np.ndarray, dout: np.ndarray, k: int) -> str:
    """What is wrong with ``got`` as max pooling's dx (windows k x k that tile x from its top-left corner; the
    rest of x is read by none), or "" when it is a right answer."""
    n, c, ho, wo = dout.shape
    scale = max(float(np.abs(dout).max()), 1e-12)
    outside = got.copy()
    outside[:, :, : ho * k, : wo * k] = 0.0
    windows = got[:, :, : ho * k, : wo * k].reshape(n, c, ho, k, wo, k)
    values = x[:, :, : ho * k, : wo * k].reshape(n, c, ho, k, wo, k)
    tied = values == values.max(axis=(3, 5), keepdims=True)
    routed = dout[:, :, :, None, :, None]
    if np.abs(outside).max(initial=0.0) >= TOLERANCE * scale:
        return "dx is not zero where no window reads x (the rows and columns a window that fits does not reach)."
    if np.abs(np.where(tied, 0.0, windows)).max() >= TOLERANCE * scale:
        if np.abs(windows - routed).max() < TOLERANCE * scale:
            return (
                "the gradient was routed to every position of the window; only the position of the maximum (the "
                "argmax) receives dout."
            )
        return "a window's gradient reached positions that are not its maximum: only the maximum receives dout."
    if np.abs(windows - np.where(tied, routed, 0.0)).max() < TOLERANCE * scale and (tied.sum(axis=(3, 5)) > 1).any():
        return (
            "where a window's maximum is reached more than once (a tie), each of the tied maxima got all of dout: "
            "the window then passes on more gradient than it received. Give dout to one of them (np.argmax picks "
            "the first), or share it: divide the mask x == max by the number of maxima in the window."
        )
    share = windows / np.where(routed == 0, 1.0, routed)
    sums = windows.sum(axis=(3, 5))
    if np.abs(sums - dout).max() >= TOLERANCE * scale or share.min() < -TOLERANCE or share.max() > 1 + TOLERANCE:
        return (
            "where a window's maximum is reached more than once (a tie), its maxima must share dout: each gets a "
            "part between 0 and all of it, and the parts add up to dout (np.argmax gives all of it to the first)."
        )
    return ""
