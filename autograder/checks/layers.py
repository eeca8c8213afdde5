"""Checks of Assignment 1 (convolution and pooling layers in NumPy), called from its test cells.

Every check compares the student's function with ``torch.nn.functional`` (float64) on many random cases:
batch 1 and more, non-square inputs and kernels, stride, padding and dilation, even and odd sizes, one
channel and many. ``hidden=True`` runs a larger, different set of cases (the hidden tests). Functions that
must be written with NumPy are run where library convolutions cannot be reached
(``autograder.checks.forbidden``); reaching one fails the task with a message that says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..verify.record import boundary, replaying
from .common import (
    CheckFailed,
    Mistake,
    as_array,
    call_student,
    case_of,
    compare,
    describe_call,
    finite,
    numerical_gradient,
    overlap_hint,
)
from .forbidden import run_without_libraries

SEED_VISIBLE, SEED_HIDDEN = 1, 2


# --------------------------------------------------------------------------------------------- helpers
def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float64, order="C", copy=True))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


@boundary
def run_numpy_only(task: str, fn: Callable, *args: object, **kwargs: object) -> object:
    """Call the student's function with library convolutions out of reach; fail the task if it reaches one."""
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
CONV_SHAPES_HIDDEN = [
    ((1, 1, 6, 4), (2, 1, 1), 1, 0, 1),
    ((4, 3, 11, 13), (6, 3, 5), 2, 2, 1),
    ((2, 5, 9, 9), (3, 3, 3), 3, 1, 2),
    ((2, 2, 12, 10), (4, 4, 2), 1, 2, 3),
    ((1, 6, 7, 8), (7, 3, 3), 2, 3, 1),
    ((3, 1, 16, 5), (1, 5, 1), 1, 0, 2),
]


def conv_cases(hidden: bool) -> list[ConvCase]:
    """The random convolution problems of the visible or the hidden tests (fixed seeds)."""
    rng = np.random.default_rng(SEED_HIDDEN if hidden else SEED_VISIBLE)
    cases = []
    for (n, c, h, w), (f, kh, kw), s, p, d in CONV_SHAPES_HIDDEN if hidden else CONV_SHAPES_VISIBLE:
        cases.append(
            ConvCase(
                rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw)), rng.standard_normal(f), s, p, d
            )
        )
    return cases


def _conv_ref(x, w, b, stride, padding, dilation) -> np.ndarray:
    bias = None if b is None else _t(b)
    return _np(F.conv2d(_t(x), _t(w), bias, stride=stride, padding=padding, dilation=dilation))


def _conv_mistakes(c: ConvCase) -> list[Mistake]:
    """Outputs of the typical wrong convolutions on this case, each with its explanation."""
    out = []

    def add(fn: Callable[[], np.ndarray], message: str) -> None:
        try:
            out.append(Mistake(fn(), message))
        except RuntimeError:  # that mistake is impossible for this case (e.g. empty output)
            pass

    add(
        lambda: _conv_ref(c.x, c.w[:, :, ::-1, ::-1], c.b, c.stride, c.padding, c.dilation),
        "the kernel is flipped: you computed a true convolution, but PyTorch's conv2d (and this assignment) "
        "is a cross-correlation, out[i, j] = sum(x[i + a, j + b] * w[a, b]) with no flip.",
    )
    if c.padding:
        add(
            lambda: _conv_ref(c.x, c.w, c.b, c.stride, 0, c.dilation),
            f"padding was ignored: pad the input with {c.padding} zeros on every side of H and W first.",
        )
    if c.stride > 1:
        add(
            lambda: _conv_ref(c.x, c.w, c.b, 1, c.padding, c.dilation),
            f"stride was ignored: move the window {c.stride} pixels at a time.",
        )
        add(
            lambda: _conv_ref(c.x[:, :, :: c.stride, :: c.stride], c.w, c.b, 1, c.padding, c.dilation),
            "the stride was applied to the input (subsampling x) instead of to the output positions.",
        )
        xp = np.pad(c.x, ((0, 0), (0, 0), (c.padding, c.padding), (c.padding, c.padding)))
        add(
            lambda: _conv_ref(xp[:, :, :: c.stride, :: c.stride], c.w, c.b, 1, 0, c.dilation),
            "the stride was applied to the padded input (subsampling it) instead of to the output positions.",
        )
    if c.dilation > 1:
        add(
            lambda: _conv_ref(c.x, c.w, c.b, c.stride, c.padding, 1),
            f"dilation was ignored: kernel taps are {c.dilation} pixels apart.",
        )
    f, ch, kh, kw = c.w.shape
    if ch > 1 or kh != kw:
        order = (
            "the im2col columns and the flattened weights are in different orders: if the columns are flattened "
            "as (kh, kw, C), flatten w the same way, w.transpose(0, 2, 3, 1).reshape(F, -1) (or build the columns "
            "as (C, kh, kw), the order of w.reshape(F, -1))."
        )
        add(
            lambda: _conv_ref(
                c.x, c.w.reshape(f, kh, kw, ch).transpose(0, 3, 1, 2), c.b, c.stride, c.padding, c.dilation
            ),
            order,
        )
        add(
            lambda: _conv_ref(
                c.x, c.w.transpose(0, 2, 3, 1).reshape(f, ch, kh, kw), c.b, c.stride, c.padding, c.dilation
            ),
            order,
        )
    add(lambda: _conv_ref(c.x, c.w, None, c.stride, c.padding, c.dilation), "the bias b was not added.")
    add(
        lambda: _conv_ref(c.x, c.w, c.b * ch * kh * kw, c.stride, c.padding, c.dilation),
        "the bias was added inside the sum, once per input channel and kernel tap: add b[f] once per output.",
    )
    add(
        lambda: _conv_ref(c.x, c.w, None, c.stride, c.padding, c.dilation) + c.b.sum(),
        "the whole bias vector was summed into every channel: out[:, f] gets only b[f].",
    )
    return out


# ------------------------------------------------------------------------------------- sizes, fields
def _out_size(i: int, k: int, s: int, p: int, d: int) -> int:
    return (i + 2 * p - d * (k - 1) - 1) // s + 1


SIZE_CASES_VISIBLE = [(5, 3, 1, 0, 1), (7, 3, 2, 1, 1), (32, 5, 1, 2, 1), (9, 3, 1, 0, 2), (224, 7, 2, 3, 1)]
SIZE_CASES_HIDDEN = [(10, 4, 3, 1, 1), (13, 3, 2, 0, 3), (6, 1, 2, 0, 1), (17, 5, 4, 2, 2), (8, 2, 2, 0, 1)]


def check_conv_output_size(conv_output_size: Callable, hidden: bool = False) -> None:
    """``conv_output_size(i, k, s, p, d)`` equals PyTorch's output size on each case."""
    task = "conv_output_size"
    cases = SIZE_CASES_HIDDEN if hidden else SIZE_CASES_VISIBLE
    for index, (i, k, s, p, d) in enumerate(cases):
        with case_of(index, len(cases)):
            _check_size_case(task, conv_output_size, i, k, s, p, d)


def _check_size_case(task: str, conv_output_size: Callable, i: int, k: int, s: int, p: int, d: int) -> None:
    expected = F.conv2d(torch.zeros(1, 1, i, i), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d).shape[-1]
    got = call_student(task, conv_output_size, i, k, s, p, d)
    if isinstance(got, float) and got.is_integer():
        raise CheckFailed(task, f"return an int, not a float ({got!r}): use integer division //")
    if not isinstance(got, (int, np.integer)):
        raise CheckFailed(task, f"must return an int, got {type(got).__name__} for i={i}, k={k}, s={s}, p={p}, d={d}")
    if got != expected:
        case = f"i={i}, k={k}, s={s}, p={p}, d={d}"
        if got == _out_size(i, k, s, p, 1) and d > 1:
            hint = " Likely mistake: dilation ignored; a dilated kernel spans d*(k-1)+1 pixels."
        elif got == _out_size(i, k, 1, p, d):
            hint = " Likely mistake: stride ignored."
        elif got == _out_size(i, k, s, 0, d):
            hint = " Likely mistake: padding ignored (it adds 2p to the input size)."
        elif got == (i + 2 * p - d * (k - 1) - 1) / s + 1 or got == round((i + 2 * p - d * (k - 1) - 1) / s) + 1:
            hint = " Likely mistake: rounding; the window must fit entirely, so round down (floor)."
        else:
            hint = ""
        raise CheckFailed(task, f"got {got} for {case}, expected {expected}.{hint}")


def _rf_reference(layers: Sequence[tuple[int, int, int]]) -> int:
    """Receptive field measured with autograd on a 1-D stack of such layers (not by the formula)."""
    total = 1
    for k, s, d in layers:
        total = total * s + d * (k - 1) + 1  # generous upper bound on the input length needed
    size = 4 * total + 8
    x = torch.zeros(1, 1, size, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = F.conv1d(y, torch.ones(1, 1, k), stride=s, dilation=d)
    y[0, 0, y.shape[-1] // 2].backward()
    nz = torch.nonzero(x.grad[0, 0])
    return int(nz.max() - nz.min() + 1)


RF_CASES_VISIBLE = [
    [(3, 1, 1)],
    [(3, 1, 1), (3, 1, 1)],
    [(3, 1, 1), (2, 2, 1), (3, 1, 1)],
    [(3, 1, 2), (3, 1, 4)],
    [(3, 2, 1), (3, 2, 1), (3, 1, 1)],
]
RF_CASES_HIDDEN = [[(5, 2, 1), (3, 2, 1), (3, 1, 1)], [(7, 2, 1), (3, 2, 1), (3, 1, 2), (1, 1, 1)], [(3, 1, 1)] * 5]


def check_receptive_field(receptive_field: Callable, hidden: bool = False) -> None:
    """``receptive_field([(k, s, d), ...])`` equals the receptive field measured with autograd."""
    task = "receptive_field"
    cases = RF_CASES_HIDDEN if hidden else RF_CASES_VISIBLE
    for index, layers in enumerate(cases):
        with case_of(index, len(cases)):
            _check_rf_case(task, receptive_field, layers)


def _rf_after_jump(layers: Sequence[tuple[int, int, int]]) -> int:
    field, jump = 1, 1
    for k, s, d in layers:
        jump *= s
        field += d * (k - 1) * jump
    return field


def _check_rf_case(task: str, receptive_field: Callable, layers: list[tuple[int, int, int]]) -> None:
    expected = _rf_reference(layers)
    got = call_student(task, receptive_field, list(layers))
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)) or got != expected:
        no_jump = 1 + sum(d * (k - 1) for k, s, d in layers)
        hint = ""
        if got == no_jump:
            hint = (
                " Likely mistake: strides ignored; each layer's growth is multiplied by the product of the"
                " strides before it."
            )
        elif got == 1 + sum(k - 1 for k, s, d in layers):
            hint = " Likely mistake: strides and dilation ignored."
        elif got == _rf_after_jump(layers):
            hint = (
                " Likely mistake: the jump was multiplied by the layer's stride before its growth was added;"
                " a layer's taps are its inputs' distance apart, the jump before the layer."
            )
        raise CheckFailed(task, f"got {got} for layers {layers}, expected {expected}.{hint}")


# ------------------------------------------------------------------------------------ 1-D warm-up
def check_conv1d_matrix(conv1d_matrix: Callable, hidden: bool = False) -> None:
    """``conv1d_matrix(w, n) @ x`` equals the valid 1-D cross-correlation of ``x`` (length n) with ``w``."""
    task = "conv1d_matrix"
    rng = np.random.default_rng(SEED_HIDDEN if hidden else SEED_VISIBLE)
    cases = [(3, 8), (3, 5), (2, 6)] if not hidden else [(3, 12), (5, 9), (1, 4)]
    for index, (k, n) in enumerate(cases):
        with case_of(index, len(cases)):
            w = rng.standard_normal(k)
            x = rng.standard_normal(n)
            m = as_array(task, run_numpy_only(task, conv1d_matrix, w, n), "the matrix")
            expected_m = np.stack(
                [_np(F.conv1d(_t(e)[None, None], _t(w)[None, None]))[0, 0] for e in np.eye(n)], axis=1
            )
            flipped = np.stack(
                [_np(F.conv1d(_t(e)[None, None], _t(w[::-1].copy())[None, None]))[0, 0] for e in np.eye(n)], 1
            )
            compare(
                task,
                m,
                expected_m,
                f"w of length {k}, n={n}",
                [
                    Mistake(flipped, "the kernel is flipped (true convolution); cross-correlation uses w as it is."),
                    Mistake(expected_m.T, "the matrix is transposed: it must have n - k + 1 rows and n columns."),
                ],
                name="the matrix",
            )
            compare(
                task,
                m @ x,
                _np(F.conv1d(_t(x)[None, None], _t(w)[None, None]))[0, 0],
                f"w of length {k}, n={n}",
                name="M @ x",
            )


# ------------------------------------------------------------------------------------ convolution
def _call_conv(task: str, fn: Callable, c: ConvCase, *arrays: np.ndarray) -> object:
    """Call ``fn(*arrays, stride=, padding=, dilation=)``; with stride 1, padding 0 and dilation 1 leave those
    out, so that the defaults the task gives (stride=1, padding=0, dilation=1) are used and checked."""
    if (c.stride, c.padding, c.dilation) == (1, 0, 1):
        return run_numpy_only(task, fn, *arrays)
    return run_numpy_only(task, fn, *arrays, stride=c.stride, padding=c.padding, dilation=c.dilation)


def _coverage_dx(c: ConvCase) -> np.ndarray:
    """How many (output position, kernel tap) pairs read each entry of x."""
    ones = ConvCase(np.ones_like(c.x), np.ones((1, *c.w.shape[1:])), np.zeros(1), c.stride, c.padding, c.dilation)
    shape = _conv_ref(ones.x, ones.w, None, c.stride, c.padding, c.dilation).shape
    return np.rint(_conv_grads(ones, np.ones(shape))[0])


def check_conv2d(conv2d: Callable, hidden: bool = False, task: str = "conv2d") -> None:
    """``conv2d(x, w, b, stride, padding, dilation)`` equals ``F.conv2d`` on every case; NumPy only."""
    cases = conv_cases(hidden)
    for index, c in enumerate(cases):
        with case_of(index, len(cases)):
            got = _call_conv(task, conv2d, c, c.x.copy(), c.w.copy(), c.b.copy())
            expected = _conv_ref(c.x, c.w, c.b, c.stride, c.padding, c.dilation)
            compare(task, got, expected, c.describe(), _conv_mistakes(c))


def check_conv2d_is_vectorized(conv2d: Callable, conv2d_naive: Callable, min_speedup: float = 4.0) -> None:
    """The vectorized ``conv2d`` is much faster than the student's own ``conv2d_naive`` (generous bound).

    Both run on the same medium case (best of three runs each); a truly vectorized version is usually 50–500
    times faster. The check only fails when ``conv2d`` is less than ``min_speedup`` times faster. The grader's
    outside replay (``autograder.verify``) checks the output again; the timing is judged in the kernel only.
    """
    task = "conv2d (vectorized)"
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3, 24, 24)), rng.standard_normal((8, 3, 3, 3)), rng.standard_normal(8)
    expected = _conv_ref(x, w, b, 1, 1, 1)
    compare(task, run_numpy_only(task, conv2d, x, w, b, stride=1, padding=1, dilation=1), expected, "the timing case")
    if replaying():
        return

    def best_time(fn: Callable) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            call_student(task, fn, x, w, b, stride=1, padding=1, dilation=1)
            times.append(time.perf_counter() - start)
        return min(times)

    fast = best_time(conv2d)
    try:
        slow = best_time(conv2d_naive)
    except CheckFailed:  # their naive version is missing or broken: compare with a plain loop instead
        slow = best_time(_loop_conv2d)
    if fast * min_speedup > slow:
        raise CheckFailed(
            task,
            f"conv2d took {fast * 1e3:.1f} ms and conv2d_naive {slow * 1e3:.1f} ms on x of shape {x.shape}: "
            f"the vectorized version must be at least {min_speedup:g} times faster. Replace the Python loops "
            "over output pixels with one matrix product (im2col) or numpy.lib.stride_tricks.",
        )


def _loop_conv2d(x, w, b, stride=1, padding=1, dilation=1):
    """A plain loop convolution, the speed baseline when the student's naive version is unusable."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, _, h, wd = xp.shape
    f, _, kh, kw = w.shape
    ho = (h - dilation * (kh - 1) - 1) // stride + 1
    wo = (wd - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[
                :,
                :,
                i * stride : i * stride + dilation * (kh - 1) + 1 : dilation,
                j * stride : j * stride + dilation * (kw - 1) + 1 : dilation,
            ]
            for k in range(f):
                out[:, k, i, j] = (patch * w[k]).sum(axis=(1, 2, 3)) + b[k]
    return out


def _conv_grads(c: ConvCase, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, w, b = _t(c.x).requires_grad_(), _t(c.w).requires_grad_(), _t(c.b).requires_grad_()
    out = F.conv2d(x, w, b, stride=c.stride, padding=c.padding, dilation=c.dilation)
    (out * _t(dout)).sum().backward()
    return _np(x.grad), _np(w.grad), _np(b.grad)


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
    rng = np.random.default_rng(10 + (SEED_HIDDEN if hidden else SEED_VISIBLE))
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


# ------------------------------------------------------------------------------------------ pooling
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
POOL_CASES_HIDDEN = [
    ((3, 2, 8, 6), 2, 1),
    ((2, 4, 10, 7), 3, 2),
    ((1, 1, 5, 10), (2, 3), (1, 2)),
    ((4, 1, 4, 4), 4, 4),
    ((2, 3, 9, 11), (3, 2), (2, 3)),
]


def _pool_cases(hidden: bool):
    rng = np.random.default_rng(20 + (SEED_HIDDEN if hidden else SEED_VISIBLE))
    for shape, k, s in POOL_CASES_HIDDEN if hidden else POOL_CASES_VISIBLE:
        yield rng.standard_normal(shape), k, s


def _pool_ref(kind: str, x: np.ndarray, k, s, ceil_mode: bool = False) -> np.ndarray:
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    return _np(fn(_t(x), k, s, ceil_mode=ceil_mode))


def _pool_coverage(x: np.ndarray, k, s) -> np.ndarray:
    """How many pooling windows contain each entry of x."""
    return np.rint(_spread(np.zeros_like(x), k, s, np.ones(_pool_ref("avg", x, k, s).shape), 1.0))


def _pool_grad(kind: str, x: np.ndarray, k, s, dout: np.ndarray) -> np.ndarray:
    xt = _t(x).requires_grad_()
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    (fn(xt, k, s) * _t(dout)).sum().backward()
    return _np(xt.grad)


def _spread(x: np.ndarray, k, s, dout: np.ndarray, scale: float) -> np.ndarray:
    """Every position of each window gets ``scale * dout`` (the gradient of a sum pool, scaled)."""
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
    rng = np.random.default_rng(30 + (SEED_HIDDEN if hidden else SEED_VISIBLE))
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


# ---------------------------------------------------------------------------- matrices and adjoints
MATRIX_CASES_VISIBLE = [
    ((1, 4, 4), (1, 1, 3, 3), 1, 0),
    ((2, 5, 4), (3, 2, 2, 3), 1, 1),
    ((1, 6, 6), (2, 1, 3, 3), 2, 0),
]
MATRIX_CASES_HIDDEN = [((3, 5, 6), (2, 3, 3, 2), 2, 1), ((2, 7, 5), (1, 2, 1, 3), 1, 2)]


def check_conv_matrix(conv_matrix: Callable, hidden: bool = False) -> None:
    """``conv_matrix(w, input_shape, stride, padding) @ x.ravel() == conv2d(x).ravel()`` (no bias)."""
    task = "conv_matrix"
    rng = np.random.default_rng(40 + (SEED_HIDDEN if hidden else SEED_VISIBLE))
    cases = MATRIX_CASES_HIDDEN if hidden else MATRIX_CASES_VISIBLE
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
            compare(
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
TRANSPOSE_CASES_HIDDEN = [
    ((2, 4, 5, 5), (4, 3, 3, 3), 2, 1),
    ((3, 1, 3, 2), (1, 2, 4, 3), 3, 1),
    ((1, 2, 6, 6), (2, 2, 1, 1), 1, 0),
]


def check_conv_transpose2d(conv_transpose2d: Callable, hidden: bool = False) -> None:
    """``conv_transpose2d(x, w, b, stride, padding)`` equals ``F.conv_transpose2d`` (w is (C_in, C_out, kh, kw))."""
    task = "conv_transpose2d"
    rng = np.random.default_rng(50 + (SEED_HIDDEN if hidden else SEED_VISIBLE))
    cases = TRANSPOSE_CASES_HIDDEN if hidden else TRANSPOSE_CASES_VISIBLE
    for index, (xshape, wshape, s, p) in enumerate(cases):
        with case_of(index, len(cases)):
            x, w, b = rng.standard_normal(xshape), rng.standard_normal(wshape), rng.standard_normal(wshape[1])
            if (s, p) == (1, 0):  # the defaults stride=1, padding=0
                got = run_numpy_only(task, conv_transpose2d, x.copy(), w.copy(), b.copy())
            else:
                got = run_numpy_only(task, conv_transpose2d, x.copy(), w.copy(), b.copy(), stride=s, padding=p)
            expected = _np(F.conv_transpose2d(_t(x), _t(w), _t(b), stride=s, padding=p))
            coverage = np.rint(
                _np(
                    F.conv_transpose2d(
                        _t(np.ones_like(x[:, :1])), _t(np.ones((1, 1, *w.shape[2:]))), stride=s, padding=p
                    )
                )
            )
            coverage = np.broadcast_to(coverage, expected.shape)
            mistakes = [
                Mistake(
                    _np(F.conv_transpose2d(_t(x), _t(w[:, :, ::-1, ::-1].copy()), _t(b), stride=s, padding=p)),
                    "the kernel is flipped.",
                ),
                Mistake(
                    _np(F.conv_transpose2d(_t(x), _t(w), _t(b), stride=s, padding=0)),
                    f"padding was not cropped: the transposed convolution removes {p} pixels from each border.",
                ),
                Mistake(_np(F.conv_transpose2d(_t(x), _t(w), None, stride=s, padding=p)), "the bias b was not added."),
                *_crop_mistakes(expected, p, "the output")[1:],
            ]
            compare(
                task,
                got,
                expected,
                describe_call(x=x, w=w, stride=s, padding=p),
                mistakes,
                diagnose=lambda g, expected=expected, coverage=coverage: overlap_hint(g, expected, coverage),
            )


def check_adjoint(conv2d: Callable, conv_transpose2d: Callable) -> None:
    """⟨conv2d(x), y⟩ = ⟨x, conv_transpose2d(y)⟩ for the student's own functions (no bias)."""
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
            if not abs(lhs - rhs) <= 1e-8 * max(abs(lhs), abs(rhs), 1.0):  # "not <=": NaN fails too
                raise CheckFailed(
                    task,
                    f"<conv2d(x), y> = {lhs:.6f} but <x, conv_transpose2d(y)> = {rhs:.6f} (stride {s}, padding {p})",
                )


# ------------------------------------------------------------------------------------- short answers
KERNEL_EFFECT_OPTIONS = ("vertical edges", "horizontal edges", "blur", "sharpen", "identity", "shift")


def check_answer_format(answers: dict, keys: Sequence[str], options: Sequence[str] | None = None) -> None:
    """The short answers are a dict with the expected keys (and, for choices, values from the options)."""
    task = "short answers"
    if not isinstance(answers, dict):
        raise CheckFailed(task, f"expected a dict, got {type(answers).__name__}")
    missing = [k for k in keys if k not in answers]
    if missing:
        raise CheckFailed(task, f"missing answers for {missing}")
    if options is not None:
        bad = {k: v for k, v in answers.items() if v not in options}
        if bad:
            raise CheckFailed(task, f"answers must be one of {list(options)}; got {bad}")


def check_kernel_effects(answers: dict) -> None:
    """Each named kernel's effect, judged by applying the kernel to test patterns."""
    task = "short answers (kernels)"
    kernels = {
        "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
        "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
        "sharpen": np.array([[-1, -2, -1], [-2, 22, -2], [-1, -2, -1]], dtype=float) / 10,
        "box": np.ones((3, 3)) / 9,
    }
    check_answer_format(answers, list(kernels), KERNEL_EFFECT_OPTIONS)
    for name, k in kernels.items():
        effect = _measured_effect(k)
        if answers[name] != effect:
            raise CheckFailed(
                task,
                f"{name}: {answers[name]!r} is not what this kernel does; apply it to an image "
                "with a vertical and a horizontal edge and look at the result.",
            )


def _measured_effect(k: np.ndarray) -> str:
    """Classify a 3x3 kernel by its response to a vertical edge, a horizontal edge and a noisy image."""
    img = np.zeros((9, 9))
    img[:, 4:] = 1.0
    kt = _t(k)[None, None]
    vertical = float(np.abs(_np(F.conv2d(_t(img)[None, None], kt))).max())
    horizontal = float(np.abs(_np(F.conv2d(_t(img.T.copy())[None, None], kt))).max())
    if abs(k.sum()) < 1e-9:
        return "vertical edges" if vertical > horizontal else "horizontal edges"
    noise = np.random.default_rng(0).standard_normal((32, 32))
    filtered = _np(F.conv2d(_t(noise)[None, None], kt))[0, 0]
    return "blur" if filtered.std() < noise.std() else "sharpen"


def check_number(task: str, got: object, expected: int, explanation: str) -> None:
    """A numeric short answer."""
    if not isinstance(got, (int, np.integer)) or got != expected:
        raise CheckFailed(task, f"{got!r} is not right. {explanation}")
