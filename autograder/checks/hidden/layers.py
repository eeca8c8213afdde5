"""Assignment 1's hidden cases (grader only): other shapes, settings and seeds than the visible tests use, and
the check of the short answers on kernels, which only a hidden test calls."""

from __future__ import annotations

import numpy as np

from ..common import CheckFailed
from ..layers.torch_values import tabled
from ..references import guard_module

#: Seed of the hidden cases' random inputs (each check adds its own offset, as the visible cases do).
SEED = 2

CONV_SHAPES = [
    # (N, C, H, W), (F, kh, kw), stride, padding, dilation
    ((1, 1, 6, 4), (2, 1, 1), 1, 0, 1),
    ((4, 3, 11, 13), (6, 3, 5), 2, 2, 1),
    ((2, 5, 9, 9), (3, 3, 3), 3, 1, 2),
    ((2, 2, 12, 10), (4, 4, 2), 1, 2, 3),
    ((1, 6, 7, 8), (7, 3, 3), 2, 3, 1),
    ((3, 1, 16, 5), (1, 5, 1), 1, 0, 2),
]
SIZE_CASES = [(10, 4, 3, 1, 1), (13, 3, 2, 0, 3), (6, 1, 2, 0, 1), (17, 5, 4, 2, 2), (8, 2, 2, 0, 1)]
RF_CASES = [[(5, 2, 1), (3, 2, 1), (3, 1, 1)], [(7, 2, 1), (3, 2, 1), (3, 1, 2), (1, 1, 1)], [(3, 1, 1)] * 5]
CONV1D_CASES = [(3, 12), (5, 9), (1, 4)]
POOL_CASES = [
    ((3, 2, 8, 6), 2, 1),
    ((2, 4, 10, 7), 3, 2),
    ((1, 1, 5, 10), (2, 3), (1, 2)),
    ((4, 1, 4, 4), 4, 4),
    ((2, 3, 9, 11), (3, 2), (2, 3)),
]
POOL_TIE_CASES = [((1, 2, 9, 8), 3, 3), ((3, 1, 4, 6), 2, 2)]
MATRIX_CASES = [((3, 5, 6), (2, 3, 3, 2), 2, 1), ((2, 7, 5), (1, 2, 1, 3), 1, 2)]
TRANSPOSE_CASES = [
    ((2, 4, 5, 5), (4, 3, 3, 3), 2, 1),
    ((3, 1, 3, 2), (1, 2, 4, 3), 3, 1),
    ((1, 2, 6, 6), (2, 2, 1, 1), 1, 0),
]

KERNELS = {
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
    "sharpen": np.array([[-1, -2, -1], [-2, 22, -2], [-1, -2, -1]], dtype=float) / 10,
    "box": np.ones((3, 3)) / 9,
}


def check_kernel_effects(answers: dict) -> None:
    """Each named kernel's effect, judged by applying the kernel to test patterns."""
    from ..layers.answers import KERNEL_EFFECT_OPTIONS, check_answer_format

    task = "short answers (kernels)"
    check_answer_format(answers, list(KERNELS), KERNEL_EFFECT_OPTIONS)
    for name, k in KERNELS.items():
        effect = measured_effect(k)
        if answers[name] != effect:
            raise CheckFailed(
                task,
                f"{name}: {answers[name]!r} is not what this kernel does; apply it to an image "
                "with a vertical and a horizontal edge and look at the result.",
            )


@tabled
def _conv(image: np.ndarray, k: np.ndarray) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    return F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(k)[None, None]).numpy()


def measured_effect(k: np.ndarray) -> str:
    """Classify a 3x3 kernel by its response to a vertical edge, a horizontal edge and a noisy image."""
    img = np.zeros((9, 9))
    img[:, 4:] = 1.0
    vertical = float(np.abs(_conv(img, k)).max())
    horizontal = float(np.abs(_conv(img.T.copy(), k)).max())
    if abs(k.sum()) < 1e-9:
        return "vertical edges" if vertical > horizontal else "horizontal edges"
    noise = np.random.default_rng(0).standard_normal((32, 32))
    filtered = _conv(noise, k)[0, 0]
    return "blur" if filtered.std() < noise.std() else "sharpen"


# every function here is a reference: it works for the checks, never inside student code
guard_module(globals())
