"""Checks of Assignment 1's sizes: the output size of a convolution and the receptive field of a stack of layers,
against what PyTorch computes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..common import (
    CheckFailed,
    call_student,
    case_of,
)
from ..references import grader_reference
from .cases import (
    _hidden,
)
from .torch_values import tabled


@grader_reference
@tabled
def _torch_size(i: int, k: int, s: int, p: int, d: int) -> int | None:
    """The output length PyTorch's conv2d gives (None when the kernel does not fit): the expected answer, and with
    one setting changed, the answer of a typical mistake."""
    import torch
    import torch.nn.functional as F

    try:
        out = F.conv2d(torch.zeros(1, 1, i, 1), torch.zeros(1, 1, k, 1), stride=s, padding=(p, 0), dilation=d)
    except RuntimeError:
        return None
    return out.shape[2]


SIZE_CASES_VISIBLE = [(5, 3, 1, 0, 1), (7, 3, 2, 1, 1), (32, 5, 1, 2, 1), (9, 3, 1, 0, 2), (224, 7, 2, 3, 1)]


def check_conv_output_size(conv_output_size: Callable, hidden: bool = False) -> None:
    """``conv_output_size(i, k, s, p, d)`` equals PyTorch's output size on each case."""
    task = "conv_output_size"
    cases = _hidden().SIZE_CASES if hidden else SIZE_CASES_VISIBLE
    for index, (i, k, s, p, d) in enumerate(cases):
        with case_of(index, len(cases)):
            _check_size_case(task, conv_output_size, i, k, s, p, d)


def _check_size_case(task: str, conv_output_size: Callable, i: int, k: int, s: int, p: int, d: int) -> None:
    expected = _torch_size(i, k, s, p, d)
    got = call_student(task, conv_output_size, i, k, s, p, d)
    case = f"i={i}, k={k}, s={s}, p={p}, d={d}"
    if isinstance(got, (float, np.floating)) and float(got).is_integer():
        raise CheckFailed(task, f"return an int, not a float ({got!r}): use integer division //")
    if isinstance(got, (float, np.floating)):
        raise CheckFailed(
            task,
            f"got {got!r} for {case}, a fraction: a window must fit entirely in the padded input, so round the "
            "number of steps down with integer division //.",
        )
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        raise CheckFailed(task, f"must return an int, got {type(got).__name__} for {case}")
    if got != expected:
        raise CheckFailed(task, f"got {got} for {case}, expected {expected}.{_size_hint(got, expected, i, k, s, p, d)}")


def _size_hint(got: int, expected: int, i: int, k: int, s: int, p: int, d: int) -> str:
    """The typical mistake ``got`` is the answer of (each measured with PyTorch, one setting changed), or ""."""
    if got == _torch_size(i, k, s, p, 1) and d > 1:
        return " Likely mistake: dilation ignored; a dilated kernel spans d*(k-1)+1 pixels."
    if got == _torch_size(i, k, 1, p, d):
        return " Likely mistake: stride ignored."
    if got == _torch_size(i, k, s, 0, d):
        return " Likely mistake: padding ignored (it adds 2p to the input size)."
    if s > 1 and got == expected + 1:
        return " Likely mistake: rounding; the window must fit entirely, so round down (floor)."
    # the kernel's span off by one or more: d*k (one input pixel short per d - 1) or d*(k-1) (one more)
    if d > 1 and got == _torch_size(i - (d - 1), k, s, p, d):
        return (
            " Likely mistake: the dilated kernel was taken to span d*k pixels; its k taps are d apart, so it spans "
            "d*(k-1)+1."
        )
    if got == _torch_size(i + 1, k, s, p, d):
        return (
            " Likely mistake: off by one; the kernel spans d*(k-1)+1 pixels (not d*(k-1)), so the size is "
            "(i + 2p - d*(k-1) - 1) // s + 1."
        )
    if got == expected - 1:
        return " Likely mistake: off by one; count the first position too: (i + 2p - d*(k-1) - 1) // s + 1."
    return ""


@grader_reference
@tabled
def _rf_reference(layers: Sequence[tuple[int, int, int]]) -> int:
    """Receptive field measured with autograd on a 1-D stack of such layers (not by the formula)."""
    import torch
    import torch.nn.functional as F

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


def check_receptive_field(receptive_field: Callable, hidden: bool = False) -> None:
    """``receptive_field([(k, s, d), ...])`` equals the receptive field measured with autograd."""
    task = "receptive_field"
    cases = _hidden().RF_CASES if hidden else RF_CASES_VISIBLE
    for index, layers in enumerate(cases):
        with case_of(index, len(cases)):
            _check_rf_case(task, receptive_field, layers)


def _check_rf_case(task: str, receptive_field: Callable, layers: list[tuple[int, int, int]]) -> None:
    expected = _rf_reference(layers)
    got = call_student(task, receptive_field, list(layers))
    if isinstance(got, (float, np.floating)) and float(got).is_integer():
        got = int(got)  # a whole number of pixels, in a float (np.prod of an empty list is 1.0): the same answer
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        raise CheckFailed(
            task, f"got {got!r} for layers {layers}: the receptive field is a whole number of pixels, an int."
        )
    if got != expected:
        # the typical mistakes, measured the same way on stacks that make them: strides ignored (stride 1),
        # strides and dilation ignored, and each layer's own stride counted in its growth (dilation d * s)
        hint = ""
        if got == _rf_reference([(k, 1, d) for k, s, d in layers]):
            hint = (
                " Likely mistake: strides ignored; each layer's growth is multiplied by the product of the"
                " strides before it."
            )
        elif got == _rf_reference([(k, 1, 1) for k, s, d in layers]):
            hint = " Likely mistake: strides and dilation ignored."
        elif got == _rf_reference([(k, s, d * s) for k, s, d in layers]):
            hint = (
                " Likely mistake: the jump was multiplied by the layer's stride before its growth was added;"
                " a layer's taps are its inputs' distance apart, the jump before the layer."
            )
        raise CheckFailed(task, f"got {got} for layers {layers}, expected {expected}.{hint}")
