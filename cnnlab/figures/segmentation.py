"""Figures of lecture 04 (image segmentation): the U-Net diagram, overlap-tile, receptive fields, comparisons over
seeds, separated instances and the PSPNet ablation next to the paper's numbers.

Every function draws one figure and returns it; none calls ``plt.show()``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from ..plotting import overlay

#: One feature map of a U-Net as ``unet_shapes`` in lecture 04 lists it: (name, channels, side in pixels).
FeatureMap = tuple[str, int, int]

_UNET_COLORS = {
    "input": "#dddddd",
    "enc": "#9ecae1",
    "pool": "#9ecae1",
    "up": "#fdd0a2",
    "dec": "#c7e9c0",
    "output": "#fcbba1",
}


def _kind_and_level(name: str) -> tuple[str, int]:
    """Split ``"enc3"`` into ``("enc", 3)``; a pooled map belongs to the level below it, the output to level 0."""
    kind = name.rstrip("0123456789")
    if kind in ("enc", "dec", "up", "crop"):
        return kind, int(name[len(kind) :])
    if kind == "pool":
        return kind, int(name[len(kind) :]) + 1
    return kind, 0


def unet_diagram(maps: Sequence[FeatureMap], depth: int = 4, title: str | None = None) -> Figure:
    """Draw the U-shaped diagram of a U-Net from the list of its feature maps.

    Args:
        maps: ``(name, channels, side)`` for every map, in the order the network computes them: ``input``,
            ``enc<l>`` (twice per level), ``pool<l>``, then per decoder level ``up<l>``, ``crop<l>`` (the cropped
            encoder map, not drawn as a box) and ``dec<l>`` (twice), and ``output``.
        depth: number of poolings (the levels are 0..depth).
        title: the figure's title; by default it names the input size.

    Boxes are feature maps (height grows with the side, width with the number of channels, written above them);
    arrows are the operations: valid 3x3 convolutions, max-pooling, up-convolutions, the 1x1 head, and the
    dashed copy-and-crop connections that are concatenated to the decoder's maps.
    """
    fig, ax = plt.subplots(figsize=(13, 6.5))
    top_side = max(side for _, _, side in maps)
    boxes = []  # (x, y, width, height, kind, level)
    x = 0.0
    for name, channels, side in maps:
        kind, level = _kind_and_level(name)
        if kind == "crop":
            continue
        width = 0.08 + 0.1 * math.log2(max(channels, 1) + 1)
        height = 0.35 + 1.3 * side / top_side
        if kind in ("pool", "up"):
            x += 0.35
        y = -2.0 * level
        ax.add_patch(Rectangle((x, y - height / 2), width, height, facecolor=_UNET_COLORS[kind], edgecolor="k", lw=0.6))
        ax.text(x + width / 2, y + height / 2 + 0.08, str(channels), ha="center", va="bottom", fontsize=7)
        ax.text(x - 0.05, y - height / 2, f"{side}²", ha="right", va="bottom", fontsize=6, rotation=90)
        boxes.append((x, y, width, height, kind, level))
        x += width + 0.45
    for (x0, y0, w0, h0, _, _), (x1, y1, w1, h1, kind, _) in zip(boxes, boxes[1:]):
        if kind == "pool":
            color, start, end = "tab:red", (x0 + w0 / 2, y0 - h0 / 2), (x1 + w1 / 2, y1 + h1 / 2)
        elif kind == "up":
            color, start, end = "tab:green", (x0 + w0 / 2, y0 + h0 / 2), (x1 + w1 / 2, y1 - h1 / 2)
        else:
            color, start, end = ("tab:cyan" if kind == "output" else "tab:blue"), (x0 + w0, y0), (x1, y1)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", color=color, mutation_scale=8, lw=1))
    last_encoder = {level: (bx, by, bw) for bx, by, bw, _, kind, level in boxes if kind == "enc"}
    first_up: dict[int, tuple[float, float]] = {}
    for bx, by, _, _, kind, level in boxes:
        if kind == "up":
            first_up.setdefault(level, (bx, by))
    for level, (xu, yu) in first_up.items():
        xe, ye, we = last_encoder[level]
        ax.add_patch(
            FancyArrowPatch(
                (xe + we, ye + 0.05), (xu, yu + 0.05), arrowstyle="-|>", color="0.5", ls="--", mutation_scale=8, lw=1
            )
        )
    handles = [
        plt.Line2D([], [], color="tab:blue", label="conv 3x3 (valid) + ReLU"),
        plt.Line2D([], [], color="tab:red", label="max-pool 2x2"),
        plt.Line2D([], [], color="tab:green", label="up-conv 2x2"),
        plt.Line2D([], [], color="0.5", ls="--", label="copy and crop (concatenate)"),
        plt.Line2D([], [], color="tab:cyan", label="conv 1x1"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_xlim(-0.5, x + 0.2)
    ax.set_ylim(-2.0 * depth - 1.4, 1.6)
    ax.axis("off")
    if title is None:
        side = maps[0][2]
        title = f"U-Net for a {side}x{side} input: numbers above the boxes are channels, on the left the side in pixels"
    ax.set_title(title, fontsize=10)
    return fig


def overlap_tile(
    image: np.ndarray, margin: int, tile_out: int, tiles: Sequence[tuple[int, int]] = ((0, 0), (1, 2), (3, 3))
) -> Figure:
    """Show overlap-tile on a grey ``image``: the image mirrored by ``margin`` pixels, some output tiles
    (filled) and the input windows (outlined, ``tile_out + 2 * margin`` pixels) that they are computed from.

    ``tiles`` lists ``(row, column)`` indices of the output tiles to mark.
    """
    side = image.shape[-1]
    padded = np.pad(np.asarray(image), margin, mode="symmetric")
    tile_in = tile_out + 2 * margin
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(padded, cmap="gray")
    ax.add_patch(Rectangle((margin - 0.5, margin - 0.5), side, side, fill=False, ec="white", ls=":", lw=1.2))
    for (ty, tx), color in zip(tiles, ("tab:orange", "tab:cyan", "tab:pink", "tab:olive", "tab:purple")):
        oy, ox = margin + ty * tile_out, margin + tx * tile_out
        ax.add_patch(Rectangle((ox - 0.5, oy - 0.5), tile_out, tile_out, fill=True, alpha=0.25, color=color))
        ax.add_patch(Rectangle((ox - margin - 0.5, oy - margin - 0.5), tile_in, tile_in, fill=False, ec=color, lw=2))
    ax.set_title(
        f"{side}x{side} image, mirrored by {margin} px: output tiles (filled) and their input windows", fontsize=9
    )
    ax.axis("off")
    return fig


def receptive_fields(
    image: torch.Tensor, mask: torch.Tensor, centre: tuple[int, int], fields: Mapping[str, int]
) -> Figure:
    """Draw squares of the given sides (``fields``: name to side in pixels) around ``centre`` (row, column) on
    an image overlaid with its mask, to compare receptive fields with the objects."""
    cy, cx = centre
    side_y, side_x = image.shape[-2:]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.imshow(overlay(image, mask, alpha=0.35))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(fields)))
    for (name, r), c in zip(fields.items(), colors):
        ax.add_patch(Rectangle((cx - r / 2, cy - r / 2), r, r, fill=False, lw=1.8, color=c, label=f"{name}: {r} px"))
    ax.plot([cx], [cy], "w+", ms=10)
    ax.set_xlim(-0.5, side_x - 0.5)
    ax.set_ylim(side_y - 0.5, -0.5)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=1)
    ax.set_title("receptive fields of the centre pixel", fontsize=10)
    ax.axis("off")
    return fig


def compare_over_seeds(
    results: Mapping[str, Sequence[float]],
    ylabel: str,
    title: str = "",
    reference: Mapping[str, float] | None = None,
    reference_label: str = "reference",
    ax: plt.Axes | None = None,
) -> Figure:
    """Bars of the mean over seeds with ± one standard deviation, and every seed's value as a dot.

    Args:
        results: name of a variant to its values, one per seed (a bar per variant, in the given order).
        ylabel, title: the axis label and the title.
        reference: optional name to value (for example a paper's numbers), drawn as a black tick on each bar.
        reference_label: the legend's name for ``reference``.
        ax: draw into this axes instead of a new figure.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(results) + 1.5), 3.4))
    else:
        fig = ax.figure
    names = list(results)
    values = [np.asarray(results[n], dtype=float) for n in names]
    means = [v.mean() for v in values]
    stds = [v.std(ddof=1) if len(v) > 1 else 0.0 for v in values]
    positions = np.arange(len(names))
    ax.bar(positions, means, yerr=stds, capsize=4, color="tab:blue", alpha=0.45, label="mean ± std over seeds")
    for p, v in zip(positions, values):
        ax.plot(np.full(len(v), p) + np.linspace(-0.12, 0.12, len(v)), v, "o", color="tab:blue", ms=4)
    if reference:
        ref = [(p, reference[n]) for p, n in zip(positions, names) if n in reference]
        ax.plot([p for p, _ in ref], [r for _, r in ref], "_", color="k", ms=22, mew=2, label=reference_label)
    low = min(float(v.min()) for v in values)
    high = max(float(v.max()) for v in values)
    span = max(high - low, 1e-3)
    ax.set_ylim(max(0.0, low - 0.6 * span), high + 0.4 * span)
    ax.set_xticks(positions)
    ax.set_xticklabels(names, rotation=20 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def psp_ablation(ours: Mapping[str, Sequence[float]], paper: Mapping[str, float], steps: int | None = None) -> Figure:
    """The PSPNet ablation side by side: the paper's mIoU on ADE20K (left) and ours over seeds (right).

    ``ours`` maps each variant of the paper's Table 1 to its mIoU per seed (fractions in [0, 1]); ``paper`` maps
    the same names to the paper's mean IoU in percent.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6))
    names = list(ours)
    left.bar(range(len(names)), [paper[n] for n in names], color="0.6")
    left.set_ylim(min(paper[n] for n in names) - 2, max(paper[n] for n in names) + 1)
    left.set_xticks(range(len(names)))
    left.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    left.set_ylabel("mIoU (%)")
    left.set_title("Zhao et al. 2017: ResNet50 on ADE20K (150 classes)", fontsize=10)
    left.grid(axis="y", alpha=0.3)
    compare_over_seeds(
        {n: 100 * np.asarray(v, dtype=float) for n, v in ours.items()},
        "mIoU (%)",
        "ours: a small backbone on Shapes" + (f", {steps} steps" if steps else ""),
        ax=right,
    )
    right.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def separated_instances(
    image: torch.Tensor | np.ndarray,
    instances: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    missed: Mapping[str, np.ndarray] | None = None,
) -> Figure:
    """Show an image, its true instances and, per model, the connected components of the predicted foreground.

    Args:
        image: a grey image ``[1, H, W]`` or ``[H, W]``.
        instances: the true instance ids (0 background).
        predictions: model name to its component labels (0 background), as ``scipy.ndimage.label`` returns them.
        missed: optional model name to a boolean map of the true cells that the model failed to separate; drawn
            as a red outline.
    """
    from skimage.color import label2rgb
    from skimage.segmentation import find_boundaries

    grey = np.asarray(image, dtype=float)
    grey = grey[0] if grey.ndim == 3 else grey
    panels = [("image", grey, "gray"), (f"true cells ({int(instances.max())})", label2rgb(instances, bg_label=0), None)]
    for name, components in predictions.items():
        colored = label2rgb(components, bg_label=0)
        if missed is not None and name in missed:
            colored[find_boundaries(missed[name], mode="outer")] = (1.0, 0.1, 0.1)
        panels.append((f"{name}: {int(components.max())} components", colored, None))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
    for ax, (title, arr, cmap) in zip(axes, panels):
        ax.imshow(arr, cmap=cmap, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
