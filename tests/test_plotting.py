import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from cnnlab import plotting
from cnnlab.train import History


def test_mask_to_rgb_uses_palette_and_ignore_colour():
    mask = torch.tensor([[0, 1], [2, 255]])
    rgb = plotting.mask_to_rgb(mask)
    assert rgb.shape == (2, 2, 3)
    assert np.allclose(rgb[0, 0], 0) and np.allclose(rgb[0, 1], plotting.PALETTE[1]) and np.allclose(rgb[1, 1], 1)


def test_overlay_keeps_background_and_tints_objects():
    image = torch.full((3, 4, 4), 0.5)
    mask = torch.zeros(4, 4, dtype=torch.long)
    mask[0, 0] = 1
    out = plotting.overlay(image, mask, alpha=1.0)
    assert np.allclose(out[1:, 1:], 0.5) and np.allclose(out[0, 0], plotting.PALETTE[1])


def test_overlay_size_mismatch_is_explained():
    with pytest.raises(ValueError, match="4x4 but mask is 3x3"):
        plotting.overlay(torch.zeros(3, 4, 4), torch.zeros(3, 3, dtype=torch.long))


def test_float_mask_rejected():
    with pytest.raises(TypeError, match="argmax"):
        plotting.mask_to_rgb(torch.zeros(3, 3))


def test_figures_have_expected_panels():
    images = torch.rand(3, 3, 8, 8)
    masks = torch.randint(0, 3, (3, 8, 8))
    fig = plotting.show_segmentation(images, masks, masks, classes=["bg", "a", "b"])
    assert isinstance(fig, Figure) and len(fig.axes) == 9
    assert len(plotting.filter_grid(torch.randn(10, 3, 5, 5), ncols=4).axes) == 12
    assert len(plotting.show_images([torch.rand(1, 8, 8)] * 5, ncols=3).axes) == 6
    h = History()
    for s in range(1, 4):
        h.log(step=s, loss=1.0 / s)
    fig = plotting.plot_history(h, ["loss"])
    line = fig.axes[0].lines[0]
    assert list(line.get_ydata()) == [1.0, 0.5, 1 / 3]
    with pytest.raises(KeyError, match="miou"):
        plotting.plot_history(h, ["miou"])


def test_bad_image_shape():
    with pytest.raises(ValueError, match="shape"):
        plotting.to_numpy_image(torch.zeros(2, 5, 5, 5))
