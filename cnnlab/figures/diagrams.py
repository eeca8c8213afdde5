"""Diagrams of the convolution and architecture lectures: sliding windows, annotated matrices, block pipelines, and
the Markdown tables the lectures print.

Every drawing function returns the matplotlib ``Figure`` (or draws on the ``Axes`` it is given) and never
calls ``plt.show()``. Geometry is never computed from an index formula here: where a figure needs to know
which inputs a convolution reads or how large its output is, it asks PyTorch (autograd on
``torch.nn.functional.conv2d``), so the pictures show what the library really does.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

INPUT_COLOR = "#ffffff"
PAD_COLOR = "#d9d9d9"
TAP_COLOR = "#1f77b4"
WINDOW_EDGE = "#ff7f0e"
OUTPUT_COLOR = "#9ecae1"
OUTPUT_HIT = "#2ca02c"


def sliding_window(
    size: int,
    kernel: int,
    padding: int = 0,
    stride: int = 1,
    dilation: int = 1,
    position: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, tuple[int, int]]:
    """Return where one output of a square 2-D convolution reads its input, and the output's shape.

    The convolution is run by ``torch.nn.functional.conv2d`` on an explicitly zero-padded ``size x size``
    input; the gradient of output ``position`` (row, column) with respect to that padded input is non-zero
    exactly at the kernel's taps.

    Returns:
        ``(taps, (out_h, out_w))``: a boolean array over the padded input (``size + 2 * padding`` square)
        marking the taps, and the output shape.

    Raises:
        ValueError: the parameters are out of range, the dilated kernel does not fit in the padded input, or
            ``position`` lies outside the output.
    """
    for name, value, low in [("size", size, 1), ("kernel", kernel, 1), ("padding", padding, 0)]:
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    for name, value in [("stride", stride), ("dilation", dilation)]:
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    padded = torch.zeros(1, 1, size + 2 * padding, size + 2 * padding, dtype=torch.float64, requires_grad=True)
    weight = torch.ones(1, 1, kernel, kernel, dtype=torch.float64)
    try:
        out = F.conv2d(padded, weight, stride=stride, dilation=dilation)
    except RuntimeError as err:
        raise ValueError(
            f"a {kernel}x{kernel} kernel with dilation {dilation} spans {dilation * (kernel - 1) + 1} pixels, more "
            f"than the padded input ({size} + 2*{padding} = {size + 2 * padding}); use a larger input or padding"
        ) from err
    out_h, out_w = out.shape[-2:]
    row, col = position
    if not (0 <= row < out_h and 0 <= col < out_w):
        raise ValueError(f"position {position} is outside the {out_h}x{out_w} output")
    out[0, 0, row, col].backward()
    taps = padded.grad[0, 0].numpy() != 0
    return taps, (int(out_h), int(out_w))


def _grid(ax: Axes, n_rows: int, n_cols: int, colors: np.ndarray, origin: tuple[float, float] = (0, 0)) -> None:
    x0, y0 = origin
    for r in range(n_rows):
        for c in range(n_cols):
            ax.add_patch(Rectangle((x0 + c, y0 + r), 1, 1, facecolor=colors[r][c], edgecolor="#555555", lw=0.8))


def draw_sliding_window(
    size: int,
    kernel: int,
    padding: int = 0,
    stride: int = 1,
    dilation: int = 1,
    position: tuple[int, int] = (0, 0),
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Draw the padded input (grey: padding), the kernel's taps for one output (blue) and the output grid.

    The output cell at ``position`` is green; the orange frame is the window's extent on the input.
    """
    taps, (out_h, out_w) = sliding_window(size, kernel, padding, stride, dilation, position)
    side = size + 2 * padding
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.28 * (side + out_w + 3) + 0.6, 0.28 * side + 0.9))
    else:
        fig = ax.figure
    colors = np.full((side, side), INPUT_COLOR, dtype=object)
    inside = np.zeros((side, side), dtype=bool)
    inside[padding : padding + size, padding : padding + size] = True
    colors[~inside] = PAD_COLOR
    colors[taps] = TAP_COLOR
    _grid(ax, side, side, colors)
    rows, cols = np.nonzero(taps)
    ax.add_patch(
        Rectangle(
            (cols.min(), rows.min()),
            cols.max() - cols.min() + 1,
            rows.max() - rows.min() + 1,
            fill=False,
            edgecolor=WINDOW_EDGE,
            lw=2.5,
        )
    )
    gap = 2
    top = (side - out_h) / 2
    out_colors = np.full((out_h, out_w), OUTPUT_COLOR, dtype=object)
    out_colors[position[0]][position[1]] = OUTPUT_HIT
    _grid(ax, out_h, out_w, out_colors, origin=(side + gap, top))
    ax.add_patch(
        FancyArrowPatch(
            (cols.max() + 1, (rows.min() + rows.max() + 1) / 2),
            (side + gap + position[1] + 0.5, top + position[0] + 0.5),
            arrowstyle="->",
            mutation_scale=10,
            color=WINDOW_EDGE,
            lw=1.2,
        )
    )
    ax.set_xlim(-0.2, side + gap + out_w + 0.2)
    ax.set_ylim(max(side, top + out_h) + 0.2, -0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    label = f"i={size}, k={kernel}, p={padding}, s={stride}, d={dilation}  ->  o={out_h}"
    ax.set_title(label if title is None else f"{title}\n{label}", fontsize=9)
    return fig


def show_matrix(
    values: np.ndarray | torch.Tensor,
    ax: Axes | None = None,
    fmt: str = "{:g}",
    cmap: str = "coolwarm",
    annotate: bool = True,
    title: str | None = None,
    symmetric: bool = True,
    skip_zeros: bool = True,
) -> Figure:
    """Show a small matrix as coloured cells with its values written in them (zeros blank if ``skip_zeros``).

    With ``symmetric`` the colour scale is centred on zero, so positive and negative entries differ in hue.
    Values are written in white on dark cells and in black on light ones.
    """
    m = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values, dtype=float)
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2:
        raise ValueError(f"show_matrix draws 1-D or 2-D arrays, got shape {m.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(0.45 * m.shape[1] + 0.6, 12), min(0.45 * m.shape[0] + 0.6, 12)))
    else:
        fig = ax.figure
    limit = float(np.abs(m).max()) or 1.0
    vmin, vmax = (-limit, limit) if symmetric else (float(m.min()), float(m.max()))
    image = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if annotate:
        for (r, c), v in np.ndenumerate(m):
            if v != 0 or not skip_zeros:
                red, green, blue, _ = image.cmap(image.norm(v))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(np.arange(-0.5, m.shape[1], 1), minor=True)
    ax.set_yticks(np.arange(-0.5, m.shape[0], 1), minor=True)
    ax.grid(which="minor", color="#888888", lw=0.4)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def draw_pipeline(
    stages: Sequence[tuple[str, str]], colors: dict[str, str] | None = None, width: float = 1.5
) -> Figure:
    """Draw a network as a row of labelled boxes joined by arrows, e.g. ``[("conv 3x3", "16x64x64"), ...]``.

    Each stage is ``(name, detail)``; the box colour is chosen by the first word of the name (``colors`` maps
    words such as ``"conv"`` to colours).
    """
    if not stages:
        raise ValueError("draw_pipeline needs at least one stage")
    palette = {
        "input": "#eeeeee",
        "conv": "#9ecae1",
        "relu": "#fdd0a2",
        "pool": "#a1d99b",
        "maxpool": "#a1d99b",
        "flatten": "#dadaeb",
        "fc": "#fcbba1",
        "softmax": "#fee391",
    }
    palette.update(colors or {})
    fig, ax = plt.subplots(figsize=(width * len(stages) + 0.3, 1.7))
    for k, (name, detail) in enumerate(stages):
        x = k * width
        color = palette.get(name.split()[0].lower(), "#ffffff")
        ax.add_patch(Rectangle((x, 0), width * 0.78, 1, facecolor=color, edgecolor="#333333"))
        ax.text(x + width * 0.39, 0.62, name, ha="center", va="center", fontsize=8, weight="bold")
        ax.text(x + width * 0.39, 0.3, detail, ha="center", va="center", fontsize=7)
        if k:
            ax.add_patch(FancyArrowPatch((x - width * 0.22, 0.5), (x, 0.5), arrowstyle="->", mutation_scale=10, lw=1))
    ax.set_xlim(-0.1, width * len(stages))
    ax.set_ylim(-0.1, 1.1)
    ax.axis("off")
    fig.tight_layout()
    return fig


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence], floatfmt: str = "{:.3g}") -> str:
    """Return a Markdown table (floats formatted with ``floatfmt``) for ``IPython.display.Markdown``."""
    if any(len(row) != len(headers) for row in rows):
        raise ValueError(f"every row needs {len(headers)} cells to match the headers {list(headers)}")

    def cell(value) -> str:
        if isinstance(value, float | np.floating):
            return floatfmt.format(value)
        return str(value)

    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
