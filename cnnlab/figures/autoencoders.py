"""Figures of lecture 05 (autoencoders): the codes in two dimensions, denoising side by side, and where a small
network keeps its parameters.

Every function draws one figure and returns it; none calls ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..plotting import to_numpy_image


def code_projection(
    xy: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    brightness: torch.Tensor | np.ndarray,
    classes: Sequence[str],
) -> Figure:
    """Scatter 2-D projections of codes twice: coloured by class (left) and by the images' mean brightness (right).

    Args:
        xy: ``[N, 2]`` coordinates, for example the first two principal components of the codes.
        labels: ``[N]`` class indices into ``classes``.
        brightness: ``[N]`` mean brightness of each image.
        classes: the class names, in label order.
    """
    xy, labels, brightness = (np.asarray(v) for v in (xy, labels, brightness))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for k, name in enumerate(classes):
        chosen = labels == k
        axes[0].scatter(xy[chosen, 0], xy[chosen, 1], s=8, label=name, alpha=0.7)
    axes[0].legend(fontsize=8)
    axes[0].set_title("codes (PCA), coloured by class", fontsize=10)
    points = axes[1].scatter(xy[:, 0], xy[:, 1], s=8, c=brightness, cmap="viridis")
    fig.colorbar(points, ax=axes[1], label="mean brightness")
    axes[1].set_title("the same codes, coloured by brightness", fontsize=10)
    for ax in axes:
        ax.set_xlabel("first principal component")
        ax.set_ylabel("second principal component")
    fig.tight_layout()
    return fig


def image_rows(rows: Mapping[str, Sequence[torch.Tensor | np.ndarray]], titles: Sequence[str] | None = None) -> Figure:
    """Show images in labelled rows: ``rows`` maps a row label (drawn on the left) to its images, all rows equally
    long; ``titles`` optionally names the columns. Grey images (one channel) are drawn in grey, clipped to [0, 1].
    """
    labels = list(rows)
    ncols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(labels), ncols, figsize=(1.9 * ncols + 0.8, 1.9 * len(labels)), squeeze=False)
    for r, label in enumerate(labels):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c >= len(rows[label]):
                continue
            image = np.clip(to_numpy_image(rows[label][c]), 0.0, 1.0)
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            if r == 0 and titles is not None:
                ax.set_title(titles[c], fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=9)
    fig.tight_layout()
    return fig


def parameter_shares(parts: Mapping[str, Mapping[str, int]]) -> Figure:
    """Stacked horizontal bars: for each model (outer key) the number of parameters of each of its parts.

    ``parts`` maps a model's name to an ordered mapping of part name to parameter count; the parts should be
    the same for every model so that the colours match.
    """
    models = list(parts)
    part_names = list(next(iter(parts.values())))
    fig, ax = plt.subplots(figsize=(9, 0.7 * len(models) + 1.4))
    left = np.zeros(len(models))
    colors = plt.cm.tab10(np.arange(len(part_names)))
    for name, color in zip(part_names, colors):
        counts = np.array([parts[m].get(name, 0) for m in models], dtype=float)
        ax.barh(models, counts, left=left, color=color, label=name)
        for y, (start, count) in enumerate(zip(left, counts)):
            total = sum(parts[models[y]].values())
            if count / total > 0.06:
                ax.text(start + count / 2, y, f"{count / total:.0%}", ha="center", va="center", fontsize=8)
        left += counts
    ax.set_xlabel("parameters")
    ax.legend(fontsize=8, ncol=min(len(part_names), 4), loc="upper center", bbox_to_anchor=(0.5, -0.35))
    fig.tight_layout()
    return fig
