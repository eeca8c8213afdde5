"""Checks of Assignment 1's convolution as a matrix product, its transposed convolution, and the adjoint identity
that joins the two."""

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
    finite,
    overlap_hint,
)
from .cases import (
    _conv_ref,
    _crop_mistakes,
    _hidden,
    _seed,
    _transpose_ref,
    compare_outputs,
    run_numpy_only,
)

MATRIX_CASES_VISIBLE = [
    ((1, 4, 4), (1, 1, 3, 3), 1, 0),
    ((2, 5, 4), (3, 2, 2, 3), 1, 1),
    ((1, 6, 6), (2, 1, 3, 3), 2, 0),
]


def check_conv_matrix(conv_matrix: Callable, hidden: bool = False) -> None:
    """``conv_matrix(w, input_shape, stride, padding) @ x.ravel() == conv2d(x).ravel()`` (no bias)."""
    task = "conv_matrix"
    rng = np.random.default_rng(40 + _seed(hidden))
    cases = _hidden().MATRIX_CASES if hidden else MATRIX_CASES_VISIBLE
    for index, ((c, h, wd), wshape, s, p) in enumerate(cases):
        with case_of(index, len(cases)):
            w = rng.standard_normal(wshape)
            if (s, p) == (1, 0):  # the defaults stride=1, padding=0
                m = as_array(task, run_numpy_only(task, conv_matrix, w.copy(), (c, h, wd)), "M")
            else:
                m = as_array(task, run_numpy_only(task, conv_matrix, w.copy(), (c, h, wd), stride=s, padding=p), "M")
            basis = np.eye(c * h * wd).reshape(-1, 1, c, h, wd)[:, 0]
            expected = _conv_ref(basis, w, None, s, p, 1).reshape(c * h * wd, -1).T
            flipped = _conv_ref(basis, w[:, :, ::-1, ::-1], None, s, p, 1).reshape(c * h * wd, -1).T
            case = describe_call(w=w, input_shape=(c, h, wd), stride=s, padding=p)
            compare_outputs(
                task,
                m,
                expected,
                case,
                [
                    Mistake(flipped, "the kernel is flipped (true convolution)."),
                    Mistake(expected.T, "M is transposed: rows are outputs, columns inputs."),
                ],
                name="M",
            )


TRANSPOSE_CASES_VISIBLE = [
    ((1, 1, 2, 2), (1, 1, 3, 3), 2, 0),
    ((2, 3, 4, 3), (3, 2, 3, 3), 1, 1),
    ((1, 2, 3, 4), (2, 4, 2, 2), 2, 0),
    ((2, 2, 3, 3), (2, 3, 2, 2), 1, 0),
]


def check_conv_transpose2d(conv_transpose2d: Callable, hidden: bool = False) -> None:
    """``conv_transpose2d(x, w, b, stride, padding)`` equals ``F.conv_transpose2d`` (w is (C_in, C_out, kh, kw))."""
    task = "conv_transpose2d"
    rng = np.random.default_rng(50 + _seed(hidden))
    cases = _hidden().TRANSPOSE_CASES if hidden else TRANSPOSE_CASES_VISIBLE
    for index, (xshape, wshape, s, p) in enumerate(cases):
        with case_of(index, len(cases)):
            x, w, b = rng.standard_normal(xshape), rng.standard_normal(wshape), rng.standard_normal(wshape[1])
            if (s, p) == (1, 0):  # the defaults stride=1, padding=0
                got = run_numpy_only(task, conv_transpose2d, x.copy(), w.copy(), b.copy())
            else:
                got = run_numpy_only(task, conv_transpose2d, x.copy(), w.copy(), b.copy(), stride=s, padding=p)
            expected = _transpose_ref(x, w, b, s, p)
            coverage = np.rint(_transpose_ref(np.ones_like(x[:, :1]), np.ones((1, 1, *w.shape[2:])), None, s, p))
            coverage = np.broadcast_to(coverage, expected.shape)
            mistakes = [
                Mistake(
                    _transpose_ref(x, w[:, :, ::-1, ::-1].copy(), b, s, p),
                    "the kernel is flipped.",
                ),
                Mistake(
                    _transpose_ref(x, w, b, s, 0),
                    f"padding was not cropped: the transposed convolution removes {p} pixels from each border.",
                ),
                Mistake(_transpose_ref(x, w, None, s, p), "the bias b was not added."),
                *_crop_mistakes(expected, p, "the output")[1:],
            ]
            compare_outputs(
                task,
                got,
                expected,
                describe_call(x=x, w=w, stride=s, padding=p),
                mistakes,
                diagnose=lambda g, expected=expected, coverage=coverage: overlap_hint(g, expected, coverage),
                size_rule="the output size is off. Along each axis it is (H - 1) * s - 2p + k: the stamps span "
                "(H - 1) * s + k pixels, and p are cropped from each border.",
            )


def check_adjoint(conv2d: Callable, conv_transpose2d: Callable) -> None:
    """⟨conv2d(x), y⟩ = ⟨x, conv_transpose2d(y)⟩ for the student's own functions (no bias).

    The two sides must agree to the assignment's tolerance (``TOLERANCE``, relative), the accuracy every output is
    held to: functions right to that accuracy (computed in float32, say) satisfy the identity to it, and a
    transposed convolution that is not the adjoint misses it by far more (a flipped kernel, a wrong crop or stride:
    a relative difference of 1e-2 or more)."""
    task = "adjoint identity"
    rng = np.random.default_rng(60)
    cases = [(1, 0), (2, 1)]
    for index, (s, p) in enumerate(cases):
        with case_of(index, len(cases)):
            x, w = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3))
            out = as_array(task, run_numpy_only(task, conv2d, x, w, np.zeros(4), stride=s, padding=p, dilation=1))
            y = rng.standard_normal(out.shape)
            back = as_array(task, run_numpy_only(task, conv_transpose2d, y, w, np.zeros(3), stride=s, padding=p))
            if back.shape != x.shape:
                raise CheckFailed(task, f"conv_transpose2d(y) has shape {back.shape}; it must match x, {x.shape}")
            if not finite(out) or not finite(back):
                raise CheckFailed(
                    task, f"conv2d(x) or conv_transpose2d(y) contains NaN or infinite values (stride {s}, padding {p})"
                )
            lhs, rhs = float((out * y).sum()), float((x * back).sum())
            if not abs(lhs - rhs) <= TOLERANCE * max(abs(lhs), abs(rhs), 1.0):  # "not <=": NaN fails too
                raise CheckFailed(
                    task,
                    f"<conv2d(x), y> = {lhs:.6f} but <x, conv_transpose2d(y)> = {rhs:.6f} (stride {s}, padding {p})",
                )
