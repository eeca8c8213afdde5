"""Image degradations used by the synthetic datasets: uneven illumination, blur and sensor noise."""

from __future__ import annotations

import math

import numpy as np


def illumination_gradient(rng: np.random.Generator, h: int, w: int, strength: float) -> np.ndarray:
    """Return a multiplicative field ``(h, w)`` that ramps linearly by up to ``strength`` in a random direction."""
    theta = float(rng.uniform(0, 2 * np.pi))
    ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    return 1.0 + strength * (xs * math.cos(theta) + ys * math.sin(theta))


def binomial_blur(img: np.ndarray) -> np.ndarray:
    """Blur the last two axes of ``img`` with the separable 3x3 kernel [1, 2, 1]/4 (edges replicated).

    Plain NumPy, summed in float64 in the order SciPy uses for a symmetric kernel, so the result equals
    ``scipy.ndimage.correlate1d(..., mode="nearest")`` on each axis without importing SciPy (half a second of
    every grading kernel's start-up).
    """
    return _binomial_axis(_binomial_axis(img, -2), -1)


def _binomial_axis(img: np.ndarray, axis: int) -> np.ndarray:
    """[1, 2, 1]/4 along ``axis`` with the edge values repeated, as ``correlate1d(mode="nearest")`` computes it."""
    wide = np.moveaxis(img, axis, -1).astype(np.float64)
    padded = np.concatenate([wide[..., :1], wide, wide[..., -1:]], axis=-1)
    blurred = padded[..., 1:-1] * 0.5 + (padded[..., :-2] + padded[..., 2:]) * 0.25  # SciPy's symmetric-kernel order
    return np.moveaxis(blurred.astype(img.dtype), -1, axis)


def gaussian_noise(rng: np.random.Generator, img: np.ndarray, sigma: float) -> np.ndarray:
    """Add zero-mean Gaussian noise of standard deviation ``sigma``, the same in every channel of ``[C, H, W]``."""
    return img + sigma * rng.standard_normal(size=img.shape[-2:], dtype=np.float32)
