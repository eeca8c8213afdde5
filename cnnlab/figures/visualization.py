"""Figures of lecture 03 (what a CNN sees): the favourite patches of filters, class-maximising images, saliency
maps next to the objects, and a photograph through the network (a scale sweep and its feature maps).

Every function draws one figure and returns it; none calls ``plt.show()``. None computes a visualisation: the
patches, images and maps are computed in the lecture (with ``cnnlab.feature_visualization``) and handed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..plotting import to_numpy_image


def _bare(axes) -> None:
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])


def patch_rows(rows: Sequence[tuple[str, Sequence[str], Sequence[Sequence[torch.Tensor]]]]) -> Figure:
    """A grid of patches: one row per ``(row label, [group titles], [[patch, ...] per group])``.

    Lecture 03 draws one row per layer and, in it, two filters' top patches side by side.
    """
    ncols = max(sum(len(group) for group in groups) for _, _, groups in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.08 * ncols, 1.35 * len(rows)), squeeze=False)
    for r, (label, titles, groups) in enumerate(rows):
        col = 0
        for title, patches in zip(titles, groups):
            for k, patch in enumerate(patches):
                axes[r, col].imshow(to_numpy_image(patch), interpolation="nearest")
                if k == 0:
                    axes[r, col].set_title(title, fontsize=8, loc="left")
                col += 1
        axes[r, 0].set_ylabel(label, fontsize=9)
    _bare(axes)
    fig.tight_layout()
    return fig


def image_grid(
    images: Mapping[str, torch.Tensor], row_labels: Sequence[str], captions: Mapping[str, Sequence[str]]
) -> Figure:
    """One column per entry of ``images`` (a batch, one image per row), titled by its key, each image captioned."""
    nrows, ncols = len(row_labels), len(images)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.1 * ncols, 2.25 * nrows), squeeze=False)
    for col, (name, batch) in enumerate(images.items()):
        axes[0, col].set_title(name)
        for k in range(nrows):
            axes[k, col].imshow(to_numpy_image(batch[k]))
            axes[k, col].set_xlabel(captions[name][k], fontsize=8)
    for k, label in enumerate(row_labels):
        axes[k, 0].set_ylabel(label)
    _bare(axes)
    fig.tight_layout()
    return fig


def maps_under_images(
    images: torch.Tensor,
    masks: torch.Tensor,
    titles: Sequence[str],
    maps: Mapping[str, torch.Tensor],
    count: int = 6,
) -> Figure:
    """The first ``count`` images with their object's outline, and below each one row per heat map of ``maps``."""
    fig, axes = plt.subplots(1 + len(maps), count, figsize=(1.85 * count, 1.87 * (1 + len(maps))), squeeze=False)
    for c in range(count):
        axes[0, c].imshow(to_numpy_image(images[c]))
        axes[0, c].contour(np.asarray(masks[c], dtype=float), levels=[0.5], colors="white", linewidths=0.8)
        axes[0, c].set_title(titles[c], fontsize=9)
        for r, heat in enumerate(maps.values(), start=1):
            axes[r, c].imshow(np.asarray(heat[c]), cmap="magma")
    for r, name in enumerate(["image + outline", *maps]):
        axes[r, 0].set_ylabel(name, fontsize=9)
    _bare(axes)
    fig.tight_layout()
    return fig


def scale_sweep(
    photo: np.ndarray,
    outline: np.ndarray,
    sizes: Sequence[float],
    shares: Mapping[float, Sequence[float]],
    classes: Sequence[str],
    band: tuple[float, float],
) -> Figure:
    """Left: ``photo`` with the outline of ``outline`` (a mask); right: the share of objects given each class at
    each size of ``sizes`` (``shares[size][k]``), with ``band`` (the sizes seen in training) shaded."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1.4]})
    left.imshow(photo, cmap="gray")
    left.contour(np.asarray(outline, dtype=float), levels=[0.5], colors="orange", linewidths=0.8)
    left.set_title("the photograph and the segmented objects", fontsize=9)
    left.axis("off")
    right.axvspan(*band, color="0.9", label="sizes seen in training")
    for k, name in enumerate(classes):
        right.plot(list(sizes), [float(shares[s][k]) for s in sizes], "o-", label=name)
    right.set_xlabel("median object diameter after resizing (px)")
    right.set_ylabel("share of the objects")
    right.legend(fontsize=8, ncols=2, loc="center right")
    fig.tight_layout()
    return fig


def feature_map_grid(columns: Sequence[Sequence[tuple[str, torch.Tensor | np.ndarray, str]]]) -> Figure:
    """One column per entry of ``columns``, each a list of ``(title, 2-D map, colormap)`` panels drawn top to bottom."""
    nrows = max(len(panels) for panels in columns)
    fig, axes = plt.subplots(nrows, len(columns), figsize=(2.6 * len(columns), 2.6 * nrows), squeeze=False)
    for col, panels in enumerate(columns):
        for row, (title, image, cmap) in enumerate(panels):
            axes[row, col].imshow(np.asarray(image, dtype=float), cmap=cmap)
            axes[row, col].set_title(title, fontsize=8)
    _bare(axes)
    fig.tight_layout()
    return fig
