"""Checks of Assignment 1's ``conv2d_backward``: ``dx``, ``dw`` and ``db`` against autograd, and against central
differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..common import (
    CheckFailed,
    Mistake,
    case_of,
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
    compare_outputs,
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


#: What a dx of the wrong size whose first rows and columns are right misses (``compare_outputs``).
DX_SIZE_RULE = (
    "dx has the shape of x. The rows and columns at the bottom or on the right that no window reaches (when "
    "H + 2p - d(k - 1) - 1 is not a multiple of s) get a zero gradient, but they must be there: a transposed "
    "convolution of dout leaves them out, so pad its result with zeros to x's shape (PyTorch's output_padding)."
)


def _gradients(got: object, task: str) -> tuple:
    """The three gradients a backward pass returned: a tuple or a list of three (both unpack the same)."""
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        kind = type(got).__name__ if not isinstance(got, (tuple, list)) else f"{type(got).__name__} of {len(got)}"
        raise CheckFailed(task, f"must return a tuple (dx, dw, db), got {kind}")
    return tuple(got)


def _setting_ignored(c: ConvCase, dout: np.ndarray, part: int) -> list[Mistake]:
    """Gradients (``part`` 0: dx, 1: dw) of a backward pass that ignores the stride or the dilation: output
    position (i, j) taken to read the window at (i, j) instead of (i s, j s), or the kernel taps taken next to each
    other instead of d apart. Its loops run over dout's positions, so it is the gradient of the convolution with
    that setting at 1, with dout in the top-left corner of that convolution's larger output."""
    name = "dx" if part == 0 else "dw"
    out = []
    for stride, dilation, message in (
        (
            1,
            c.dilation,
            f"the stride was ignored in the backward pass: output position (i, j) read the window at (i * s, j * s) "
            f"of the padded input, so {name} must pair dout[..., i, j] with that window (s = {c.stride}), not with "
            "the one at (i, j).",
        ),
        (
            c.stride,
            1,
            f"the dilation was ignored in the backward pass: the kernel taps are d = {c.dilation} pixels apart, so "
            f"{name} must pair tap (a, b) with the pixel at (i * s + a * d, j * s + b * d).",
        ),
    ):
        if (stride, dilation) == (c.stride, c.dilation):
            continue
        case = ConvCase(c.x, c.w, c.b, stride, c.padding, dilation)
        larger = np.zeros(_conv_ref(c.x, c.w, c.b, stride, c.padding, dilation).shape)
        larger[:, :, : dout.shape[2], : dout.shape[3]] = dout
        out.append(Mistake(_conv_grads(case, larger)[part], message))
    return out


def _one_image(c: ConvCase, dout: np.ndarray) -> list[Mistake]:
    """dw of the first or of the last image alone: a loop over the batch that assigns (=) instead of adding."""
    n = c.x.shape[0]
    if n == 1:
        return []
    out = []
    for index, which in ((0, "first"), (n - 1, "last")):
        one = ConvCase(c.x[index : index + 1], c.w, c.b, c.stride, c.padding, c.dilation)
        out.append(
            Mistake(
                _conv_grads(one, dout[index : index + 1])[1],
                f"dw is the {which} image's contribution only: add up (+=, or sum over axis 0) the contributions "
                f"of all N = {n} images; an assignment in the loop over the batch keeps only one of them.",
            )
        )
    return out


def check_conv2d_backward(conv2d_backward: Callable, part: str, hidden: bool = False) -> None:
    """``conv2d_backward(dout, x, w, b, stride, padding, dilation)`` returns torch autograd's ``(dx, dw, db)`` (a
    tuple, or a list).

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
            got = _gradients(
                _call_conv(task, conv2d_backward, c, dout.copy(), c.x.copy(), c.w.copy(), c.b.copy()), task
            )
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
                compare_outputs(
                    task,
                    got[0],
                    dx,
                    c.describe(),
                    [m for m in mistakes if m.output is not None],
                    lazy=[lambda c=c, dout=dout: _setting_ignored(c, dout, 0)],
                    name="dx",
                    diagnose=lambda g, coverage=coverage, dx=dx: overlap_hint(g, dx, coverage),
                    size_rule=DX_SIZE_RULE,
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
                compare_outputs(
                    task,
                    got[1],
                    dw,
                    c.describe(),
                    mistakes,
                    lazy=[
                        lambda c=c, dout=dout: _setting_ignored(c, dout, 1),
                        lambda c=c, dout=dout: _one_image(c, dout),
                    ],
                    name="dw",
                )
            else:
                compare_outputs(task, got[2], db, c.describe(), _db_mistakes(dout), name="db")


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

            got = _gradients(
                run_numpy_only(task, conv2d_backward, dout, x, w, b, stride=s, padding=p, dilation=d), task
            )
            case = f"the numerical-gradient case {describe_call(x=x, w=w, stride=s, padding=p, dilation=d)}"
            dx = numerical_gradient(loss_x, x)
            coverage = _coverage_dx(ConvCase(x, w, b, s, p, d))
            compare_outputs(
                task,
                got[0],
                dx,
                case,
                _crop_mistakes(dx, p, "dx"),
                name="dx",
                tolerance=1e-6,
                diagnose=lambda g, dx=dx, coverage=coverage: overlap_hint(g, dx, coverage, 1e-6),
                size_rule=DX_SIZE_RULE,
            )
            compare_outputs(task, got[1], numerical_gradient(loss_w, w), case, name="dw", tolerance=1e-6)
