"""Figures of lecture 01 (convolution): the ILSVRC chart and the template-search panels.

Each function draws what the lecture has already computed (it computes nothing the lecture asserts on) and returns
the ``Figure``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

#: One row of the ILSVRC table: (year, entry, network, top-5 error of the entry in %, depth in layers; 0 = shallow).
IlsvrcEntry = tuple[int, str, str, float, int]


def ilsvrc_chart(entries: Sequence[IlsvrcEntry], human_top5: float) -> Figure:
    """Bar charts of the top-5 error and the depth of ILSVRC classification entries, one bar per entry.

    Each bar is labelled with its year, the entry (the team's name in the challenge) and, where it differs, the
    network the entry is known by; shallow entries (depth 0) are grey. A dashed line marks ``human_top5``.
    """
    years, teams, networks, errors, depths = zip(*entries)
    labels = [f"{y}\n{t}" + (f"\n({n})" if n not in (t, "shallow") else "") for y, t, n in zip(years, teams, networks)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.6))
    bars = ax1.bar(labels, errors, color=["#bbbbbb" if d == 0 else "#1f77b4" for d in depths])
    ax1.bar_label(bars, labels=[f"{e:g}" for e in errors], fontsize=8)
    ax1.axhline(human_top5, color="#d62728", ls="--", lw=1)
    ax1.text(len(entries) - 0.6, human_top5 + 0.6, f"human {human_top5:g}", color="#d62728", ha="right", fontsize=8)
    ax1.set_ylabel("top-5 error of the entry, %")
    ax1.set_title("ILSVRC classification: test error of each entry")
    bars = ax2.bar(labels, [max(d, 1) for d in depths], color=["#bbbbbb" if d == 0 else "#2ca02c" for d in depths])
    ax2.bar_label(bars, labels=["shallow" if d == 0 else str(d) for d in depths], fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel("layers (log scale)")
    ax2.set_title("... and the depth of its network")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig


def template_search(
    image: np.ndarray,
    template: np.ndarray,
    maps: dict[str, np.ndarray],
    boxes: Sequence[tuple[int, int, str, str]],
    box_title: str,
    *,
    diverging: Sequence[str] = (),
) -> Figure:
    """The template, the image with boxes of the template's size, and one panel per response map.

    ``boxes`` holds ``(row, col, colour, linestyle)`` of the boxes' top-left corners; maps named in ``diverging``
    are drawn on a red-blue scale from -1 to 1 (correlation coefficients), the others on their own range.
    """
    th, tw = template.shape[:2]
    fig, axes = plt.subplots(
        1,
        2 + len(maps),
        figsize=(4 + 3.4 * (1 + len(maps)), 3.2),
        gridspec_kw={"width_ratios": [0.6] + [2] * (1 + len(maps))},
    )
    axes[0].imshow(template, cmap="gray")
    axes[0].set_title("template")
    axes[1].imshow(image, cmap="gray")
    for row, col, color, style in boxes:
        axes[1].add_patch(plt.Rectangle((col, row), tw, th, fill=False, color=color, lw=2, ls=style))
    axes[1].set_title(box_title, fontsize=9)
    for ax, (name, values) in zip(axes[2:], maps.items()):
        if name in diverging:
            im = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
        else:
            im = ax.imshow(values, cmap="magma")
        ax.set_title(name, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def image_row(images: Sequence[np.ndarray], titles: Sequence[str], *, size: float = 3.2, crops=None) -> Figure:
    """Images side by side (grey ones on a fixed [0, 1] scale), each optionally cut to ``crops[i]`` (a slice pair)."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size))
    for i, (ax, img, title) in enumerate(zip(np.atleast_1d(axes), images, titles)):
        if crops is not None:
            img = img[crops[i]]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
