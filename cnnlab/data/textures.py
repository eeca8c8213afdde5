"""A pool of textures shared by every class and the background of the synthetic datasets.

Three are photographs bundled with scikit-image (brick, grass, gravel); the others are procedural
(stripes, checkerboard, smooth noise, dots). A texture is a grey field in [0, 1] that ``colorize`` maps
between two colours, so colour and texture say nothing about the class of an object.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

TEXTURE_NAMES = ("brick", "grass", "gravel", "stripes", "checker", "noise", "dots")


@lru_cache(maxsize=1)
def _photo_textures() -> tuple[np.ndarray, ...]:
    """Load the bundled photographic textures at two scales, as float32 arrays in [0, 1]."""
    from skimage import data as skdata

    out = []
    for name in ("brick", "grass", "gravel"):
        img = getattr(skdata, name)().astype(np.float32)
        lo, hi = np.percentile(img, (2, 98))
        img = np.clip((img - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
        out.append(img)
        out.append(img.reshape(256, 2, 256, 2).mean(axis=(1, 3)))
    return tuple(out)


def _bilinear_upsample(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    gh, gw = grid.shape
    ys = np.linspace(0, gh - 1, h, dtype=np.float32)
    xs = np.linspace(0, gw - 1, w, dtype=np.float32)
    y0 = np.minimum(ys.astype(int), gh - 2)
    x0 = np.minimum(xs.astype(int), gw - 2)
    fy = (ys - y0.astype(np.float32))[:, None]
    fx = (xs - x0.astype(np.float32))[None, :]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def texture(rng: np.random.Generator, h: int, w: int, scale: float = 64.0) -> np.ndarray:
    """Return a random grey texture of shape ``(h, w)`` in [0, 1].

    ``scale`` is the side of the image the texture belongs to, so periods scale with the image.
    """
    kind = int(rng.integers(len(TEXTURE_NAMES)))
    if kind < 3:
        photos = _photo_textures()
        src = photos[2 * kind + int(rng.integers(2))]
        top = int(rng.integers(0, src.shape[0] - h + 1))
        left = int(rng.integers(0, src.shape[1] - w + 1))
        return src[top : top + h, left : left + w]
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    theta = float(rng.uniform(0, np.pi))
    proj = xx * math.cos(theta) + yy * math.sin(theta)
    if kind == 3:  # stripes
        period = float(rng.uniform(0.05, 0.15)) * scale
        return 0.5 + 0.5 * np.sin(proj * np.float32(2 * np.pi / period) + np.float32(rng.uniform(0, 2 * np.pi)))
    if kind == 4:  # checkerboard
        period = float(rng.uniform(0.06, 0.16)) * scale
        other = -xx * math.sin(theta) + yy * math.cos(theta)
        return ((np.floor(proj / period) + np.floor(other / period)) % 2).astype(np.float32)
    if kind == 5:  # smooth value noise
        cells = int(rng.integers(3, 9))
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        return _bilinear_upsample(grid, h, w)
    # dots on a regular, slightly jittered lattice
    period = float(rng.uniform(0.08, 0.16)) * scale
    radius = period * float(rng.uniform(0.2, 0.4))
    fx = (xx + float(rng.uniform(0, period))) % period - period / 2
    fy = (yy + float(rng.uniform(0, period))) % period - period / 2
    return (fx**2 + fy**2 <= radius**2).astype(np.float32)


def random_colors(
    rng: np.random.Generator, avoid: np.ndarray | None = None, min_distance: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Pick the two end colours of a texture, with their mean at least ``min_distance`` from ``avoid``."""
    for _ in range(20):
        c1 = rng.random(3).astype(np.float32)
        direction = rng.normal(size=3).astype(np.float32)
        direction *= float(rng.uniform(0.2, 0.6)) / (math.sqrt(float(direction @ direction)) + 1e-6)
        c2 = np.clip(c1 + direction, 0.0, 1.0)
        if avoid is None:
            break
        gap = (c1 + c2) / 2 - avoid
        if float(gap @ gap) >= min_distance**2:
            break
    return c1, c2


def colorize(t: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Map a grey texture ``(h, w)`` to RGB ``(3, h, w)`` between colours ``c1`` and ``c2``."""
    return c1[:, None, None] + (c2 - c1)[:, None, None] * t[None]
