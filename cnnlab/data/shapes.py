"""``Shapes``: multi-class semantic segmentation of textured shapes, and ``ShapesClassification``.

Each object and the background are filled with a texture drawn from one pool shared by all classes, in
random colours, so the class of a pixel can be told only from the outline of the object it lies in. A
model whose receptive field is smaller than an object cannot see that outline and fails; that is the point
the lectures make with this dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import SyntheticDataset, check_size
from .geometry import SHAPE_NAMES, rasterize
from .imaging import binomial_blur, gaussian_noise, illumination_gradient
from .textures import colorize, random_colors, texture

SHAPES_CLASSES = ("background",) + SHAPE_NAMES


@dataclass(frozen=True)
class SceneStyle:
    """Knobs of a rendered scene; radii are fractions of the image side."""

    min_objects: int = 2
    max_objects: int = 4
    min_radius: float = 0.12
    max_radius: float = 0.22
    max_overlap: float = 0.25
    noise: float = 0.04
    illumination: float = 0.5
    blur_probability: float = 0.5


def _background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    c1, c2 = random_colors(rng)
    return colorize(texture(rng, size, size, scale=size), c1, c2), (c1 + c2) / 2


def _finish(rng: np.random.Generator, img: np.ndarray, style: SceneStyle) -> torch.Tensor:
    """Apply illumination, optional blur and noise; return a float32 tensor ``[3, H, W]`` in [0, 1]."""
    size = img.shape[-1]
    img = img * illumination_gradient(rng, size, size, float(rng.uniform(0, style.illumination)))
    if rng.random() < style.blur_probability:
        img = binomial_blur(img)
    img = gaussian_noise(rng, img, float(rng.uniform(0, style.noise)))
    return torch.from_numpy(np.clip(img, 0.0, 1.0, dtype=np.float32))


def render_scene(
    rng: np.random.Generator, size: int, style: SceneStyle = SceneStyle()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render one scene: several overlapping textured shapes on a textured background.

    Returns:
        ``(image, mask)``: float32 ``[3, size, size]`` in [0, 1] and int64 ``[size, size]`` with values in
        ``0..len(SHAPE_NAMES)`` (0 is background).
    """
    img, bg_color = _background(rng, size)
    img = img.astype(np.float32)
    mask = np.zeros((size, size), dtype=np.int64)
    instances = np.zeros((size, size), dtype=np.int32)
    areas: list[int] = []
    wanted = int(rng.integers(style.min_objects, style.max_objects + 1))
    for _ in range(wanted * 6):
        if len(areas) == wanted:
            break
        cls = int(rng.integers(1, len(SHAPES_CLASSES)))
        radius = float(rng.uniform(style.min_radius, style.max_radius)) * size
        cx, cy = rng.uniform(radius * 0.8, size - radius * 0.8, size=2)
        rows, cols, shape = rasterize(SHAPES_CLASSES[cls], size, cx, cy, radius, float(rng.uniform(0, 2 * np.pi)))
        area = int(shape.sum())
        if area < 0.15 * np.pi * radius**2:
            continue
        under = instances[rows, cols][shape]
        if (under > 0).mean() > style.max_overlap:
            continue
        covered = np.bincount(under, minlength=len(areas) + 1)[1:]
        if any(c > 0.5 * a for c, a in zip(covered, areas)):
            continue
        c1, c2 = random_colors(rng, avoid=bg_color)
        h, w = shape.shape
        patch = colorize(texture(rng, h, w, scale=size), c1, c2)
        img[:, rows, cols][:, shape] = patch[:, shape]
        mask[rows, cols][shape] = cls
        instances[rows, cols][shape] = len(areas) + 1
        areas.append(area)
    return _finish(rng, img, style), torch.from_numpy(mask)


class Shapes(SyntheticDataset):
    """Semantic segmentation of textured circles, squares, triangles and stars (class 0: background).

    Args:
        split: ``"train"``, ``"val"``, ``"test"``, or None together with ``seed`` for a split of your own.
        length: number of images (defaults: 1000 train, 200 otherwise).
        size: image side in pixels, 32 to 256 (default 64).
        seed: seed of a caller-defined split (used with ``split=None``).
        transform: optional callable ``(image, mask) -> (image, mask)`` applied to every item.
        cache: keep rendered items in memory.

    Items are ``(image, mask)``: float32 ``[3, size, size]`` in [0, 1] and int64 ``[size, size]``.
    """

    dataset_key = 1
    classes = SHAPES_CLASSES
    num_classes = len(SHAPES_CLASSES)

    def __init__(
        self,
        split: str | None = "train",
        length: int | None = None,
        *,
        size: int = 64,
        seed: int | None = None,
        transform=None,
        cache: bool = False,
        style: SceneStyle = SceneStyle(),
    ) -> None:
        super().__init__(split, length, seed=seed, transform=transform, cache=cache)
        self.size = check_size(size, "Shapes")
        self.style = style

    def render(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return render_scene(rng, self.size, self.style)


class ShapesClassification(SyntheticDataset):
    """One textured shape per image on a textured background; the label is its class.

    Labels are ``0..3`` for ``ShapesClassification.classes`` (circle, square, triangle, star): there is no
    background class. Items are ``(image, label)``: float32 ``[3, size, size]`` and an int64 scalar tensor.
    """

    dataset_key = 2
    classes = SHAPE_NAMES
    num_classes = len(SHAPE_NAMES)

    def __init__(
        self,
        split: str | None = "train",
        length: int | None = None,
        *,
        size: int = 64,
        seed: int | None = None,
        transform=None,
        cache: bool = False,
    ) -> None:
        super().__init__(split, length, seed=seed, transform=transform, cache=cache)
        self.size = check_size(size, "ShapesClassification")
        self.style = SceneStyle(min_objects=1, max_objects=1, min_radius=0.2, max_radius=0.35)

    def render(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        while True:
            image, mask = render_scene(rng, self.size, self.style)
            labels = mask.unique()
            if len(labels) == 2:
                return image, torch.tensor(int(labels[1]) - 1, dtype=torch.int64)
