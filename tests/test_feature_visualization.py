"""cnnlab.feature_visualization does what its docstrings say, checked against independent computations."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from cnnlab import feature_visualization as V

matplotlib.use("Agg")

#: (kernel, stride, padding, dilation): strides and dilations mixed, as in the assignment's checks.
STACK = [(3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2), (2, 2, 0, 1), (3, 1, 1, 3)]


def conv_stack(layers, channels=3, positive=False, seed=0):
    torch.manual_seed(seed)
    mods = []
    for i, (k, s, p, d) in enumerate(layers):
        conv = nn.Conv2d(channels, channels, k, stride=s, padding=p, dilation=d)
        if positive:
            with torch.no_grad():
                conv.weight.uniform_(0.1, 1.0)
        mods.append(conv)
        if i < len(layers) - 1 and not positive:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods).eval()


def gradient_support(net, size, y, x):
    """Bounding box (half-open) of the input pixels whose gradient on output (y, x) is non-zero."""
    inp = torch.ones(1, 3, size, size, requires_grad=True)
    net(inp)[0, 0, y, x].backward()
    rows = torch.nonzero(inp.grad[0].abs().sum(dim=(0, 2)))
    cols = torch.nonzero(inp.grad[0].abs().sum(dim=(0, 1)))
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


@pytest.mark.parametrize("layers", [STACK, [(7, 1, 3, 1), (2, 2, 0, 1), (3, 1, 1, 1)], [(5, 3, 0, 2)] * 2])
def test_receptive_field_box_is_the_support_of_the_input_gradient(layers):
    net, size = conv_stack(layers, positive=True), 61
    out = net(torch.zeros(1, 3, size, size)).shape[-1]
    inside = 0
    step = max(1, out // 5)
    for y in range(0, out, step):
        for x in range(out - 1, -1, -step):
            top, left, bottom, right = V.receptive_field_box(layers, y, x)
            support = gradient_support(net, size, y, x)
            if top >= 0 and left >= 0 and bottom <= size and right <= size:
                assert support == (top, left, bottom, right)
                inside += 1
            else:  # padded positions carry no gradient: near the border the support may be smaller
                assert top <= support[0] and left <= support[1] and support[2] <= bottom and support[3] <= right
    assert inside >= 3


def test_receptive_field_of_the_lectures_shapenet():
    layout = [(7, 1, 3, 1), (2, 2, 0, 1), (3, 1, 1, 1), (3, 1, 1, 1), (2, 2, 0, 1), (3, 1, 1, 1), (3, 1, 1, 1)]
    assert V.receptive_field(layout) == (34, 4, 1.5)
    assert V.receptive_field_box(layout, 2, 0) == (-7, -15, 27, 19)


def test_tile_filters_normalises_each_filter_on_its_own():
    w = torch.randn(5, 3, 4, 4)
    w[1] *= 100
    grid = V.tile_filters(w, ncols=2, pad=1)
    assert grid.shape == (3 * 4 + 4, 2 * 4 + 3, 3)
    tile1 = grid[1:5, 6:10]  # row 0, column 1
    f = w[1].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(tile1, (f - f.min()) / (f.max() - f.min() + 1e-8), rtol=1e-5, atol=1e-6)
    assert np.all(grid[11:15, 6:10] == 1.0)  # the sixth tile is empty
    grey = V.tile_filters(torch.randn(3, 2, 5, 5), ncols=3, pad=0)
    assert grey.shape == (5, 15) and grey[:, :5].min() == 0 and grey[:, :5].max() == pytest.approx(1, abs=1e-6)


def test_top_k_patches_takes_each_image_once_and_crops_its_field():
    net = conv_stack(STACK)
    images = torch.rand(10, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    images[3] *= 4  # one image dominates: several of its positions beat every other image
    idx, pos, patches = V.top_k_patches(net, images, channel=1, k=4, layers=STACK)
    fmap = net(images)[:, 1]
    best = fmap.flatten(1).max(dim=1).values
    assert idx.tolist() == best.argsort(descending=True)[:4].tolist() and len(set(idx.tolist())) == 4
    for i, (y, x), patch in zip(idx, pos, patches):
        assert fmap[i, y, x] == best[i]
        top, left, bottom, right = V.receptive_field_box(STACK, int(y), int(x))
        assert patch.shape == (3, bottom - top, right - left)
        padded = torch.nn.functional.pad(images[i], (40, 40, 40, 40), value=0.5)
        assert torch.equal(patch, padded[:, top + 40 : bottom + 40, left + 40 : right + 40])


class TwoNet(nn.Module):
    """Logit 0 reads the mean of the top-left 8x8 of channel 0; logit 1 is constant; features for dreams."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def features(self, x):
        return [torch.relu(self.conv(x))]

    def forward(self, x):
        return torch.stack([4 * x[:, 0, :8, :8].mean(dim=(1, 2)), torch.zeros(len(x))], dim=1)


def test_occlusion_changes_exactly_where_the_network_reads():
    net, image = TwoNet(), torch.ones(3, 32, 32)
    heat = V.occlusion_map(net, image, 0, patch=4, stride=4)
    assert (heat[:8, :8] > 0).all() and (heat[8:] == 0).all() and (heat[:, 8:] == 0).all()


def test_saliency_is_the_autograd_gradient_magnitude():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 36, 5))
    x, y = torch.randn(3, 3, 6, 6), torch.tensor([0, 4, 2])
    sal = V.gradient_saliency(net, x, y)
    for n in range(3):
        jac = torch.autograd.functional.jacobian(lambda v, n=n: net(v[None])[0, y[n]], x[n])
        assert torch.allclose(sal[n], jac.abs().max(dim=0).values, atol=1e-6)


def test_class_maximisation_and_dreams_raise_their_objectives():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)
    )
    targets = torch.tensor([0, 1, 2])
    start = 0.5 + 0.02 * torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    before = V.class_objective(net, start, targets, V.tv_penalty, 0.1)
    after = V.class_objective(
        net, V.maximise_class(net, targets, V.tv_penalty, 0.1, steps=20, size=16), targets, V.tv_penalty, 0.1
    )
    assert (after > before).all()
    dreamer, image = TwoNet(), torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    dream = V.deepdream(dreamer, image, 0, octaves=2, steps=5, jitter=2)
    assert dream.shape == image.shape
    assert V.layer_energy(dreamer, dream, 0) > V.layer_energy(dreamer, image, 0)
    assert torch.equal(V.deepdream(dreamer, image, 0, octaves=2, steps=5, jitter=2), dream)  # seeded
    step = V.dream_step(dreamer, image, 0, lr=0.01)
    assert (step - image).abs().mean() <= 0.01 + 1e-6


def test_penalties():
    x = torch.full((2, 3, 4, 4), 0.5)
    assert torch.equal(V.l2_penalty(x), torch.zeros(2)) and torch.equal(V.tv_penalty(x), torch.zeros(2))
    x[1, :, :, 2:] = 1.0
    assert V.tv_penalty(x)[1].item() == pytest.approx(0.5 / 3)
