"""Rasterise the course's shapes (circle, square, triangle, star, cross) as boolean masks.

Every shape is described by a centre, a radius (the distance from the centre to its farthest point) and a
rotation. Every polygon here is star-shaped about its centre, so a pixel's angle picks the one edge it must
lie inside of: one vectorised pass over the bounding box per shape. ``fill_polygon`` is the general
even-odd reference the tests compare against.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

SHAPE_NAMES = ("circle", "square", "triangle", "star")


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def shape_polygon(name: str, radius: float, angle: float) -> np.ndarray:
    """Return the vertices ``(V, 2)`` as (x, y) offsets from the centre of a polygonal shape."""
    if name == "square":
        pts = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=float) / np.sqrt(2)
    elif name == "triangle":
        t = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([np.cos(t), np.sin(t)], axis=1)
    elif name == "star":
        t = np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        pts = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    elif name == "cross":
        a = 0.35
        pts = np.array(
            [[a, 1], [-a, 1], [-a, a], [-1, a], [-1, -a], [-a, -a], [-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a]]
        ) / np.hypot(1, a)
    else:
        raise ValueError(f"no polygon for shape {name!r}; polygons: square, triangle, star, cross")
    return _rotate(pts * radius, angle)


def fill_polygon(xs: np.ndarray, ys: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Return a boolean mask over the grid ``(ys, xs)`` of the points inside the polygon (even-odd rule)."""
    inside = np.zeros(np.broadcast(ys, xs).shape, dtype=bool)
    x0, y0 = vertices[:, 0], vertices[:, 1]
    x1, y1 = np.concatenate([x0[1:], x0[:1]]), np.concatenate([y0[1:], y0[:1]])
    for ax, ay, bx, by in zip(x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist()):
        if ay == by:
            continue
        crosses = (ay > ys) != (by > ys)
        x_at = ax + (ys - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (xs < x_at)
    return inside


@cache
def _unit_star(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertices of a unit-radius, unrotated shape sorted by angle, with each one's outgoing edge."""
    vertices = shape_polygon(name, 1.0, 0.0)
    angles = np.arctan2(vertices[:, 1], vertices[:, 0])
    order = np.argsort(angles)
    angles, vertices = angles[order], vertices[order]
    edges = np.roll(vertices, -1, axis=0) - vertices
    return angles, vertices[:, 0], vertices[:, 1], edges[:, 0], edges[:, 1]


def rasterize(
    name: str, size: int, cx: float, cy: float, radius: float, angle: float
) -> tuple[slice, slice, np.ndarray]:
    """Rasterise one shape into an image of ``size x size`` pixels.

    Returns:
        ``(rows, cols, mask)``: the bounding-box slices inside the image and the boolean mask over that box.
    """
    r0, r1 = max(0, int(np.floor(cy - radius)) - 1), min(size, int(np.ceil(cy + radius)) + 2)
    c0, c1 = max(0, int(np.floor(cx - radius)) - 1), min(size, int(np.ceil(cx + radius)) + 2)
    ys = (np.arange(r0, r1, dtype=np.float32) + np.float32(0.5 - cy))[:, None]
    xs = (np.arange(c0, c1, dtype=np.float32) + np.float32(0.5 - cx))[None, :]
    if name == "circle":
        return slice(r0, r1), slice(c0, c1), xs**2 + ys**2 <= radius**2
    # Rotate the pixel grid by -angle into the frame of the unit shape, then scale it by 1/radius.
    c, s = math.cos(angle) / radius, math.sin(angle) / radius
    u, v = xs * c + ys * s, ys * c - xs * s
    angles, vx, vy, ex, ey = _unit_star(name)
    k = (np.searchsorted(angles, np.arctan2(v, u), side="right") - 1) % len(angles)
    return slice(r0, r1), slice(c0, c1), ex[k] * (v - vy[k]) - ey[k] * (u - vx[k]) >= 0
