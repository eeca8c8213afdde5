"""Checks of Assignment 1's ``conv2d_backward``: ``dx``, ``dw`` and ``db`` against autograd, and against central
differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..common import (
    CheckFailed,
    Mistake,
    case_of,
    compare,
    describe_call,
    numerical_gradient,
    overlap_hint,
)
from .cases import (
    ConvCase,
    _call_conv,
    _conv_grads,
    _conv_ref,
    _crop_mistakes,
    _seed,
    conv_cases,
    run_numpy_only,
)


def _coverage_dx(c: ConvCase) -> np.ndarray:
    """How many (output position, kernel tap) pairs read each entry of x."""
    ones = ConvCase(np.ones_like(c.x), np.ones((1, *c.w.shape[1:])), np.zeros(1), c.stride, c.padding, c.dilation)
    shape = _conv_ref(ones.x, ones.w, None, c.stride, c.padding, c.dilation).shape
    return np.rint(_conv_grads(ones, np.ones(shape))[0])


def _db_mistakes(dout: np.ndarray) -> list[Mistake]:
    out = []
    for axes in [(0,), (2, 3), (0, 2), (0, 3), (1, 2, 3), (0, 1, 2, 3), (1,)]:
        out.append(
            Mistake(dout.sum(axis=axes), f"db summed over axes {axes}; sum dout over (0, 2, 3): batch and space.")
        )
    out.append(Mistake(dout.mean(axis=(0, 2, 3)), "db averaged instead of summed: db[f] = dout[:, f].sum()."))
    return out


def check_conv2d_backward(conv2d_backward: Callable, part: str, hidden: bool = False) -> None:
    """``conv2d_backward(dout, x, w, b, stride, padding, dilation)`` returns torch autograd's ``(dx, dw, db)``.

    ``part`` is ``"dx"``, ``"dw"`` or ``"db"``: each is graded on its own.
    """
    if part not in ("dx", "dw", "db"):
        raise ValueError(f"part must be dx, dw or db, got {part!r}")
    task = f"conv2d_backward ({part})"
    rng = np.random.default_rng(10 + _seed(hidden))
    cases = conv_cases(hidden)
    for index, c in enumerate(cases):
        with case_of(index, len(cases)):
            expected_shape = _conv_ref(c.x, c.w, c.b, c.stride, c.padding, c.dilation).shape
            dout = rng.standard_normal(expected_shape)
            got = _call_conv(task, conv2d_backward, c, dout.copy(), c.x.copy(), c.w.copy(), c.b.copy())
            if not isinstance(got, tuple) or len(got) != 3:
                raise CheckFailed(task, f"must return a tuple (dx, dw, db), got {type(got).__name__}")
            dx, dw, db = _conv_grads(c, dout)
            n = c.x.shape[0]
            if part == "dx":
                mistakes = [
                    Mistake(dx / n, "dx divided by the batch size: the loss is a sum, do not average."),
                    *_crop_mistakes(dx, c.padding, "dx"),
                    Mistake(
                        _flip_dx(c, dout),
                        "dx used the kernel without flipping it: the gradient w.r.t. "
                        "the input is a full convolution with the flipped kernel (or scatter-add the patches).",
                    ),
                ]
                coverage = _coverage_dx(c)
                compare(
                    task,
                    got[0],
                    dx,
                    c.describe(),
                    [m for m in mistakes if m.output is not None],
                    name="dx",
                    diagnose=lambda g, coverage=coverage, dx=dx: overlap_hint(g, dx, coverage),
                )
            elif part == "dw":
                mistakes = [
                    Mistake(
                        dw / n,
                        f"dw is off by a factor of the batch size N={n}: sum over the batch, do not "
                        "average (the loss is the sum over all outputs).",
                    ),
                    Mistake(dw * n, f"dw is off by a factor of the batch size N={n} (multiplied)."),
                    Mistake(
                        dw[:, :, ::-1, ::-1],
                        "dw is flipped spatially: dw[f, c, a, b] pairs dout with x[c, i + a, j + b], no flip.",
                    ),
                ]
                compare(task, got[1], dw, c.describe(), mistakes, name="dw")
            else:
                compare(task, got[2], db, c.describe(), _db_mistakes(dout), name="db")


def _flip_dx(c: ConvCase, dout: np.ndarray) -> np.ndarray | None:
    try:
        flipped = ConvCase(c.x, c.w[:, :, ::-1, ::-1].copy(), c.b, c.stride, c.padding, c.dilation)
        return _conv_grads(flipped, dout)[0]
    except RuntimeError:
        return None


def check_conv2d_backward_numerically(conv2d_backward: Callable) -> None:
    """Compare ``dx`` and ``dw`` with central-difference gradients on two tiny cases (teaches the method): one with
    stride 2 and padding 1, one with padding 0 and dilation 2."""
    task = "conv2d_backward (numerical gradient)"
    rng = np.random.default_rng(3)
    cases = [((2, 2, 4, 3), (2, 2, 3, 2), 2, 1, 1), ((1, 2, 5, 6), (3, 2, 2, 2), 1, 0, 2)]
    for index, (xshape, wshape, s, p, d) in enumerate(cases):
        with case_of(index, len(cases)):
            x, w, b = rng.standard_normal(xshape), rng.standard_normal(wshape), rng.standard_normal(wshape[0])
            dout = rng.standard_normal(_conv_ref(x, w, b, s, p, d).shape)

            def loss_x(xv: np.ndarray, w=w, b=b, dout=dout, s=s, p=p, d=d) -> float:
                return float((_conv_ref(xv, w, b, s, p, d) * dout).sum())

            def loss_w(wv: np.ndarray, x=x, b=b, dout=dout, s=s, p=p, d=d) -> float:
                return float((_conv_ref(x, wv, b, s, p, d) * dout).sum())

            got = run_numpy_only(task, conv2d_backward, dout, x, w, b, stride=s, padding=p, dilation=d)
            if not isinstance(got, tuple) or len(got) != 3:
                raise CheckFailed(task, f"must return a tuple (dx, dw, db), got {type(got).__name__}")
            case = f"the numerical-gradient case {describe_call(x=x, w=w, stride=s, padding=p, dilation=d)}"
            dx = numerical_gradient(loss_x, x)
            coverage = _coverage_dx(ConvCase(x, w, b, s, p, d))
            compare(
                task,
                got[0],
                dx,
                case,
                _crop_mistakes(dx, p, "dx"),
                name="dx",
                tolerance=1e-6,
                diagnose=lambda g, dx=dx, coverage=coverage: overlap_hint(g, dx, coverage, 1e-6),
            )
            compare(task, got[1], numerical_gradient(loss_w, w), case, name="dw", tolerance=1e-6)
