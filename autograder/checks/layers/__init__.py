"""Checks of Assignment 1 (convolution and pooling layers in NumPy), in one namespace for its test cells.

Every check compares the student's function with ``torch.nn.functional`` (float64) on many random cases:
batch 1 and more, non-square inputs and kernels, stride, padding and dilation, even and odd sizes, one
channel and many. ``hidden=True`` runs a larger, different set of cases (the hidden tests, whose cases live in the
grader-only ``autograder.checks.hidden.layers``). Functions that must be written with NumPy are run where library
convolutions cannot be reached (``autograder.checks.forbidden``); reaching one fails the task with a message that
says so.

``from autograder.checks import layers as checks`` gives the checks of the sizes and receptive fields
(``sizes``), of the forward convolutions (``convolution``), of their gradients (``gradients``), of pooling
(``pooling``), of the convolution as a matrix and the transposed convolution (``transposed``) and of the short
answers (``answers``), with the cases they share (``cases``).
"""

from .answers import KERNEL_EFFECT_OPTIONS, check_answer_format, check_kernel_effects, check_number
from .cases import CONV_SHAPES_VISIBLE, SEED_VISIBLE, ConvCase, conv_cases, run_numpy_only
from .convolution import check_conv1d_matrix, check_conv2d, check_conv2d_is_vectorized
from .gradients import check_conv2d_backward, check_conv2d_backward_numerically
from .pooling import POOL_CASES_VISIBLE, check_pool2d, check_pool2d_backward
from .sizes import RF_CASES_VISIBLE, SIZE_CASES_VISIBLE, check_conv_output_size, check_receptive_field
from .transposed import (
    MATRIX_CASES_VISIBLE,
    TRANSPOSE_CASES_VISIBLE,
    check_adjoint,
    check_conv_matrix,
    check_conv_transpose2d,
)


def fork_server_warmup() -> None:
    """Read PyTorch's recorded values once, in the grader's fork server (every kernel forked from it starts with
    them), instead of in each kernel at its first check: 800 arrays, 0.17 s of CPU."""
    from .torch_values import _entries

    _entries()


__all__ = [
    "CONV_SHAPES_VISIBLE",
    "KERNEL_EFFECT_OPTIONS",
    "MATRIX_CASES_VISIBLE",
    "POOL_CASES_VISIBLE",
    "RF_CASES_VISIBLE",
    "SEED_VISIBLE",
    "SIZE_CASES_VISIBLE",
    "TRANSPOSE_CASES_VISIBLE",
    "ConvCase",
    "check_adjoint",
    "check_answer_format",
    "check_conv1d_matrix",
    "check_conv2d",
    "check_conv2d_backward",
    "check_conv2d_backward_numerically",
    "check_conv2d_is_vectorized",
    "check_conv_matrix",
    "check_conv_output_size",
    "check_conv_transpose2d",
    "check_kernel_effects",
    "check_number",
    "check_pool2d",
    "check_pool2d_backward",
    "check_receptive_field",
    "conv_cases",
    "run_numpy_only",
]
