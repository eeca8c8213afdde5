"""Assignment 3's hidden cases (grader only): blocks, Inception modules, dense blocks and transitions of other
sizes, the hidden augmentation settings and seeds (the hidden test split's seed is in the hidden test cells); and
the reference of the Inception parameter count, which gives ``check_inception_params`` its expected values
(``autograder.checks.expected``)."""

from __future__ import annotations

from ..architectures.blocks import BlockCase, InceptionCase
from ..references import guard_module

BASIC = [
    BlockCase(4, 4, 1, 7, 5),
    BlockCase(6, 12, 2, 10, 7),
    BlockCase(12, 12, 2, 6, 6),
    BlockCase(5, 3, 1, 6, 9),
]
BOTTLENECK = [
    BlockCase(12, 3, 1, 7, 5),
    BlockCase(12, 4, 2, 10, 7),
    BlockCase(24, 6, 2, 6, 6),
    BlockCase(5, 2, 1, 6, 9),
]
INCEPTION = [
    InceptionCase(256, 128, 128, 192, 32, 96, 64),
    InceptionCase(480, 192, 96, 208, 16, 48, 64, True),
    InceptionCase(5, 3, 4, 7, 1, 2, 6),
    InceptionCase(6, 1, 3, 2, 5, 4, 3, True),
]
DENSE = [(5, 3, 5, 7, 6), (24, 12, 2, 4, 4), (2, 7, 3, 9, 5)]
TRANSITION = [(10, 5, 9, 7), (6, 6, 4, 4)]
#: Angles and crops (top, left, height, width, size) of the hidden geometric test, on the sample of seed 11.
GEOMETRIC = {"angles": (90.0, 7.5, -150.0), "crops": ((5, 1, 7, 9, 16), (10, 4, 14, 16, 28))}
GEOMETRIC_SAMPLE_SEED = 11
RANDOM_AUGMENT_SEEDS = range(100, 116)
RANDOM_AUGMENT_PARAMETER_SEEDS = range(2000, 2024)


def inception_reference_params(
    in_ch: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int, naive: bool = False
) -> int:
    """Parameters (weights and biases) of an Inception module: naive, or with 1x1 reductions."""
    if naive:
        return in_ch * c1 + c1 + 9 * in_ch * c3 + c3 + 25 * in_ch * c5 + c5
    return (
        in_ch * c1
        + c1
        + in_ch * c3r
        + c3r
        + 9 * c3r * c3
        + c3
        + in_ch * c5r
        + c5r
        + 25 * c5r * c5
        + c5
        + in_ch * pool_proj
        + pool_proj
    )


def _without_biases(case: InceptionCase) -> int:
    if case.naive:
        return case.in_ch * case.c1 + 9 * case.in_ch * case.c3 + 25 * case.in_ch * case.c5
    return (
        case.in_ch * case.c1
        + case.in_ch * case.c3r
        + 9 * case.c3r * case.c3
        + case.in_ch * case.c5r
        + 25 * case.c5r * case.c5
        + case.in_ch * case.pool_proj
    )


def inception_params(case: InceptionCase) -> dict[str, int]:
    """The count for ``case``, and the counts of the mistakes the checks name: biases left out, and a naive module
    counted with its reductions."""
    return {
        "expected": inception_reference_params(*case.args, naive=case.naive),
        "without_biases": _without_biases(case),
        "with_reductions": inception_reference_params(*case.args),
    }


# every function here is a reference: it works for the checks, never inside student code
guard_module(globals())
