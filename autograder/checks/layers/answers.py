"""Checks of Assignment 1's short answers: their format, the kernels' effects (a hidden test) and numbers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..common import (
    CheckFailed,
)
from .cases import (
    _hidden,
)

KERNEL_EFFECT_OPTIONS = ("vertical edges", "horizontal edges", "blur", "sharpen", "identity", "shift")


def check_answer_format(
    answers: dict, keys: Sequence[str], options: Sequence[str] | None = None, integers: bool = False
) -> None:
    """The short answers are a dict with the expected keys (and, for choices, values from the options; with
    ``integers``, whole numbers: Python's ``int`` or NumPy's integer types, not ``bool``)."""
    task = "short answers"
    if not isinstance(answers, dict):
        raise CheckFailed(task, f"expected a dict, got {type(answers).__name__}")
    missing = [k for k in keys if k not in answers]
    if missing:
        raise CheckFailed(task, f"missing answers for {missing}")
    if integers:
        bad = {k: v for k, v in answers.items() if isinstance(v, bool) or not isinstance(v, (int, np.integer))}
        if bad:
            kinds = ", ".join(f"{k!r} is {type(v).__name__} {v!r}" for k, v in bad.items())
            raise CheckFailed(task, f"answers must be whole numbers (int): {kinds}")
    if options is not None:
        bad = {k: v for k, v in answers.items() if v not in options}
        if bad:
            raise CheckFailed(task, f"answers must be one of {list(options)}; got {bad}")


def check_kernel_effects(answers: dict) -> None:
    """Each named kernel's effect, judged by applying the kernel to test patterns (a hidden test: grader only)."""
    _hidden().check_kernel_effects(answers)


def check_number(task: str, got: object, expected: int, explanation: str) -> None:
    """A numeric short answer (an integer)."""
    if isinstance(got, (float, np.floating)) and got == expected:
        raise CheckFailed(task, f"{got!r} is the right number as a float: give the answer as an int, {expected}.")
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)) or got != expected:
        raise CheckFailed(task, f"{got!r} is not right. {explanation}")
