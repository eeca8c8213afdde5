"""``Cells``: binary segmentation of touching cells in microscopy-like grey images, and the U-Net weight map.

Each scene holds elliptical cells with a textured interior and a darker or brighter membrane rim, on a
faint background, under uneven illumination, slightly blurred and noisy. Several cells touch or overlap
(later cells occlude earlier ones). As in the ISBI cell-tracking data, the binary mask separates touching
cells: every cell pixel with a 4-neighbour in a *different* cell becomes background, so two touching cells
are split by a background gap one pixel wide on each side. That gap is exactly where the U-Net paper puts
its large loss weights (``unet_weight_map``): a network that merges touching cells pays for it there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from .base import SyntheticDataset, check_size
from .imaging import binomial_blur, gaussian_noise, illumination_gradient
from .textures import _bilinear_upsample

CELLS_CLASSES = ("background", "cell")


def unet_weight_map(instances: np.ndarray, w0: float = 10.0, sigma: float = 5.0) -> np.ndarray:
    """Return the U-Net loss weight map of an instance map (Ronneberger et al., MICCAI 2015, eq. 2).

    ``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))**2 / (2 * sigma**2))``

    * ``instances``: integer ``(H, W)``; 0 is background, ``k > 0`` marks the pixels of cell ``k``.
    * ``d1(x)``, ``d2(x)``: Euclidean distances (pixel centre to pixel centre) from ``x`` to the nearest
      pixel of the nearest and of the second-nearest cell.
    * The border term ``w0 * exp(...)`` is applied on background pixels only (it is zero inside cells), and
      it is zero everywhere when the map holds fewer than two cells.
    * ``w_c`` balances the two classes of the binary mask ``instances > 0``: ``w_c(x) = N / (2 * N_c)``, with
      ``N`` the number of pixels and ``N_c`` the number of pixels of the class of ``x``. Each class then has
      the same total weight ``N / 2``. A class with no pixels is simply absent (no term, no division by 0),
      so an all-background map gets ``w_c = 0.5`` everywhere.

    Returns a float32 array of the same shape.
    """
    inst = np.asarray(instances)
    if inst.ndim != 2:
        raise ValueError(f"unet_weight_map: instances must be a 2-D (H, W) array, got shape {inst.shape}")
    if not (np.issubdtype(inst.dtype, np.integer) or inst.dtype == np.bool_):
        raise ValueError(f"unet_weight_map: instances must hold integer cell ids, got dtype {inst.dtype}")
    if sigma <= 0:
        raise ValueError(f"unet_weight_map: sigma must be positive, got {sigma}")
    foreground = inst > 0
    total = inst.size
    n_fg = int(np.count_nonzero(foreground))
    n_bg = total - n_fg
    weight = np.zeros(inst.shape, dtype=np.float32)
    if n_fg:
        weight[foreground] = total / (2.0 * n_fg)
    if n_bg:
        weight[~foreground] = total / (2.0 * n_bg)
    ids = np.unique(inst[foreground])
    if len(ids) < 2 or n_bg == 0 or w0 == 0:
        return weight
    from scipy.ndimage import distance_transform_edt  # here, not at import: most kernels never need SciPy

    d1 = np.full(inst.shape, np.inf, dtype=np.float64)
    d2 = np.full(inst.shape, np.inf, dtype=np.float64)
    for k in ids.tolist():
        d = distance_transform_edt(inst != k)
        d2 = np.minimum(d2, np.maximum(d1, d))
        d1 = np.minimum(d1, d)
    border = float(w0) * np.exp(-((d1 + d2) ** 2) / (2.0 * float(sigma) ** 2))
    weight[~foreground] += border[~foreground].astype(np.float32)
    return weight


def separation_border(instances: np.ndarray) -> np.ndarray:
    """Return a boolean ``(H, W)`` map of the cell pixels that have a 4-neighbour in a different cell."""
    inst = np.asarray(instances)
    border = np.zeros(inst.shape, dtype=bool)
    for a, b, sa, sb in (
        (inst[:, :-1], inst[:, 1:], (slice(None), slice(None, -1)), (slice(None), slice(1, None))),
        (inst[:-1, :], inst[1:, :], (slice(None, -1), slice(None)), (slice(1, None), slice(None))),
    ):
        touch = (a != b) & (a > 0) & (b > 0)
        border[sa] |= touch
        border[sb] |= touch
    return border


class CellScene(NamedTuple):
    """One rendered scene: what ``Cells.render`` returns (the public items are built from it)."""

    image: torch.Tensor  # float32 [1, H, W] in [0, 1]
    mask: torch.Tensor  # int64 [H, W], 0 background (and separating gaps), 1 cell
    instances: torch.Tensor  # int64 [H, W], 0 background, 1..K cells, before the separation
    weight: torch.Tensor | None = None  # float32 [H, W], only when weights were asked for


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth value noise in [0, 1]: a random ``(cells + 1)^2`` grid upsampled bilinearly to ``(h, w)``."""
    return _bilinear_upsample(rng.random((cells + 1, cells + 1), dtype=np.float32), h, w)


def _ray_radius(a: float, b: float, angle: float) -> float:
    """Distance from the centre of an ellipse (semi-axes ``a``, ``b``) to its edge, at ``angle`` from axis ``a``."""
    return 1.0 / math.sqrt((math.cos(angle) / a) ** 2 + (math.sin(angle) / b) ** 2)


def render_cells(rng: np.random.Generator, size: int) -> CellScene:
    """Render one scene of ``size`` x ``size`` pixels (see the module docstring); deterministic in ``rng``."""
    area_scale = (size / 128.0) ** 2
    radius_scale = math.sqrt(min(1.0, size / 128.0))  # small images get somewhat smaller cells
    wanted = max(2, round(float(rng.uniform(6, 12)) * area_scale / radius_scale**2))
    touch_probability = float(rng.uniform(0.4, 0.7))

    bg_level = float(rng.uniform(0.1, 0.3))
    img = (bg_level + 0.08 * (_smooth_noise(rng, size, size, int(rng.integers(4, 9))) - 0.5)).astype(np.float32)
    rim_delta = float(rng.uniform(0.18, 0.35)) * (1.0 if rng.random() < 0.5 else -1.0)
    rim_width = float(rng.uniform(1.5, 2.5))

    inst = np.zeros((size, size), dtype=np.int32)
    centres: list[tuple[float, float, float, float, float]] = []  # (cx, cy, a, b, theta)
    visible: list[int] = []  # pixels of each cell still visible
    for _ in range(8 * wanted):
        if len(centres) == wanted:
            break
        r = float(rng.uniform(7.0, 13.0)) * radius_scale
        a = r * float(rng.uniform(1.0, 1.35))
        b = r * float(rng.uniform(0.7, 1.0))
        theta = float(rng.uniform(0, math.pi))
        touching = bool(centres) and rng.random() < touch_probability
        if touching:  # next to an existing cell, at about the sum of the two radii along the line between them
            ox, oy, oa, ob, otheta = centres[int(rng.integers(len(centres)))]
            phi = float(rng.uniform(0, 2 * math.pi))
            gap = (_ray_radius(oa, ob, phi - otheta) + _ray_radius(a, b, phi + math.pi - theta)) * float(
                rng.uniform(0.8, 0.97)
            )
            cx, cy = ox + gap * math.cos(phi), oy + gap * math.sin(phi)
            if not (0 <= cx < size and 0 <= cy < size):
                continue
        else:
            cx, cy = (float(v) for v in rng.uniform(0, size, size=2))
        reach = max(a, b)
        x0, x1 = max(math.floor(cx - reach), 0), min(math.ceil(cx + reach) + 1, size)
        y0, y1 = max(math.floor(cy - reach), 0), min(math.ceil(cy + reach) + 1, size)
        if x0 >= x1 or y0 >= y1:
            continue
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
        c, s = math.cos(theta), math.sin(theta)
        u = dx * c + dy * s
        v = dy * c - dx * s
        q2 = (u / a) ** 2 + (v / b) ** 2
        inside = q2 <= 1.0
        n_px = int(np.count_nonzero(inside))
        if n_px < 0.35 * math.pi * a * b:  # mostly outside the image
            continue
        view = inst[y0:y1, x0:x1]
        under = view[inside]
        n_over = int(np.count_nonzero(under))
        if n_over > (0.3 if touching else 0.08) * n_px:
            continue
        covered = np.bincount(under, minlength=len(visible) + 1)[1:]
        if n_over and np.any(covered > 0.4 * np.asarray(visible)):  # would hide too much of an earlier cell
            continue

        # distance to the boundary along the ray from the centre, for the membrane rim
        ray = np.sqrt(np.divide(u * u + v * v, q2, out=np.full_like(q2, min(a, b)), where=q2 > 1e-12))
        depth = ray * (1.0 - np.sqrt(q2))
        rim = np.clip(1.0 - depth / rim_width, 0.0, 1.0)
        texture = _smooth_noise(rng, y1 - y0, x1 - x0, int(rng.integers(2, 6)))
        level = float(rng.uniform(0.45, 0.8))
        value = level + float(rng.uniform(0.08, 0.2)) * (texture - 0.5) + rim_delta * rim
        img[y0:y1, x0:x1][inside] = value[inside]
        view[inside] = len(visible) + 1
        for k, n in enumerate(covered.tolist()):
            visible[k] -= n
        visible.append(n_px)
        centres.append((cx, cy, a, b, theta))

    # drop cells that are hidden, or that would keep no pixel once touching cells are separated; renumber 1..K
    while True:
        border = separation_border(inst)
        kept = np.unique(inst[(inst > 0) & ~border])
        present = np.unique(inst[inst > 0])
        lost = np.setdiff1d(present, kept)
        if len(lost) == 0:
            break
        inst[np.isin(inst, lost)] = 0
    lut = np.zeros(len(visible) + 1, dtype=np.int32)
    lut[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
    inst = lut[inst]
    mask = (inst > 0) & ~border

    light = 1.0 + float(rng.uniform(0.1, 0.35)) * (2.0 * _smooth_noise(rng, size, size, 2) - 1.0)
    img = img * light * illumination_gradient(rng, size, size, float(rng.uniform(0.0, 0.3)))
    img = binomial_blur(img)
    img = gaussian_noise(rng, img, float(rng.uniform(0.01, 0.04)))
    image = torch.from_numpy(np.clip(img, 0.0, 1.0, dtype=np.float32)[None])
    return CellScene(image, torch.from_numpy(mask.astype(np.int64)), torch.from_numpy(inst.astype(np.int64)))


class Cells(SyntheticDataset):
    """Binary segmentation of touching cells in grey microscopy-like images (class 0: background, 1: cell).

    Args:
        split: ``"train"``, ``"val"``, ``"test"``, or None together with ``seed`` for a split of your own.
        length: number of images (defaults: 1000 train, 200 otherwise).
        size: image side in pixels, 32 to 256 (default 128; about 6 to 12 cells at 128, more on larger images).
        seed: seed of a caller-defined split (used with ``split=None``).
        transform: optional callable applied to every item, ``(image, mask) -> (image, mask)``, or
            ``(image, mask, weight) -> (image, mask, weight)`` with ``with_weights=True``.
        cache: keep rendered items in memory.
        with_weights: also return the U-Net weight map of every item (see ``unet_weight_map``).
        w0, sigma: parameters of the weight map (the paper's 10 and 5 pixels).

    Items are ``(image, mask)``: float32 ``[1, size, size]`` in [0, 1] and int64 ``[size, size]`` with
    values {0, 1}; touching cells are separated in the mask by background pixels. With ``with_weights=True``
    items are ``(image, mask, weight)``, ``weight`` a float32 ``[size, size]`` tensor computed on the
    instance map after the separation (separating pixels count as background). ``instances(index)`` gives
    the instance ids of the same scene.
    """

    dataset_key = 3
    classes = CELLS_CLASSES
    num_classes = len(CELLS_CLASSES)

    def __init__(
        self,
        split: str | None = "train",
        length: int | None = None,
        *,
        size: int = 128,
        seed: int | None = None,
        transform: Callable | None = None,
        cache: bool = False,
        with_weights: bool = False,
        w0: float = 10.0,
        sigma: float = 5.0,
    ) -> None:
        super().__init__(split, length, seed=seed, transform=transform, cache=cache)
        self.size = check_size(size, "Cells")
        if not (isinstance(w0, (int, float)) and math.isfinite(w0) and w0 >= 0):
            raise ValueError(f"Cells: w0 must be a finite number >= 0, got {w0!r}")
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"Cells: sigma must be a finite number > 0, got {sigma!r}")
        self.with_weights = bool(with_weights)
        self.w0 = float(w0)
        self.sigma = float(sigma)

    def render(self, rng: np.random.Generator) -> CellScene:
        """Render one scene from ``rng``, with its weight map when ``with_weights`` is set."""
        scene = render_cells(rng, self.size)
        if self.with_weights:
            separated = (scene.instances * scene.mask).numpy()
            scene = scene._replace(weight=torch.from_numpy(unet_weight_map(separated, self.w0, self.sigma)))
        return scene

    def scene(self, index: int) -> CellScene:
        """Return the whole rendered scene of item ``index`` (image, mask, instances and optional weight)."""
        index = self._check_index(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        scene = self.render(self.item_rng(index))
        if self._cache is not None:
            self._cache[index] = scene
        return scene

    def instances(self, index: int) -> torch.Tensor:
        """Return the int64 ``[size, size]`` instance ids of item ``index``: 0 background, 1..K cells.

        This is the map before the separation: every pixel of a cell keeps its id, so
        ``mask == (instances > 0)`` except on the separating pixels between touching cells.
        """
        if self._cache is None:  # no need to compute a weight map that would be thrown away
            return render_cells(self.item_rng(self._check_index(index)), self.size).instances
        return self.scene(index).instances

    def __getitem__(self, index: int) -> tuple:
        scene = self.scene(index)
        item = (scene.image, scene.mask) if not self.with_weights else (scene.image, scene.mask, scene.weight)
        if self.transform is not None:
            item = self.transform(*item)
        return item
