"""Checks of Assignment 1's pooling: max and average pooling, forward and backward, against PyTorch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..common import (
    Mistake,
    case_of,
    compare,
    describe_call,
    overlap_hint,
)
from ..references import grader_reference
from .cases import (
    _hidden,
    _np,
    _seed,
    _t,
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
            compare(task, got, _pool_ref(kind, x, k, s), describe_call(x=x, kernel_size=k, stride=s), mistakes)


def check_pool2d_backward(pool2d_backward: Callable, kind: str, hidden: bool = False) -> None:
    """``max_pool2d_backward`` / ``avg_pool2d_backward(dout, x, kernel_size, stride)`` equal autograd's dx."""
    task = f"{kind}_pool2d_backward"
    rng = np.random.default_rng(30 + _seed(hidden))
    cases = list(_pool_cases(hidden))
    for index, (x, k, s) in enumerate(cases):
        with case_of(index, len(cases)):
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
            compare(
                task,
                got,
                expected,
                describe_call(x=x, kernel_size=k, stride=s),
                mistakes,
                name="dx",
                diagnose=lambda g, expected=expected, coverage=coverage: overlap_hint(g, expected, coverage),
            )
