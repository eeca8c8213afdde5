"""Correct code written in other common styles keeps full marks: every visible and hidden check passes.

- Assignment 1: CS231n-style layers (im2col as a copied matrix of columns, col2im with np.add.at), extended to
  dilation; pooling written with loops over the output.
- Assignment 2: U-Nets written like the popular open-source PyTorch implementation (``DoubleConv``, ``Down``, ``Up``
  and ``OutConv`` modules, the head wrapped in a small module, bilinear or transposed up-sampling, the size
  padding done inside the up block, the skip first or second in the concatenation).
- Assignment 3: ResNet's BasicBlock and Bottleneck, DenseNet's dense layer and transition and Inception's module
  transcribed from torchvision's source (``conv1``/``bn1``/``downsample`` names, in-place ReLUs, the shortcut
  defined first), to the assignment's specification; a training loop over shuffled epochs with Adam's decoupled
  weight decay and a one-cycle schedule written by hand, and an augmentation that turns before it flips.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks import architectures as arch
from autograder.checks import layers
from autograder.checks import unet as unet_checks

# --------------------------------------------------------------------------------- Assignment 1, CS231n style


def cs231n_output_size(i, k, s=1, p=0, d=1):
    return int((i + 2 * p - (d * (k - 1) + 1)) / s) + 1 if i + 2 * p >= d * (k - 1) + 1 else 0


def _im2col_indices(x_shape, kh, kw, padding, stride, dilation):
    n, c, h, w = x_shape
    out_h = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    out_w = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    i0 = np.tile(np.repeat(np.arange(kh) * dilation, kw), c)
    i1 = stride * np.repeat(np.arange(out_h), out_w)
    j0 = np.tile(np.arange(kw) * dilation, kh * c)
    j1 = stride * np.tile(np.arange(out_w), out_h)
    i = i0.reshape(-1, 1) + i1.reshape(1, -1)
    j = j0.reshape(-1, 1) + j1.reshape(1, -1)
    k = np.repeat(np.arange(c), kh * kw).reshape(-1, 1)
    return k, i, j, out_h, out_w


def cs231n_conv2d(x, w, b, stride=1, padding=0, dilation=1):
    f, c, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode="constant")
    k, i, j, out_h, out_w = _im2col_indices(x.shape, kh, kw, padding, stride, dilation)
    cols = xp[:, k, i, j]  # (N, C*kh*kw, Ho*Wo)
    cols = cols.transpose(1, 2, 0).reshape(c * kh * kw, -1)
    out = w.reshape(f, -1) @ cols + b.reshape(-1, 1)
    return out.reshape(f, out_h, out_w, x.shape[0]).transpose(3, 0, 1, 2)


def cs231n_conv2d_backward(dout, x, w, b, stride=1, padding=0, dilation=1):
    f, c, kh, kw = w.shape
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode="constant")
    k, i, j, out_h, out_w = _im2col_indices(x.shape, kh, kw, padding, stride, dilation)
    cols = xp[:, k, i, j].transpose(1, 2, 0).reshape(c * kh * kw, -1)
    dout_r = dout.transpose(1, 2, 3, 0).reshape(f, -1)
    db = dout.sum(axis=(0, 2, 3))
    dw = (dout_r @ cols.T).reshape(w.shape)
    dcols = (w.reshape(f, -1).T @ dout_r).reshape(c * kh * kw, -1, n).transpose(2, 0, 1)
    dxp = np.zeros_like(xp)
    np.add.at(dxp, (slice(None), k, i, j), dcols)
    return dxp[:, :, padding : padding + h, padding : padding + wd], dw, db


def loop_max_pool2d(x, kernel_size, stride):
    kh, kw = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    n, c, h, w = x.shape
    out = np.empty((n, c, (h - kh) // sh + 1, (w - kw) // sw + 1))
    for r in range(out.shape[2]):
        for q in range(out.shape[3]):
            out[:, :, r, q] = x[:, :, r * sh : r * sh + kh, q * sw : q * sw + kw].max(axis=(2, 3))
    return out


def loop_max_pool2d_backward(dout, x, kernel_size, stride):
    kh, kw = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    dx = np.zeros_like(x)
    for nn_ in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for r in range(dout.shape[2]):
                for q in range(dout.shape[3]):
                    window = x[nn_, ch, r * sh : r * sh + kh, q * sw : q * sw + kw]
                    a, e = np.unravel_index(np.argmax(window), window.shape)
                    dx[nn_, ch, r * sh + a, q * sw + e] += dout[nn_, ch, r, q]
    return dx


@pytest.mark.parametrize("hidden", [False, True])
def test_cs231n_style_layers_keep_full_marks(hidden):
    layers.check_conv_output_size(cs231n_output_size, hidden=hidden)
    layers.check_conv2d(cs231n_conv2d, hidden=hidden)
    for part in ("dx", "dw", "db"):
        layers.check_conv2d_backward(cs231n_conv2d_backward, part, hidden=hidden)
    layers.check_pool2d(loop_max_pool2d, "max", hidden=hidden)
    layers.check_pool2d_backward(loop_max_pool2d_backward, "max", hidden=hidden)
    if not hidden:
        layers.check_conv2d_backward_numerically(cs231n_conv2d_backward)


# ------------------------------------------------------------------------- Assignment 2, open-source U-Nets


class DoubleConv(nn.Module):
    """(convolution => [BN] => ReLU) * 2, as in the popular open-source implementation."""

    def __init__(self, in_channels, out_channels, mid_channels=None):
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class Up(nn.Module):
    """Upscaling then double conv; pads the upsampled map to the skip's size; ``skip_first`` orders the cat."""

    def __init__(self, in_channels, out_channels, bilinear=True, skip_first=True):
        super().__init__()
        self.skip_first = skip_first
        if bilinear:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                nn.Conv2d(in_channels, in_channels // 2, kernel_size=1),
            )
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        diff_y = x2.size()[2] - x1.size()[2]
        diff_x = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        x = torch.cat([x2, x1], dim=1) if self.skip_first else torch.cat([x1, x2], dim=1)
        return self.conv(x)


class OutConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


def open_source_unet(skip_first: bool, pad_input: bool):
    """A UNet class in the open-source style, with the assignment's constructor and attribute names."""

    class UNet(nn.Module):
        def __init__(self, in_channels, num_classes, depth=4, base_channels=16, up="transpose"):
            super().__init__()
            if up not in ("transpose", "bilinear"):
                raise ValueError(up)
            self.depth = depth
            widths = [base_channels * 2**k for k in range(depth + 1)]
            self.encoder = nn.ModuleList(
                [DoubleConv(in_channels if k == 0 else widths[k - 1], widths[k]) for k in range(depth)]
            )
            self.bottleneck = DoubleConv(widths[depth - 1], widths[depth])
            self.ups = nn.ModuleList(
                [Up(widths[k + 1], widths[k], up == "bilinear", skip_first) for k in reversed(range(depth))]
            )
            self.upsample = nn.ModuleList([u.up for u in self.ups])
            self.decoder = nn.ModuleList([u.conv for u in self.ups])
            self.head = OutConv(widths[0], num_classes)

        def forward(self, x):
            h, w = x.shape[-2:]
            m = 2**self.depth
            if pad_input:
                x = F.pad(x, (0, -w % m, 0, -h % m))
            skips = []
            for block in self.encoder:
                x = block(x)
                skips.append(x)
                x = F.max_pool2d(x, 2, ceil_mode=not pad_input)
            x = self.bottleneck(x)
            for up in self.ups:
                x = up(x, skips.pop())
            return self.head(x)[..., :h, :w]

    return UNet


@pytest.mark.parametrize("skip_first", [True, False], ids=["skip first", "skip second"])
@pytest.mark.parametrize("pad_input", [True, False], ids=["input padded", "padding inside the up block"])
def test_open_source_style_unets_keep_full_marks(skip_first, pad_input):
    UNet = open_source_unet(skip_first, pad_input)
    unet_checks.check_double_conv(DoubleConv)
    unet_checks.check_unet_shapes(UNet)
    unet_checks.check_unet_shapes(UNet, hidden=True)
    unet_checks.check_unet_skips(UNet)
    unet_checks.check_unet_head(UNet)
    unet_checks.check_unet_params(UNet)
    unet_checks.check_unet_device_and_eval(UNet)


# --------------------------------------------------------------------- Assignment 3, torchvision transcribed


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class TvBasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock, with the downsample built inside from the assignment's arguments."""

    expansion = 1

    def __init__(self, in_ch, out_ch, stride=1):
        super().__init__()
        self.downsample = None
        if stride != 1 or in_ch != out_ch:  # defined first: registration order must not matter
            self.downsample = nn.Sequential(conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))
        self.conv1 = conv3x3(in_ch, out_ch, stride)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(out_ch, out_ch)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class TvBottleneck(nn.Module):
    """torchvision.models.resnet.Bottleneck (stride on the 3x3, "ResNet v1.5"), with its downsample built inside."""

    expansion = 4

    def __init__(self, in_ch, mid_ch, stride=1):
        super().__init__()
        width = mid_ch
        self.conv1 = conv1x1(in_ch, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, mid_ch * self.expansion)
        self.bn3 = nn.BatchNorm2d(mid_ch * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != mid_ch * self.expansion:
            self.downsample = nn.Sequential(
                conv1x1(in_ch, mid_ch * self.expansion, stride), nn.BatchNorm2d(mid_ch * self.expansion)
            )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class BasicConv2d(nn.Module):
    """torchvision.models.inception's BasicConv2d, without its BatchNorm (the assignment's convolutions have biases)."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, **kwargs)

    def forward(self, x):
        return F.relu(self.conv(x), inplace=True)


class TvInception(nn.Module):
    """torchvision.models.googlenet.Inception's structure, to the assignment's specification (5x5 branch)."""

    def __init__(self, in_ch, c1, c3r, c3, c5r, c5, pool_proj, naive=False):
        super().__init__()
        self.naive = naive
        self.branch1 = BasicConv2d(in_ch, c1, kernel_size=1)
        if naive:
            self.branch2 = BasicConv2d(in_ch, c3, kernel_size=3, padding=1)
            self.branch3 = BasicConv2d(in_ch, c5, kernel_size=5, padding=2)
        else:
            self.branch2 = nn.Sequential(
                BasicConv2d(in_ch, c3r, kernel_size=1), BasicConv2d(c3r, c3, kernel_size=3, padding=1)
            )
            self.branch3 = nn.Sequential(
                BasicConv2d(in_ch, c5r, kernel_size=1), BasicConv2d(c5r, c5, kernel_size=5, padding=2)
            )
            self.branch4 = nn.Sequential(
                nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                BasicConv2d(in_ch, pool_proj, kernel_size=1),
            )

    def forward(self, x):
        pool = F.max_pool2d(x, 3, stride=1, padding=1) if self.naive else self.branch4(x)
        outputs = [self.branch1(x), self.branch2(x), self.branch3(x), pool]
        return torch.cat(outputs, 1)


class _DenseLayer(nn.Module):
    """torchvision.models.densenet._DenseLayer without its bottleneck (the assignment's BN-ReLU-conv3x3)."""

    def __init__(self, num_input_features, growth_rate):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, input):
        prev_features = [input] if isinstance(input, torch.Tensor) else input
        concated_features = torch.cat(prev_features, 1)
        return self.conv1(self.relu1(self.norm1(concated_features)))


class TvDenseBlock(nn.ModuleDict):
    """torchvision.models.densenet._DenseBlock: a ModuleDict of layers, each fed the list of all features so far."""

    def __init__(self, in_ch, growth, n_layers):
        super().__init__()
        for i in range(n_layers):
            self.add_module(f"denselayer{i + 1}", _DenseLayer(in_ch + i * growth, growth))
        self.out_channels = in_ch + n_layers * growth

    def forward(self, init_features):
        features = [init_features]
        for _, layer in self.items():
            features.append(layer(features))
        return torch.cat(features, 1)


class TvTransition(nn.Sequential):
    """torchvision.models.densenet._Transition."""

    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


@pytest.mark.parametrize("hidden", [False, True])
def test_torchvision_transcribed_blocks_keep_full_marks(hidden):
    arch.check_basic_block(TvBasicBlock, hidden=hidden)
    arch.check_bottleneck(TvBottleneck, hidden=hidden)
    arch.check_inception(TvInception, hidden=hidden)
    arch.check_dense_block(TvDenseBlock, hidden=hidden)
    arch.check_transition(TvTransition, hidden=hidden)


# ----------------------------------------------------------------- Assignment 3's loop, in a style of its own
def per_image_augment(images, generator):
    """A loop over the images, the turn first and a vertical flip after it (the solution flips, then turns)."""
    out = []
    for image in images:
        image = torch.rot90(image, int(torch.randint(4, (1,), generator=generator)), (1, 2))
        if torch.rand(1, generator=generator).item() < 0.5:
            image = torch.flip(image, dims=[1])
        out.append(image)
    return torch.stack(out)


def epoch_style_train(model, images, labels, budget, augment=True, lr=3e-3, seed=0):
    """Shuffled epochs (torch.randperm), Adam with decoupled weight decay, a one-cycle schedule written by hand
    (cosine warm-up and annealing, as OneCycleLR's defaults)."""
    import math

    g = torch.Generator()
    g.manual_seed(seed)
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4, decoupled_weight_decay=True)
    warm = int(0.3 * budget.steps)
    start, end = lr / 25, lr / 25 / 1e4

    def rate(step):
        if step <= warm:
            return start + (lr - start) * (1 - math.cos(math.pi * step / warm)) / 2
        return end + (lr - end) * (1 + math.cos(math.pi * (step - warm) / (budget.steps - 1 - warm))) / 2

    losses, order, position = [], torch.randperm(len(images), generator=g), 0
    model.train()
    for step in range(budget.steps):
        if position + budget.batch_size > len(images):
            order, position = torch.randperm(len(images), generator=g), 0
        batch = order[position : position + budget.batch_size]
        position += budget.batch_size
        x = per_image_augment(images[batch], g) if augment else images[batch]
        for group in optimizer.param_groups:
            group["lr"] = rate(step)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x.to(device)), labels[batch].to(device))
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    return losses


def test_an_epoch_style_training_loop_keeps_full_marks():
    arch.check_augment_batch(per_image_augment)
    arch.check_train(epoch_style_train)
