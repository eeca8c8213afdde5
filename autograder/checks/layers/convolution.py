"""Checks of Assignment 1's forward convolutions: the 1-D convolution as a matrix, ``conv2d`` against ``F.conv2d``
(with the typical wrong convolutions named), and the vectorized ``conv2d`` against the naive one."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ..common import (
    CheckFailed,
    Mistake,
    as_array,
    call_student,
    case_of,
    compare,
    replaying,
)
from .cases import (
    CONV_SIZE_RULE,
    ConvCase,
    _call_conv,
    _conv1d_matrix_ref,
    _conv1d_ref,
    _conv_ref,
    _hidden,
    _seed,
    compare_outputs,
    conv_cases,
    run_numpy_only,
)


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


def _padded_after(c: ConvCase) -> list[Mistake]:
    """The output of an input padded at the bottom and on the right only: computed only for a wrong answer
    (``compare_outputs``), so a right one costs nothing. (Padded at the top and on the left only, the output is
    the right one with fewer positions: the size hint names that, ``_size_rule``.)"""
    if not c.padding:
        return []
    p = c.padding
    xp = np.pad(c.x, ((0, 0), (0, 0), (0, p), (0, p)))
    message = (
        f"the input was padded on one side only: np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) adds p = {p} zeros "
        "above, below, on the left and on the right; (p, 0) or (0, p) pads one side."
    )
    return [Mistake(_conv_ref(xp, c.w, c.b, c.stride, 0, c.dilation), message)]


def _size_rule(c: ConvCase) -> str:
    """What an output of the wrong size whose first rows and columns are right is told (``compare_outputs``)."""
    if not c.padding:
        return CONV_SIZE_RULE
    return (
        f"{CONV_SIZE_RULE} An input padded on one side only gives these values too: np.pad(x, ((0, 0), (0, 0), "
        f"(p, p), (p, p))) adds p = {c.padding} zeros above, below, on the left and on the right."
    )


# ------------------------------------------------------------------------------------ 1-D warm-up
def check_conv1d_matrix(conv1d_matrix: Callable, hidden: bool = False) -> None:
    """``conv1d_matrix(w, n) @ x`` equals the valid 1-D cross-correlation of ``x`` (length n) with ``w``."""
    task = "conv1d_matrix"
    rng = np.random.default_rng(_seed(hidden))
    cases = [(3, 8), (3, 5), (2, 6)] if not hidden else _hidden().CONV1D_CASES
    for index, (k, n) in enumerate(cases):
        with case_of(index, len(cases)):
            w = rng.standard_normal(k)
            x = rng.standard_normal(n)
            m = as_array(task, run_numpy_only(task, conv1d_matrix, w, n), "the matrix")
            expected_m = _conv1d_matrix_ref(w, n)
            flipped = _conv1d_matrix_ref(w[::-1].copy(), n)
            compare_outputs(
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
                _conv1d_ref(x, w),
                f"w of length {k}, n={n}",
                name="M @ x",
            )


def check_conv2d(conv2d: Callable, hidden: bool = False, task: str = "conv2d") -> None:
    """``conv2d(x, w, b, stride, padding, dilation)`` equals ``F.conv2d`` on every case; NumPy only."""
    cases = conv_cases(hidden)
    for index, c in enumerate(cases):
        with case_of(index, len(cases)):
            got = _call_conv(task, conv2d, c, c.x.copy(), c.w.copy(), c.b.copy())
            expected = _conv_ref(c.x, c.w, c.b, c.stride, c.padding, c.dilation)
            compare_outputs(
                task,
                got,
                expected,
                c.describe(),
                _conv_mistakes(c),
                lazy=[lambda c=c: _padded_after(c)],
                size_rule=_size_rule(c),
            )


#: The timing case of ``check_conv2d_is_vectorized``: x (N, C, H, W) and w (F, C, kh, kw), stride 1, padding 1.
TIMING_SHAPES = ((1, 2, 64, 64), (2, 2, 3, 3))


def check_conv2d_is_vectorized(conv2d: Callable, conv2d_naive: Callable, min_speedup: float = 4.0) -> None:
    """The vectorized ``conv2d`` is much faster than the student's own ``conv2d_naive`` (generous bound).

    Both run on the same case: one image with few channels and filters and many output positions (64 x 64), so
    that what a version costs is mostly how many Python steps it takes per output position. A version with no
    Python loop over output positions is then 30 to 500 times faster than any loop over them, however the rest is
    written: an ``einsum`` without BLAS over a strided view, or a naive version that loops over positions only,
    vectorized over images and filters (where images and filters are many, those two can come within a factor
    of 3). And a "vectorized" version that still loops over positions takes at least half as long as the naive
    one. The check only fails when ``conv2d`` is less than ``min_speedup`` times faster. ``conv2d`` takes the best
    of three runs; the naive version runs once (a run slowed down by the machine only makes the check more
    lenient, and its loops are most of the check's time). The grader's outside replay (``autograder.verify``)
    checks the output again; the timing is judged in the kernel only.
    """
    task = "conv2d (vectorized)"
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(TIMING_SHAPES[0]), rng.standard_normal(TIMING_SHAPES[1])
    b = rng.standard_normal(TIMING_SHAPES[1][0])
    expected = _conv_ref(x, w, b, 1, 1, 1)
    got = run_numpy_only(task, conv2d, x, w, b, stride=1, padding=1, dilation=1)
    compare_outputs(task, got, expected, "the timing case", size_rule=CONV_SIZE_RULE)
    if replaying():
        return

    def best_time(fn: Callable, runs: int = 3) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            call_student(task, fn, x, w, b, stride=1, padding=1, dilation=1)
            times.append(time.perf_counter() - start)
        return min(times)

    fast = best_time(conv2d)
    try:
        slow = best_time(conv2d_naive, runs=1)
    except CheckFailed:  # their naive version is missing or broken: compare with a plain loop instead
        slow = best_time(_loop_baseline, runs=1)
    if fast * min_speedup > slow:
        raise CheckFailed(
            task,
            f"conv2d took {fast * 1e3:.1f} ms and conv2d_naive {slow * 1e3:.1f} ms on x of shape {x.shape}: "
            f"the vectorized version must be at least {min_speedup:g} times faster. Replace the Python loops "
            "over output pixels with one matrix product (im2col) or numpy.lib.stride_tricks.",
        )


def _loop_baseline(x, w, b, stride=1, padding=1, dilation=1):
    """The speed baseline when the student's naive version is unusable: the work of a loop over output positions
    and filters (one window product and sum each), what a naive convolution costs. It is not a convolution: every
    position reads the same window (the timing case, 3x3 with padding 1, has one output per input pixel).
    Where images or filters are many this costs less than a naive version's loops over them too: the check is then
    the more lenient; the timing case has one image and two filters."""
    f, _, kh, kw = w.shape
    window = np.ascontiguousarray(x[:, :, :kh, :kw])
    out = np.zeros((x.shape[0], f, x.shape[2] * x.shape[3]))
    for i in range(out.shape[2]):
        for k in range(f):
            out[:, k, i] = (window * w[k]).sum(axis=(1, 2, 3)) + b[k]
    return out
