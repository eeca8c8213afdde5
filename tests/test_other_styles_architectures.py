"""Assignment 3 written in other common styles keeps full marks, and more typical mistakes are named.

Correct code, every visible and hidden check that applies (``tests/test_other_styles.py`` covers the blocks
transcribed from torchvision and an epoch-style training loop):

- residual blocks: an ``nn.Sequential`` body with an empty ``nn.Sequential()`` shortcut, ``out += shortcut(x)`` and
  ``torch.relu_`` (the CIFAR-ResNet style of public repositories); ``padding="same"`` on the stride-1 convolutions;
  the projection applied with ``F.conv2d`` to a weight registered as an ``nn.Parameter``; Kaiming initialisation,
  the last BatchNorm's scale initialised to 0 and another ``eps``; a bottleneck body built in a loop, its shortcut
  ``None`` when it is the identity, ``padding="valid"`` on a 1x1 convolution;
- the Inception count as a ``sum`` over branches, as NumPy arrays (an ``np.int64``) and as a closed form in a float;
  Inception modules with their branches in an ``nn.ModuleList`` concatenated in a loop (``dim=-3``), and with
  ``padding="same"`` and the pooling done by ``F.max_pool2d`` in ``forward``;
- dense blocks with layers added by ``add_module`` and concatenated step by step, with a growing list concatenated
  at each layer and ``out_channels`` as a property, and with ``padding="same"``; transitions written with
  ``F.avg_pool2d`` and with ``padding="valid"``;
- augmentation with ``torchvision.transforms.v2.functional`` on ``tv_tensors.Image``/``Mask``, with the v1
  functional API on plain tensors (``InterpolationMode.NEAREST`` for the mask), and by hand with a sampling grid from
  ``torch.meshgrid`` and the crop's mask resized with ``mode="nearest-exact"``; cut-out by a multiplicative mask of
  index comparisons, brightness by ``v2.functional.adjust_brightness``, noise by ``normal_`` and by
  ``torch.randn(*shape)``; ``random_augment`` drawing its parameters in another order (several at once) and calling the
  transforms with keyword arguments in another order, with parameters drawn as tensors, or with the flip, cut-out,
  brightness and noise written inline (their parameters are then read from its torch calls, and still checked);
- ``make_resnet`` as a class whose stages are built in a loop, pooling with ``F.adaptive_avg_pool2d``;
- ``evaluate`` over a ``DataLoader`` in ``torch.inference_mode()`` returning a 0-d tensor, or with NumPy returning an
  ``np.float32`` or a 0-d array;
- ``augment_batch`` with ``torch.where`` and a per-image ``torch.rot90``, or the turns drawn before the flips;
  ``train`` over a ``DataLoader`` shuffled by a seeded generator (``zero_grad(set_to_none=True)``,
  ``nn.CrossEntropyLoss``), over ``torch.randperm`` epochs returning detached loss tensors, and returning NumPy floats.

Wrong code loses its points and the message names the mistake: BatchNorm after the addition, a projection shortcut
without BatchNorm, the stride on the second 3x3 convolution (and on the bottleneck's first 1x1), a dense block that
returns only the new features, Inception branches concatenated along the batch axis, a rotation that leaves the mask
as it was or resamples the image with nearest interpolation, ``random_augment`` seeding the global random state,
``augment_batch`` drawing one symmetry for the whole batch, ``evaluate`` averaging the batches' accuracies, and
``train`` returning losses that keep their graphs, summing the loss over the batch or clipping the gradients (which
the task's loop does not do); wrong parameters of transforms written inline in ``random_augment`` are named too.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF1
import torchvision.transforms.v2.functional as TF
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode

from autograder.checks import architectures as arch
from cnnlab.device import Budget
from tests.support.failing import fails

Pair = tuple[torch.Tensor, torch.Tensor]


def passes_visible_and_hidden(check: Callable, *args: object) -> None:
    """The check passes for ``args``, on its visible and on its hidden cases."""
    check(*args, hidden=False)
    check(*args, hidden=True)


# ------------------------------------------------------------------------------------------- residual blocks


class BasicBlock(nn.Module):
    """The CIFAR-ResNet style of public repositories: a Sequential body, an empty Sequential as the identity, the
    shortcut added in place and an in-place ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        out += self.shortcut(x)
        return torch.relu_(out)


class SamePaddingBlock(nn.Module):
    """``padding="same"`` where the stride is 1, the shortcut computed first, ``x = x + identity``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1 if stride > 1 else "same", bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding="same", bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.project = stride != 1 or in_ch != out_ch
        if self.project:
            self.sc_conv = nn.Conv2d(in_ch, out_ch, 1, stride, padding="valid", bias=False)
            self.sc_bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.sc_bn(self.sc_conv(x)) if self.project else x
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        x = x + identity
        return F.relu(x)


class FunctionalShortcutBlock(nn.Module):
    """The projection's weight registered as a parameter of the block and applied with ``F.conv2d``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.proj_weight: nn.Parameter | None = None
        if stride != 1 or in_ch != out_ch:
            self.proj_weight = nn.Parameter(torch.empty(out_ch, in_ch, 1, 1))
            nn.init.kaiming_normal_(self.proj_weight, mode="fan_out", nonlinearity="relu")
            self.proj_bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.proj_weight is None:
            return F.relu(out + x)
        return F.relu(out + self.proj_bn(F.conv2d(x, self.proj_weight, stride=self.stride)))


class ZeroInitBlock(nn.Module):
    """Kaiming initialisation, the last BatchNorm's scale set to 0 (Goyal et al.), eps=1e-3, tuple arguments."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, (3, 3), (stride, stride), (1, 1), bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch, eps=1e-3, momentum=0.01)
        self.conv2 = nn.Conv2d(out_ch, out_ch, (3, 3), padding=(1, 1), bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=1e-3, momentum=0.01)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=False), nn.BatchNorm2d(out_ch, eps=1e-3)
            )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        x += identity
        return self.relu(x)


class LoopBottleneck(nn.Module):
    """The residual function built in a loop, its last ReLU dropped; the shortcut None for the identity."""

    expansion = 4

    def __init__(self, in_ch: int, mid_ch: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = mid_ch * self.expansion
        layers: list[nn.Module] = []
        for cin, cout, k, s in [(in_ch, mid_ch, 1, 1), (mid_ch, mid_ch, 3, stride), (mid_ch, out_ch, 1, 1)]:
            layers += [nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.residual = nn.Sequential(*layers[:-1])
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.residual(x) + identity, inplace=True)


class SamePaddingBottleneck(nn.Module):
    """``padding="same"`` and ``padding="valid"`` on the convolutions of stride 1."""

    def __init__(self, in_ch: int, mid_ch: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = 4 * mid_ch
        self.c1 = nn.Conv2d(in_ch, mid_ch, 1, padding="same", bias=False)
        self.b1 = nn.BatchNorm2d(mid_ch)
        self.c2 = nn.Conv2d(mid_ch, mid_ch, 3, stride=stride, padding=1 if stride > 1 else "same", bias=False)
        self.b2 = nn.BatchNorm2d(mid_ch)
        self.c3 = nn.Conv2d(mid_ch, out_ch, 1, padding="valid", bias=False)
        self.b3 = nn.BatchNorm2d(out_ch)
        self.down: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.b1(self.c1(x)))
        out = F.relu(self.b2(self.c2(out)))
        return F.relu(self.b3(self.c3(out)) + self.down(x))


@pytest.mark.parametrize(
    "block", [BasicBlock, SamePaddingBlock, FunctionalShortcutBlock, ZeroInitBlock], ids=lambda c: c.__name__
)
def test_basic_blocks_in_other_styles_keep_full_marks(block):
    passes_visible_and_hidden(arch.check_basic_block, block)


@pytest.mark.parametrize("block", [LoopBottleneck, SamePaddingBottleneck], ids=lambda c: c.__name__)
def test_bottlenecks_in_other_styles_keep_full_marks(block):
    passes_visible_and_hidden(arch.check_bottleneck, block)


# ------------------------------------------------------------------------------------------------- Inception


def inception_params_by_branch(
    in_ch: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int, naive: bool = False
) -> int:
    """A sum over the branches of a helper's count per convolution."""

    def conv(k: int, cin: int, cout: int) -> int:
        return k * k * cin * cout + cout

    if naive:
        branches = [conv(1, in_ch, c1), conv(3, in_ch, c3), conv(5, in_ch, c5)]
    else:
        branches = [
            conv(1, in_ch, c1),
            conv(1, in_ch, c3r) + conv(3, c3r, c3),
            conv(1, in_ch, c5r) + conv(5, c5r, c5),
            conv(1, in_ch, pool_proj),
        ]
    return sum(branches)


def inception_params_numpy(
    in_ch: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int, naive: bool = False
) -> np.int64:
    """Kernel sizes and channels in NumPy arrays: the count is an ``np.int64``."""
    if naive:
        k, cin, cout = np.array([1, 3, 5]), np.full(3, in_ch), np.array([c1, c3, c5])
    else:
        k = np.array([1, 1, 3, 1, 5, 1])
        cin = np.array([in_ch, in_ch, c3r, in_ch, c5r, in_ch])
        cout = np.array([c1, c3r, c3, c5r, c5, pool_proj])
    return np.sum(k**2 * cin * cout + cout)


def inception_params_closed_form(
    in_ch: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int, naive: bool = False
) -> float:
    """One expression per module, returned as a float."""
    if naive:
        return float(in_ch * (c1 + 9 * c3 + 25 * c5) + c1 + c3 + c5)
    weights = in_ch * (c1 + c3r + c5r + pool_proj) + 9 * c3r * c3 + 25 * c5r * c5
    return float(weights + c1 + c3r + c3 + c5r + c5 + pool_proj)


class ListInception(nn.Module):
    """The branches in an nn.ModuleList, concatenated in a loop along dim=-3."""

    def __init__(self, in_ch, c1, c3r, c3, c5r, c5, pool_proj, naive=False):
        super().__init__()

        def conv_relu(cin: int, cout: int, k: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True)]

        pool = nn.MaxPool2d(3, 1, 1)
        if naive:
            specs = [conv_relu(in_ch, c1, 1), conv_relu(in_ch, c3, 3), conv_relu(in_ch, c5, 5), [pool]]
        else:
            specs = [
                conv_relu(in_ch, c1, 1),
                conv_relu(in_ch, c3r, 1) + conv_relu(c3r, c3, 3),
                conv_relu(in_ch, c5r, 1) + conv_relu(c5r, c5, 5),
                [pool, *conv_relu(in_ch, pool_proj, 1)],
            ]
        self.branches = nn.ModuleList(nn.Sequential(*spec) for spec in specs)

    def forward(self, x):
        outputs = []
        for branch in self.branches:
            outputs.append(branch(x))
        return torch.cat(outputs, dim=-3)


class SamePaddingInception(nn.Module):
    """``padding="same"``, ReLUs and the pooling applied in ``forward``."""

    def __init__(self, in_ch, c1, c3r, c3, c5r, c5, pool_proj, naive=False):
        super().__init__()
        self.naive = naive
        self.b1 = nn.Conv2d(in_ch, c1, 1)
        if naive:
            self.b3 = nn.Conv2d(in_ch, c3, 3, padding="same")
            self.b5 = nn.Conv2d(in_ch, c5, 5, padding="same")
        else:
            self.r3, self.b3 = nn.Conv2d(in_ch, c3r, 1), nn.Conv2d(c3r, c3, 3, padding="same")
            self.r5, self.b5 = nn.Conv2d(in_ch, c5r, 1), nn.Conv2d(c5r, c5, 5, padding="same")
            self.pp = nn.Conv2d(in_ch, pool_proj, 1)

    def forward(self, x):
        pooled = F.max_pool2d(x, 3, 1, 1)
        if self.naive:
            return torch.cat([F.relu(self.b1(x)), F.relu(self.b3(x)), F.relu(self.b5(x)), pooled], 1)
        three = F.relu(self.b3(F.relu(self.r3(x))))
        five = F.relu(self.b5(F.relu(self.r5(x))))
        return torch.cat([F.relu(self.b1(x)), three, five, F.relu(self.pp(pooled))], 1)


@pytest.mark.parametrize(
    "count",
    [inception_params_by_branch, inception_params_numpy, inception_params_closed_form],
    ids=lambda f: f.__name__,
)
def test_inception_counts_in_other_styles_keep_full_marks(count):
    passes_visible_and_hidden(arch.check_inception_params, count)


@pytest.mark.parametrize("module", [ListInception, SamePaddingInception], ids=lambda c: c.__name__)
def test_inception_modules_in_other_styles_keep_full_marks(module):
    passes_visible_and_hidden(arch.check_inception, module)


# --------------------------------------------------------------------------------------------------- DenseNet


class StepwiseDenseBlock(nn.Module):
    """Layers registered with ``add_module`` and reached by name; the features concatenated step by step."""

    def __init__(self, in_ch: int, growth: int, n_layers: int) -> None:
        super().__init__()
        self.n_layers = n_layers
        for i in range(n_layers):
            channels = in_ch + i * growth
            self.add_module(f"norm{i}", nn.BatchNorm2d(channels))
            self.add_module(f"conv{i}", nn.Conv2d(channels, growth, kernel_size=3, padding=1, bias=False))
        self.out_channels = in_ch + n_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_layers):
            new = getattr(self, f"conv{i}")(F.relu(getattr(self, f"norm{i}")(x)))
            x = torch.cat((x, new), 1)
        return x


class ListDenseBlock(nn.Module):
    """A growing list of features concatenated for each layer and at the end; ``out_channels`` a property."""

    def __init__(self, in_ch: int, growth: int, n_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(n_layers):
            c = in_ch + i * growth
            self.layers.append(
                nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, growth, 3, 1, 1, bias=False))
            )

    @property
    def out_channels(self) -> int:
        return self.layers[0][0].num_features + len(self.layers) * self.layers[0][2].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class SamePaddingDenseBlock(nn.Module):
    """``padding="same"`` on each layer's convolution."""

    def __init__(self, in_ch: int, growth: int, n_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.BatchNorm2d(in_ch + i * growth),
                nn.ReLU(),
                nn.Conv2d(in_ch + i * growth, growth, 3, padding="same", bias=False),
            )
            for i in range(n_layers)
        )
        self.out_channels = in_ch + n_layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], 1)
        return x


class FunctionalTransition(nn.Module):
    """ReLU and pooling as functions in ``forward``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_ch)
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), kernel_size=2, stride=2)


class ValidPaddingTransition(nn.Module):
    """One Sequential, the 1x1 convolution with ``padding="valid"``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.ReLU(True),
            nn.Conv2d(in_ch, out_ch, 1, padding="valid", bias=False),
            nn.AvgPool2d(2, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.mark.parametrize("block", [StepwiseDenseBlock, ListDenseBlock, SamePaddingDenseBlock], ids=lambda c: c.__name__)
def test_dense_blocks_in_other_styles_keep_full_marks(block):
    passes_visible_and_hidden(arch.check_dense_block, block)


@pytest.mark.parametrize("block", [FunctionalTransition, ValidPaddingTransition], ids=lambda c: c.__name__)
def test_transitions_in_other_styles_keep_full_marks(block):
    passes_visible_and_hidden(arch.check_transition, block)


# ------------------------------------------------------------------------------------------------ augmentation


def hflip_v2(image: torch.Tensor, mask: torch.Tensor) -> Pair:
    """``v2.functional.horizontal_flip`` on ``tv_tensors``."""
    return TF.horizontal_flip(tv_tensors.Image(image)), TF.horizontal_flip(tv_tensors.Mask(mask))


def rotate_v2(image: torch.Tensor, mask: torch.Tensor, angle: float) -> Pair:
    """``v2.functional.rotate``: bilinear asked for the image, a ``Mask`` resampled by nearest neighbours."""
    rotated = TF.rotate(tv_tensors.Image(image), angle, interpolation=InterpolationMode.BILINEAR)
    return rotated, TF.rotate(tv_tensors.Mask(mask), angle)


def resized_crop_v2(
    image: torch.Tensor, mask: torch.Tensor, top: int, left: int, height: int, width: int, size: int
) -> Pair:
    """``v2.functional.resized_crop`` on an ``Image`` and a ``Mask``."""
    cropped = TF.resized_crop(tv_tensors.Image(image), top, left, height, width, [size, size])
    return cropped, TF.resized_crop(tv_tensors.Mask(mask), top, left, height, width, [size, size])


def hflip_v1(image: torch.Tensor, mask: torch.Tensor) -> Pair:
    """``torch.flip`` along the width, given as a positive axis."""
    return torch.flip(image, dims=[2]), torch.flip(mask, dims=[1])


def rotate_v1(image: torch.Tensor, mask: torch.Tensor, angle: float) -> Pair:
    """The v1 functional ``rotate`` on plain tensors, ``InterpolationMode.NEAREST`` for the mask."""
    rotated = TF1.rotate(image, angle, interpolation=InterpolationMode.BILINEAR)
    return rotated, TF1.rotate(mask.unsqueeze(0), angle, interpolation=InterpolationMode.NEAREST).squeeze(0)


def resized_crop_v1(
    image: torch.Tensor, mask: torch.Tensor, top: int, left: int, height: int, width: int, size: int
) -> Pair:
    """The v1 functional ``resized_crop`` on plain tensors, the mask with a channel axis added."""
    cropped = TF1.resized_crop(image, top, left, height, width, [size, size], antialias=True)
    nearest = InterpolationMode.NEAREST
    return cropped, TF1.resized_crop(mask[None], top, left, height, width, [size, size], interpolation=nearest)[0]


def rotate_meshgrid(image: torch.Tensor, mask: torch.Tensor, angle: float) -> Pair:
    """The sampling grid built by hand from pixel centres in [-1, 1]."""
    _, h, w = image.shape
    t = math.radians(angle)
    ys = (torch.arange(h, dtype=torch.float32) * 2 + 1) / h - 1
    xs = (torch.arange(w, dtype=torch.float32) * 2 + 1) / w - 1
    v, u = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([u * math.cos(t) - v * math.sin(t) * h / w, u * math.sin(t) * w / h + v * math.cos(t)], -1)
    rotated = F.grid_sample(image[None], grid[None], mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    labels = F.grid_sample(mask[None, None].to(torch.float32), grid[None], mode="nearest", align_corners=False)
    return rotated, labels[0, 0].to(torch.int64)


def resized_crop_nearest_exact(
    image: torch.Tensor, mask: torch.Tensor, top: int, left: int, height: int, width: int, size: int
) -> Pair:
    """The mask resized with ``mode="nearest-exact"`` (nearest neighbours at the pixel centres)."""
    window = image[..., top : top + height, left : left + width]
    labels = mask[top : top + height, left : left + width]
    resized = F.interpolate(window.unsqueeze(0), (size, size), mode="bilinear", align_corners=False).squeeze(0)
    labels = F.interpolate(labels[None, None].double(), (size, size), mode="nearest-exact").squeeze().long()
    return resized, labels


def cutout_multiplicative(image: torch.Tensor, mask: torch.Tensor, top: int, left: int, size: int) -> Pair:
    """A 0/1 mask of index comparisons (no clamping needed: the comparisons clip the square)."""
    h, w = image.shape[-2:]
    rows, cols = torch.arange(h)[:, None], torch.arange(w)[None, :]
    hole = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return image * (~hole).to(image.dtype), mask


def brightness_v2(image: torch.Tensor, mask: torch.Tensor, factor: float) -> Pair:
    """``v2.functional.adjust_brightness``."""
    return TF.adjust_brightness(image, factor), mask


def noise_normal_(image: torch.Tensor, mask: torch.Tensor, std: float, generator: torch.Generator) -> Pair:
    """The noise drawn in place by ``normal_`` with its scale."""
    noise = torch.empty_like(image).normal_(0.0, std, generator=generator)
    return torch.clamp(image + noise, 0.0, 1.0), mask


def noise_unpacked_shape(image: torch.Tensor, mask: torch.Tensor, std: float, generator: torch.Generator) -> Pair:
    """``torch.randn(*shape)`` scaled from the left, ``clamp(min=, max=)``."""
    return (image + std * torch.randn(*image.shape, generator=generator)).clamp(min=0, max=1), mask


@pytest.mark.parametrize(
    "functions",
    [
        (hflip_v2, rotate_v2, resized_crop_v2),
        (hflip_v1, rotate_v1, resized_crop_v1),
        (hflip_v1, rotate_meshgrid, resized_crop_nearest_exact),
    ],
    ids=["v2 on tv_tensors", "v1 on tensors", "by hand, nearest-exact"],
)
def test_geometric_transforms_in_other_styles_keep_full_marks(functions):
    passes_visible_and_hidden(arch.check_geometric, *functions)


@pytest.mark.parametrize("noise", [noise_normal_, noise_unpacked_shape], ids=lambda f: f.__name__)
def test_photometric_transforms_in_other_styles_keep_full_marks(noise):
    arch.check_photometric(cutout_multiplicative, brightness_v2, noise)


#: random_augment as a notebook cell: several parameters drawn at once, the transforms called with keywords in
#: another order (the recorder must read them by name).
RANDOM_AUGMENT_KEYWORDS = """
import torch


def random_augment(image, mask, seed):
    g = torch.Generator()
    g.manual_seed(seed)
    H, W = image.shape[1:]
    u = torch.rand(4, generator=g)  # flip, angle, scale and brightness drawn at once
    if u[0] < 0.5:
        image, mask = hflip(image=image, mask=mask)
    image, mask = rotate(image=image, mask=mask, angle=(u[1] * 60 - 30).item())
    side = int(H * (0.6 + 0.4 * u[2].item()))
    top = torch.randint(0, H - side + 1, (1,), generator=g).item()
    left = torch.randint(0, W - side + 1, (1,), generator=g).item()
    image, mask = resized_crop(image, mask, size=H, width=side, height=side, left=left, top=top)
    k = int(torch.randint(1, H // 4 + 1, (), generator=g))
    y0, x0 = torch.randint(0, H - k + 1, (2,), generator=g).tolist()
    image, mask = cutout(image, mask, size=k, top=y0, left=x0)
    image, mask = adjust_brightness(image, mask, factor=0.8 + 0.4 * u[3].item())
    return add_noise(image, mask, generator=g, std=0.03)
"""

#: random_augment with its parameters drawn as tensors by ``uniform_`` and passed on as they are.
RANDOM_AUGMENT_TENSORS = """
import torch


def random_augment(image, mask, seed):
    g = torch.Generator().manual_seed(seed)
    h, w = image.shape[-2:]
    if torch.rand((), generator=g) < 0.5:
        image, mask = hflip(image, mask)
    image, mask = rotate(image, mask, torch.empty(()).uniform_(-30, 30, generator=g))
    side = int(round(float(h * torch.empty(()).uniform_(0.6, 1.0, generator=g))))
    top, left = torch.randint(h - side + 1, (), generator=g), torch.randint(w - side + 1, (), generator=g)
    image, mask = resized_crop(image, mask, int(top), int(left), side, side, h)
    k = int(torch.randint(1, h // 4 + 1, (), generator=g))
    t, l = torch.randint(0, h - k + 1, (), generator=g), torch.randint(0, w - k + 1, (), generator=g)
    image, mask = cutout(image, mask, int(t), int(l), k)
    image, mask = adjust_brightness(image, mask, torch.empty(()).uniform_(0.8, 1.2, generator=g).item())
    return add_noise(image, mask, 0.03, g)
"""


#: random_augment calling the notebook's rotation and crop, with the flip, the cut-out, the brightness and the noise
#: written inline (the check reads them from the torch calls).
RANDOM_AUGMENT_INLINE = """
import torch


def random_augment(image, mask, seed):
    g = torch.Generator().manual_seed(seed)
    h, w = image.shape[-2:]
    if torch.rand(1, generator=g).item() < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    image, mask = rotate(image, mask, 60 * torch.rand(1, generator=g).item() - 30)
    side = round(h * (0.6 + 0.4 * torch.rand(1, generator=g).item()))
    top, left = (int(v) for v in torch.randint(0, h - side + 1, (2,), generator=g))
    image, mask = resized_crop(image, mask, top, left, side, side, h)
    k = int(torch.randint(1, h // 4 + 1, (1,), generator=g))
    top, left = (int(v) for v in torch.randint(0, h - k + 1, (2,), generator=g))
    image = image.clone()
    image[:, top : top + k, left : left + k] = 0
    factor = 0.8 + 0.4 * torch.rand(1, generator=g).item()
    image = torch.clamp(image * factor, 0, 1)
    image = torch.clamp(image + 0.03 * torch.randn(image.shape, generator=g), 0, 1)
    return image, mask
"""


def notebook_random_augment(source: str, transforms: dict[str, Callable]) -> Callable:
    """``random_augment`` defined as in a notebook: in a namespace that holds the transforms it calls."""
    namespace: dict[str, object] = dict(transforms)
    exec(compile(source, "<random_augment cell>", "exec"), namespace)
    return namespace["random_augment"]  # type: ignore[return-value]


TRANSFORMS_V2 = {
    "hflip": hflip_v2,
    "rotate": rotate_v2,
    "resized_crop": resized_crop_v2,
    "cutout": cutout_multiplicative,
    "adjust_brightness": brightness_v2,
    "add_noise": noise_normal_,
}
TRANSFORMS_BY_HAND = {
    "hflip": hflip_v1,
    "rotate": rotate_meshgrid,
    "resized_crop": resized_crop_nearest_exact,
    "cutout": cutout_multiplicative,
    "adjust_brightness": brightness_v2,
    "add_noise": noise_unpacked_shape,
}


@pytest.mark.parametrize(
    "source, transforms",
    [
        (RANDOM_AUGMENT_KEYWORDS, TRANSFORMS_V2),
        (RANDOM_AUGMENT_TENSORS, TRANSFORMS_BY_HAND),
        (RANDOM_AUGMENT_INLINE, TRANSFORMS_BY_HAND),
    ],
    ids=["keywords in another order", "tensor parameters", "four transforms inline"],
)
def test_random_augment_in_other_styles_keeps_full_marks(source, transforms):
    random_augment = notebook_random_augment(source, transforms)
    passes_visible_and_hidden(arch.check_random_augment, random_augment)


def test_the_parameters_passed_by_keyword_are_read_by_name():
    """The keyword calls are recorded (not skipped): a cut-out side out of range, passed by keyword, is named."""
    source = RANDOM_AUGMENT_KEYWORDS.replace("cutout(image, mask, size=k,", "cutout(image, mask, size=H // 2 + k,")
    random_augment = notebook_random_augment(source, TRANSFORMS_V2)
    fails(arch.check_random_augment, random_augment, phrase="a random side between 1 and H/4")


@pytest.mark.parametrize(
    "old, new, phrase",
    [
        ("0.8 + 0.4 * torch.rand", "0.5 + 1.0 * torch.rand", "draw each from [0.8, 1.2]"),
        ("image = torch.clamp(image * factor, 0, 1)", "pass", "no brightness change found"),
        ("0.03 * torch.randn", "0.1 * torch.randn", "Gaussian noise with std=0.03"),
        ("torch.randint(1, h // 4 + 1,", "torch.randint(1, h // 2 + 1,", "a random side between 1 and H/4"),
        ("    if torch.rand(1, generator=g).item() < 0.5:\n", "    if True:\n", "flip with probability 0.5"),
    ],
    ids=["brightness range", "brightness left out", "noise scale", "cut-out side", "flip always"],
)
def test_the_parameters_of_transforms_written_inline_are_read(old, new, phrase):
    """Written inline, the transforms' parameters are still checked: each wrong one is named."""
    assert old in RANDOM_AUGMENT_INLINE
    random_augment = notebook_random_augment(RANDOM_AUGMENT_INLINE.replace(old, new), TRANSFORMS_BY_HAND)
    fails(arch.check_random_augment, random_augment, phrase=phrase)


# ----------------------------------------------------------------------------- the small ResNet and its loop


class Standardize(nn.Module):
    """The notebook's ``Standardize``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(dim=(-2, -1), keepdim=True)) / (x.std(dim=(-2, -1), keepdim=True) + 1e-3)


class SmallResNet(nn.Module):
    """A class with a stem, stages built in a loop, and functional pooling."""

    def __init__(self, num_classes: int, width: int) -> None:
        super().__init__()
        self.standardize = Standardize()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        stages, channels = [], width
        for multiple, stride in ((1, 1), (2, 2), (4, 2)):
            stages.append(BasicBlock(channels, multiple * width, stride))
            channels = multiple * width
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(self.standardize(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def make_resnet(num_classes: int = 4, width: int = 16) -> nn.Module:
    """The network as an instance of its own class."""
    return SmallResNet(num_classes, width)


def test_a_resnet_class_with_stages_built_in_a_loop_keeps_full_marks():
    arch.check_make_resnet(make_resnet)


def evaluate_over_a_loader(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256
) -> torch.Tensor:
    """A DataLoader, ``torch.inference_mode()``, and the accuracy left a 0-d tensor on the model's device."""
    device = next(model.parameters()).device
    model.eval()
    correct, total = 0, 0
    with torch.inference_mode():
        for x, y in DataLoader(TensorDataset(images, labels), batch_size=batch_size):
            x, y = x.to(device), y.to(device)
            correct += (model(x).argmax(dim=1) == y).sum()
            total += y.numel()
    return correct / total


def evaluate_numpy_scalar(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256
) -> np.float32:
    """Predictions gathered in NumPy: an ``np.float32``."""
    device = next(model.parameters()).device
    model.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            predictions.append(model(images[start : start + batch_size].to(device)).argmax(1).cpu().numpy())
    return (np.concatenate(predictions) == labels.numpy()).mean(dtype=np.float32)


def evaluate_numpy_array(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256
) -> np.ndarray:
    """``Tensor.split`` into batches, the accuracy a 0-d NumPy array."""
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(batch.to(device)).argmax(1).cpu() for batch in images.split(batch_size)])
    return (predictions == labels).float().mean().numpy()


@pytest.mark.parametrize(
    "evaluate", [evaluate_over_a_loader, evaluate_numpy_scalar, evaluate_numpy_array], ids=lambda f: f.__name__
)
def test_evaluations_in_other_styles_keep_full_marks(evaluate):
    arch.check_evaluate(evaluate)


def augment_with_where(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The flips chosen by ``torch.where``, each image turned on its own."""
    n = images.shape[0]
    flip = torch.rand(n, generator=generator) < 0.5
    turns = torch.randint(4, (n,), generator=generator)
    flipped = torch.where(flip[:, None, None, None], images.flip(3), images)
    return torch.stack([torch.rot90(image, int(k), dims=[1, 2]) for image, k in zip(flipped, turns)])


def augment_turns_drawn_first(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The turns drawn before the flips (the task leaves the order of the draws open), flips by ``randint``."""
    turns = torch.randint(0, 4, (len(images),), generator=generator)
    flips = torch.randint(0, 2, (len(images),), generator=generator).bool()
    out = images.clone()
    out[flips] = torch.flip(out[flips], dims=(-1,))
    for k in range(1, 4):
        chosen = turns == k
        out[chosen] = out[chosen].rot90(k, (-2, -1))
    return out


@pytest.mark.parametrize("augment", [augment_with_where, augment_turns_drawn_first], ids=lambda f: f.__name__)
def test_batch_augmentations_in_other_styles_keep_full_marks(augment):
    arch.check_augment_batch(augment)


def train_over_a_loader(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    budget: Budget,
    augment: bool = True,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[float]:
    """A DataLoader shuffled by a seeded generator, cycled until the budget is spent; the augmentation drawn from the
    same generator; ``zero_grad(set_to_none=True)``; ``nn.CrossEntropyLoss``."""
    device = next(model.parameters()).device
    g = torch.Generator()
    g.manual_seed(seed)
    loader = DataLoader(
        TensorDataset(images, labels), batch_size=budget.batch_size, shuffle=True, generator=g, drop_last=True
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=budget.steps)
    criterion = nn.CrossEntropyLoss()
    losses: list[float] = []
    model.train()
    while len(losses) < budget.steps:
        for x, y in loader:
            if len(losses) == budget.steps:
                break
            if augment:
                x = augment_with_where(x, g)
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
    return losses


def train_detached_losses(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    budget: Budget,
    augment: bool = True,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[torch.Tensor]:
    """Shuffled epochs of ``torch.randperm``, OneCycleLR given epochs and steps per epoch, and the losses kept as
    detached tensors."""
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=1, steps_per_epoch=budget.steps)
    model.train()
    losses, order, position = [], torch.randperm(len(images), generator=g), 0
    for _ in range(budget.steps):
        if position + budget.batch_size > len(order):
            order, position = torch.randperm(len(images), generator=g), 0
        index = order[position : position + budget.batch_size]
        position += budget.batch_size
        x = augment_turns_drawn_first(images[index], g) if augment else images[index]
        loss = F.cross_entropy(model(x.to(device)), labels[index].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.detach().cpu())
    return losses


def train_numpy_losses(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    budget: Budget,
    augment: bool = True,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[np.float32]:
    """The losses returned as NumPy floats."""
    return [np.float32(v) for v in train_over_a_loader(model, images, labels, budget, augment, lr, seed)]


@pytest.mark.parametrize(
    "train", [train_over_a_loader, train_detached_losses, train_numpy_losses], ids=lambda f: f.__name__
)
def test_training_loops_in_other_styles_keep_full_marks(train):
    arch.check_train(train)


# ------------------------------------------------------------------------------------- mistakes, each named


class NormAfterSum(nn.Module):
    """BatchNorm applied to the sum: ReLU(BN(conv(...) + shortcut(x)))."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out) + self.shortcut(x)))


def test_batchnorm_after_the_addition_is_named():
    fails(arch.check_basic_block, NormAfterSum, phrase="BatchNorm placed after the addition")


def test_a_projection_without_batchnorm_is_named():
    class ConvOnlyShortcut(BasicBlock):
        def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
            super().__init__(in_ch, out_ch, stride)
            if stride != 1 or in_ch != out_ch:
                self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)

    fails(arch.check_basic_block, ConvOnlyShortcut, phrase="the projection shortcut has no BatchNorm")


def test_the_stride_on_the_wrong_convolution_is_named():
    class StrideOnSecond(BasicBlock):
        def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
            super().__init__(in_ch, out_ch, stride)
            self.body[0] = nn.Conv2d(in_ch, out_ch, 3, stride=1, padding=1, bias=False)
            self.body[3] = nn.Conv2d(out_ch, out_ch, 3, stride=stride, padding=1, bias=False)

    fails(arch.check_basic_block, StrideOnSecond, phrase="the stride is on the second 3x3 convolution")

    class StrideOnFirstOneByOne(LoopBottleneck):
        def __init__(self, in_ch: int, mid_ch: int, stride: int = 1) -> None:
            super().__init__(in_ch, mid_ch, stride)
            self.residual[0] = nn.Conv2d(in_ch, mid_ch, 1, stride=stride, bias=False)
            self.residual[3] = nn.Conv2d(mid_ch, mid_ch, 3, padding=1, bias=False)

    fails(arch.check_bottleneck, StrideOnFirstOneByOne, phrase="the stride is on a 1x1 convolution of F")


def test_a_dense_block_that_returns_only_the_new_features_is_named():
    class OnlyNew(ListDenseBlock):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = [x]
            for layer in self.layers:
                features.append(layer(torch.cat(features, 1)))
            return torch.cat(features[1:], 1)

    fails(arch.check_dense_block, OnlyNew, phrase="the block returns only the new features")


def test_inception_branches_concatenated_on_the_batch_axis_are_named():
    class BatchAxis(ListInception):
        def forward(self, x):
            return torch.cat([branch(x) for branch in self.branches])

    fails(arch.check_inception, BatchAxis, phrase="the branches are concatenated along dimension 0")


def test_a_rotation_that_leaves_the_mask_or_resamples_the_image_by_nearest_neighbours_is_named():
    def image_only(image, mask, angle):
        return rotate_v2(image, mask, angle)[0], mask.clone()

    fails(arch.check_geometric, hflip_v2, image_only, resized_crop_v2, phrase="the mask is returned as it was")

    def library_default(image, mask, angle):  # v2's rotate resamples a plain tensor by nearest neighbours
        return TF.rotate(image, angle), TF.rotate(tv_tensors.Mask(mask), angle)

    fails(arch.check_geometric, hflip_v2, library_default, resized_crop_v2, phrase="resampled with nearest")


def test_random_augment_that_seeds_the_global_random_state_is_named():
    source = RANDOM_AUGMENT_TENSORS.replace(
        "g = torch.Generator().manual_seed(seed)", "torch.manual_seed(seed)\n    g = torch.default_generator"
    )
    random_augment = notebook_random_augment(source, TRANSFORMS_V2)
    fails(arch.check_random_augment, random_augment, phrase="changed torch's global random state")


def test_one_symmetry_for_the_whole_batch_is_named():
    def whole_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if torch.rand(1, generator=generator) < 0.5:
            images = images.flip(-1)
        return torch.rot90(images, int(torch.randint(0, 4, (1,), generator=generator)), (-2, -1))

    fails(arch.check_augment_batch, whole_batch, phrase="one random symmetry drawn for the whole batch")


def test_an_accuracy_averaged_over_batches_is_named():
    def mean_of_batches(model, images, labels, batch_size=256):
        device = next(model.parameters()).device
        model.eval()
        accuracies = []
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                predictions = model(images[i : i + batch_size].to(device)).argmax(1).cpu()
                accuracies.append((predictions == labels[i : i + batch_size]).float().mean().item())
        return sum(accuracies) / len(accuracies)

    fails(arch.check_evaluate, mean_of_batches, phrase="the mean of the batches' accuracies")


def loop_with(reduction: str = "mean", clip: float | None = None) -> Callable:
    """The task's loop, with the loss's reduction and gradient clipping as given."""

    def train(model, images, labels, budget, augment=True, lr=3e-3, seed=0):
        g = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=budget.steps)
        device = next(model.parameters()).device
        model.train()
        losses = []
        for _ in range(budget.steps):
            index = torch.randint(0, len(images), (budget.batch_size,), generator=g)
            x = augment_with_where(images[index], g) if augment else images[index]
            loss = F.cross_entropy(model(x.to(device)), labels[index].to(device), reduction=reduction)
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        return losses

    return train


@pytest.mark.parametrize(
    "train, phrase",
    [
        (loop_with(reduction="sum"), "the loss is summed over the batch (reduction='sum')"),
        (loop_with(clip=1.0), "gradient clipping (clip_grad_norm_)"),
    ],
    ids=["summed loss", "gradient clipping"],
)
def test_rescaled_gradients_are_named(train, phrase):
    fails(arch.check_train, train, phrase=phrase)


def test_losses_that_keep_their_graphs_are_named():
    def keeps_graphs(model, images, labels, budget, augment=True, lr=3e-3, seed=0):
        g = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=budget.steps)
        model.train()
        losses = []
        for _ in range(budget.steps):
            index = torch.randint(0, len(images), (budget.batch_size,), generator=g)
            x = augment_with_where(images[index], g) if augment else images[index]
            loss = F.cross_entropy(model(x), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss)
        return losses

    fails(arch.check_train, keeps_graphs, phrase="keep their step's computation graph")
