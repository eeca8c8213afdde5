"""The picture at the top of the README: the course's data, a convolution's output and a segmentation mask.

``python3 -m cnnlab.figures.overview course/guide/images/overview.png`` draws it again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnnlab.data import Cells, Shapes  # noqa: E402
from cnnlab.plotting import mask_to_rgb, to_numpy_image  # noqa: E402


def draw_overview(path: str | Path) -> Path:
    """Draw a ``Shapes`` scene, its vertical-edge response, its mask, and a ``Cells`` image with its border
    weight map into ``path`` (PNG) and return the path."""
    image, mask = Shapes("val", 1, size=96)[0]
    cells, _, weights = Cells("val", 1, size=96, with_weights=True)[0]
    sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    edges = F.conv2d(image.mean(0, keepdim=True)[None], sobel[None, None], padding=1)[0, 0].abs()
    panels = [
        (to_numpy_image(image), None, "Shapes: an image"),
        (edges.numpy(), "magma", "a 3×3 convolution (Sobel)"),
        (mask_to_rgb(mask), None, "its segmentation mask"),
        (to_numpy_image(cells), "gray", "Cells: touching cells"),
        (np.asarray(weights), "viridis", "U-Net border weights"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.0 * len(panels), 2.3), dpi=80)
    for ax, (picture, cmap, title) in zip(axes, panels, strict=True):
        ax.imshow(picture.squeeze(), cmap=cmap)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(draw_overview(sys.argv[1] if len(sys.argv) > 1 else "course/guide/images/overview.png"))
