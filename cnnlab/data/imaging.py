"""Image degradations used by the synthetic datasets: uneven illumination, blur and sensor noise."""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import correlate1d


def illumination_gradient(rng: np.random.Generator, h: int, w: int, strength: float) -> np.ndarray:
    """Return a multiplicative field ``(h, w)`` that ramps linearly by up to ``strength`` in a random direction."""
    theta = float(rng.uniform(0, 2 * np.pi))
    ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    return 1.0 + strength * (xs * math.cos(theta) + ys * math.sin(theta))


def binomial_blur(img: np.ndarray) -> np.ndarray:
    """Blur the last two axes of ``img`` with the separable 3x3 kernel [1, 2, 1]/4 (edges replicated)."""
    kernel = np.array([0.25, 0.5, 0.25], dtype=img.dtype)
    rows = correlate1d(img, kernel, axis=-2, mode="nearest")
    return correlate1d(rows, kernel, axis=-1, mode="nearest")


def gaussian_noise(rng: np.random.Generator, img: np.ndarray, sigma: float) -> np.ndarray:
    """Add zero-mean Gaussian noise of standard deviation ``sigma``, the same in every channel of ``[C, H, W]``."""
    return img + sigma * rng.standard_normal(size=img.shape[-2:], dtype=np.float32)
