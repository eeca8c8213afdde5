"""Figures of lecture 02b (augmentation): grids of augmented images, the rotated-face measurement, the measured
effect of augmentation and image/mask pairs for segmentation.

Each function draws what the lecture has already computed (it computes nothing the lecture asserts on) and returns
the ``Figure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from cnnlab.figures.architectures import mean_std_bars
from cnnlab.plotting import overlay


def variant_grid(variants: Mapping[str, torch.Tensor], size: float = 1.5) -> Figure:
    """One column per variant (a batch ``[N, 1, H, W]`` of grey images in [0, 1]), one row per image."""
    batches = list(variants.values())
    n = len(batches[0])
    fig, axes = plt.subplots(n, len(variants), figsize=(size * len(variants), size * n), squeeze=False)
    for col, (title, batch) in enumerate(variants.items()):
        for row in range(n):
            axes[row, col].imshow(batch[row, 0], cmap="gray", vmin=0, vmax=1)
            axes[row, col].axis("off")
        axes[0, col].set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def similarity_by_angle(angles: Sequence[float], mean: Sequence[float], std: Sequence[float], ylabel: str) -> Figure:
    """A curve of a similarity (mean ± std over images) against the rotation angle in degrees."""
    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    mean, std = np.asarray(mean), np.asarray(std)
    ax.plot(angles, mean, marker="o")
    ax.fill_between(angles, mean - std, mean + std, alpha=0.2)
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xlabel("rotation, degrees")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def augmentation_effect(val: Mapping[str, Sequence[float]], train: Mapping[str, Sequence[float]]) -> Figure:
    """Training and validation accuracy with and without augmentation: mean ± std over seeds, a dot per seed."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), sharey=True)
    mean_std_bars(axes[0], train, ["#1f77b4"] * len(train))
    axes[0].set_title("training accuracy", fontsize=10)
    mean_std_bars(axes[1], val, ["#2ca02c"] * len(val))
    axes[1].set_title("validation accuracy", fontsize=10)
    for ax in axes:
        ax.set_ylim(0, 1.05)
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


def image_mask_pairs(
    originals: Sequence[tuple[torch.Tensor, torch.Tensor]], augmented: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> Figure:
    """Top row: images with their masks overlaid; bottom row: the same after augmentation."""
    fig, axes = plt.subplots(2, len(originals), figsize=(2.25 * len(originals), 4.6), squeeze=False)
    for j, ((img, m), (aug_img, aug_m)) in enumerate(zip(originals, augmented)):
        axes[0, j].imshow(overlay(img, m))
        axes[1, j].imshow(overlay(aug_img, aug_m))
        axes[0, j].set_title("original", fontsize=9)
        axes[1, j].set_title("augmented (grey: 255)", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig
