"""Figures shared by the lectures, assignments and feedback: images, masks, overlays, filters, curves.

Every function draws with matplotlib and returns the ``Figure`` so that notebooks show it and the grader
can save it; none of them calls ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

#: Background black, then distinct colours (tab10 without its grey) for classes 1, 2, ...
PALETTE = (
    np.array(
        [
            [0, 0, 0],
            [31, 119, 180],
            [255, 127, 14],
            [44, 160, 44],
            [214, 39, 40],
            [148, 103, 189],
            [140, 86, 75],
            [227, 119, 194],
            [188, 189, 34],
            [23, 190, 207],
        ],
        dtype=np.float32,
    )
    / 255.0
)
IGNORE_COLOR = np.array([1.0, 1.0, 1.0], dtype=np.float32)


def to_numpy_image(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """Return ``(H, W, 3)`` or ``(H, W)`` float numpy from an image ``[C, H, W]``, ``[H, W, C]`` or ``[H, W]``."""
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    arr = arr.astype(np.float32)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise ValueError(f"expected an image [C,H,W], [H,W,C] or [H,W] with 1 or 3 channels, got shape {arr.shape}")
    return arr


def mask_to_rgb(
    mask: torch.Tensor | np.ndarray, num_classes: int | None = None, ignore_index: int | None = 255
) -> np.ndarray:
    """Colour a class-index mask ``[H, W]`` with ``PALETTE`` (white for ``ignore_index``)."""
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"a mask must be [H, W] class indices, got shape {m.shape}")
    if np.issubdtype(m.dtype, np.floating):
        raise TypeError("a mask must hold integer class indices, got floats; use logits.argmax(dim=0) first")
    m = m.astype(np.int64)
    rgb = PALETTE[np.mod(m, len(PALETTE))]
    if ignore_index is not None:
        rgb[m == ignore_index] = IGNORE_COLOR
    return rgb


def overlay(image: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the coloured mask over the image; background (class 0) pixels keep the image."""
    img = to_numpy_image(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if m.shape != img.shape[:2]:
        raise ValueError(f"image is {img.shape[0]}x{img.shape[1]} but mask is {m.shape[0]}x{m.shape[1]}")
    colors = mask_to_rgb(m)
    out = img.copy()
    fg = m != 0
    out[fg] = (1 - alpha) * img[fg] + alpha * colors[fg]
    return np.clip(out, 0, 1)


def _legend(fig: Figure, classes: Sequence[str]) -> None:
    handles = [Patch(color=PALETTE[k % len(PALETTE)], label=name) for k, name in enumerate(classes)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(classes), 6), frameon=False)


def show_segmentation(
    images: Sequence,
    masks: Sequence,
    preds: Sequence | None = None,
    classes: Sequence[str] | None = None,
    max_items: int = 6,
) -> Figure:
    """Show images with their true masks (and predicted masks if given), one column per item."""
    n = min(len(images), max_items)
    rows = 2 if preds is None else 3
    fig, axes = plt.subplots(rows, n, figsize=(2.2 * n, 2.2 * rows + (0.4 if classes else 0)), squeeze=False)
    titles = ["image", "true mask", "predicted"]
    for j in range(n):
        axes[0, j].imshow(to_numpy_image(images[j]), cmap="gray", vmin=0, vmax=1)
        axes[1, j].imshow(mask_to_rgb(masks[j]), interpolation="nearest")
        if preds is not None:
            axes[2, j].imshow(mask_to_rgb(preds[j]), interpolation="nearest")
    for i in range(rows):
        axes[i, 0].set_ylabel(titles[i])
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    if classes:
        _legend(fig, classes)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    else:
        fig.tight_layout()
    return fig


def show_images(
    images: Sequence, titles: Sequence[str] | None = None, ncols: int = 6, size: float = 2.2, cmap: str = "gray"
) -> Figure:
    """Show images in a grid, with optional titles."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    ncols = min(ncols, max(n, 1))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            img = to_numpy_image(images[k])
            ax.imshow(img, cmap=cmap if img.ndim == 2 else None)
            if titles is not None:
                ax.set_title(titles[k], fontsize=9)
    fig.tight_layout()
    return fig


def filter_grid(weights: torch.Tensor | np.ndarray, ncols: int = 8, size: float = 1.0) -> Figure:
    """Show convolution filters ``[F, C, kh, kw]`` as a grid: RGB when C == 3, else channel 0 in grey.

    Each filter is scaled to [0, 1] on its own (matplotlib's ``Normalize`` over the filter's values) so that its
    pattern, not its magnitude, is visible.
    """
    w = weights.detach().cpu().float().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights, "f4")
    shown = w.transpose(0, 2, 3, 1) if w.shape[1] == 3 else w[:, 0]
    tiles = [np.asarray(Normalize()(f)) for f in shown]  # a constant filter: all zeros (matplotlib's choice)
    n = len(tiles)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        f = tiles[k]
        ax.imshow(f, cmap=None if f.ndim == 3 else "gray", interpolation="nearest")
    fig.tight_layout()
    return fig


def plot_history(history, metrics: Sequence[str] = ("loss",), x: str = "step") -> Figure:
    """Plot training curves from a ``cnnlab.train.History`` (one panel per metric)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3), squeeze=False)
    for ax, name in zip(axes[0], metrics):
        rows = [r for r in history.rows if name in r]
        if not rows:
            raise KeyError(f"the history has no {name!r}; it has {sorted({k for r in history.rows for k in r})}")
        ax.plot([r[x] for r in rows], [r[name] for r in rows], marker="." if len(rows) < 30 else None)
        ax.set_xlabel(x)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def class_colormap(num_classes: int) -> ListedColormap:
    """Return a matplotlib colormap matching ``PALETTE`` for ``imshow(mask, cmap=..., vmin=0, vmax=n-1)``."""
    return ListedColormap(PALETTE[np.arange(num_classes) % len(PALETTE)])
