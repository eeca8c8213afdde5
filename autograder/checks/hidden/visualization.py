"""Assignment 4's references and hidden cases (grader only).

The references are the library lecture 03 calls, ``cnnlab.feature_visualization``, which the student edition does
not have. Each function here gives one visible or hidden case of a check (``autograder.checks.visualization``)
everything it compares the student's result with, through ``autograder.checks.expected``: the reference's result
and the results of the typical mistakes the check names. The hidden tests pass a seed other than 0; their stacks,
layers, targets and occlusion settings are here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cnnlab import feature_visualization

from ..references import guard_module

# ----------------------------------------------------------------------------------------------------------
# hidden cases (seed != 0)

#: Last layers of the top-k network of the hidden test (the first three are the visible test's).
TOPK_LAST_LAYERS = [(2, 2, 0, 1), (3, 1, 3, 3)]
CLASS_TARGETS = [1, 3, 0]
SALIENCY_TARGETS = [2, 2, 0, 3]
OCCLUSION_CASES = [(3, 5, 3, 0.5), (0, 6, 4, 0.2)]


def stacks(seed: int) -> list[list[tuple[int, int, int, int]]]:
    """The hidden receptive-field stacks: random, each ending in a dilation after a stride."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        layers = []
        for _ in range(int(rng.integers(2, 5))):
            k, s, d = int(rng.choice([2, 3, 5])), int(rng.choice([1, 2])), int(rng.choice([1, 2, 3]))
            layers.append((k, s, int(rng.integers(0, d * (k - 1) // 2 + 1)), d))
        layers.append((3, 1, 1, 2))  # always one dilation after a stride
        out.append(layers)
    return out


PENALTIES = {None: None, "l2": feature_visualization.l2_penalty, "tv": feature_visualization.tv_penalty}


# ----------------------------------------------------------------------------------------------------------
# filter grid


def _tile(tiles: np.ndarray, ncols: int, pad: int) -> np.ndarray:
    """Already normalised tiles ``[F, kh, kw(, 3)]`` placed as ``tile_filters`` places them."""
    n, kh, kw = tiles.shape[:3]
    rows = -(-n // ncols)
    grid = np.ones((rows * kh + (rows + 1) * pad, ncols * kw + (ncols + 1) * pad, *tiles.shape[3:]), np.float32)
    for k in range(n):
        r, q = divmod(k, ncols)
        grid[pad + r * (kh + pad) : pad + r * (kh + pad) + kh, pad + q * (kw + pad) : pad + q * (kw + pad) + kw] = (
            tiles[k]
        )
    return grid


def filter_grid(w: torch.Tensor, ncols: int, pad: int) -> dict[str, np.ndarray | None]:
    """The grid of ``w``, and the grids of the whole tensor (or each colour channel) normalised at once, and of
    grey filters scaled over all their channels instead of the channel shown."""
    w = w.detach()
    shown = w.permute(0, 2, 3, 1) if w.shape[1] == 3 else w[:, 0]
    whole = (shown - shown.min()) / (shown.max() - shown.min() + 1e-8)
    per_channel = all_channels = None
    if w.shape[1] == 3:
        lo = shown.amin(dim=(1, 2), keepdim=True)
        hi = shown.amax(dim=(1, 2), keepdim=True)
        per_channel = _tile(((shown - lo) / (hi - lo + 1e-8)).numpy(), ncols, pad)
    elif w.shape[1] > 1:
        lo = w.amin(dim=(1, 2, 3), keepdim=True)
        hi = w.amax(dim=(1, 2, 3), keepdim=True)
        all_channels = _tile(((w - lo) / (hi - lo + 1e-8))[:, 0].numpy(), ncols, pad)
    return {
        "expected": feature_visualization.tile_filters(w, ncols, pad),
        "whole": _tile(whole.numpy(), ncols, pad),
        "per_channel": per_channel,
        "all_channels": all_channels,
    }


# ----------------------------------------------------------------------------------------------------------
# receptive-field boxes

#: The mistakes ``check_receptive_field_box`` names, in the order of its messages.
BOX_MISTAKES = [dict(dilation=False), dict(jump=False), dict(padding=False), dict(inclusive=True)]


def _mistaken_box(layers, y, x, dilation=True, jump=True, padding=True, inclusive=False):
    r, j, start = 1, 1, 0
    for k, s, p, d in layers:
        r += (d if dilation else 1) * (k - 1) * (j if jump else 1)
        start -= p * j if padding else 0
        j *= s
    return start + j * y, start + j * x, start + j * y + r - int(inclusive), start + j * x + r - int(inclusive)


def _probe(layers, size, y, x):
    """Bounding box of the non-zero input gradient of output (y, x) of a positive linear stack."""
    mods = [nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False) for k, s, p, d in layers]
    net = nn.Sequential(*mods)
    for m in mods:
        nn.init.constant_(m.weight, 1.0)
    inp = torch.ones(1, 1, size, size, requires_grad=True)
    net(inp)[0, 0, y, x].backward()
    rows = torch.nonzero(inp.grad[0, 0].sum(dim=1))
    cols = torch.nonzero(inp.grad[0, 0].sum(dim=0))
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def _out_size(layers, size: int) -> int:
    for k, s, p, d in layers:
        size = (size + 2 * p - d * (k - 1) - 1) // s + 1
    return size


def receptive_field_box(layers) -> dict[str, object]:
    """An input size for ``layers``, the positions checked, and per position the box, the boxes of the named
    mistakes and, where the box lies inside the image, the support of the input gradient (the same box)."""
    r, j, _ = feature_visualization.receptive_field(layers)
    size = 2 * r + 4 * j
    out = _out_size(layers, size)
    positions = sorted({(0, 0), (out - 1, 0), (out // 2, out - 1), (out // 2, out // 3)})
    boxes, mistakes, probes = [], [], []
    for y, x in positions:
        box = feature_visualization.receptive_field_box(layers, y, x)
        top, left, bottom, right = box
        inside = top >= 0 and left >= 0 and bottom <= size and right <= size
        probe = _probe(layers, size, y, x) if inside else None
        assert probe is None or probe == box, (layers, y, x, probe, box)  # the arithmetic is autograd's answer
        boxes.append(box)
        mistakes.append([_mistaken_box(layers, y, x, **kw) for kw in BOX_MISTAKES])
        probes.append(probe)
    return {"positions": positions, "boxes": boxes, "mistakes": mistakes, "probes": probes}


# ----------------------------------------------------------------------------------------------------------
# top-k patches


@torch.no_grad()
def top_k_patches(net, images, channel, k, layers, fill) -> dict[str, object]:
    """The reference's ``(indices, positions, patches)``, and the indices of the k weakest images and of the images
    ranked by their mean response."""
    fmap = net(images)[:, channel].flatten(1)
    return {
        "expected": feature_visualization.top_k_patches(net, images, channel, k, layers, fill=fill),
        "weakest": fmap.amax(dim=1).argsort(stable=True)[:k],
        "by_mean": fmap.mean(dim=1).argsort(descending=True, stable=True)[:k],
    }


# ----------------------------------------------------------------------------------------------------------
# class maximisation


def tv_penalty(x: torch.Tensor) -> dict[str, torch.Tensor]:
    dh, dw = x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]
    return {
        "expected": feature_visualization.tv_penalty(x),
        "squares": dh.pow(2).mean(dim=(1, 2, 3)) + dw.pow(2).mean(dim=(1, 2, 3)),
        "sums": dh.abs().sum(dim=(1, 2, 3)) + dw.abs().sum(dim=(1, 2, 3)),
        "vertical_only": dh.abs().mean(dim=(1, 2, 3)),
    }


@torch.no_grad()
def class_objective(net, x, targets, penalty: str | None, lam: float) -> dict[str, torch.Tensor]:
    net.eval()
    fn = PENALTIES[penalty]
    logits = net(x)
    rows = torch.arange(len(x))
    pen = fn(x) if fn is not None else torch.zeros(len(x))
    return {
        "expected": feature_visualization.class_objective(net, x, targets, fn, lam),
        "wrong_sign": logits[rows, targets] + lam * pen,
        "softmax": logits.softmax(1)[rows, targets] - lam * pen,
        "no_lam": logits[rows, targets] - pen,
    }


def _adam_ascent(net, targets, penalty, lam, steps, lr, size, seed, *, mean=False, zero_grad=True):
    """``maximise_class`` with a mistake: the loss averaged over the images, or the gradients never zeroed."""
    net.eval()
    gen = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.02 * torch.randn(len(targets), 3, size, size, generator=gen)).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        objective = feature_visualization.class_objective(net, x, targets, penalty, lam)
        if zero_grad:
            optimizer.zero_grad()
        (-(objective.mean() if mean else objective.sum())).backward()
        optimizer.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()


def maximise_class(net, targets, penalty: str, lam: float, steps: int, lr: float, size: int, seed: int):
    fn = PENALTIES[penalty]
    return {
        "expected": feature_visualization.maximise_class(
            net, targets, penalty=fn, lam=lam, steps=steps, lr=lr, size=size, seed=seed
        ),
        "mean": _adam_ascent(net, targets, fn, lam, steps, lr, size, seed, mean=True),
        "no_zero_grad": _adam_ascent(net, targets, fn, lam, steps, lr, size, seed, zero_grad=False),
    }


# ----------------------------------------------------------------------------------------------------------
# DeepDream


def dream_step(net, image, layer: int, lr: float, shift: tuple[int, int]) -> dict[str, torch.Tensor | None]:
    net.eval()
    x = image.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(feature_visualization.layer_energy(net, x, layer), x)
    return {
        "expected": feature_visualization.dream_step(net, image, layer, lr, shift),
        "unshifted": feature_visualization.dream_step(net, image, layer, lr) if shift != (0, 0) else None,
        "no_normalisation": (image + lr * grad).clamp(0, 1),
        "not_clipped": image + lr * grad / (grad.abs().mean() + 1e-8),
        "descent": (image - lr * grad / (grad.abs().mean() + 1e-8)).clamp(0, 1),
        "norm": (image + lr * grad / (grad.norm() + 1e-8)).clamp(0, 1),
    }


def deepdream(net, photo, layer: int, seed: int, **kwargs) -> dict[str, torch.Tensor | None]:
    return {
        "expected": feature_visualization.deepdream(net, photo, layer, seed=seed, **kwargs),
        "unjittered": (
            feature_visualization.deepdream(net, photo, layer, seed=seed, **{**kwargs, "jitter": 0})
            if kwargs["jitter"]
            else None
        ),
    }


# ----------------------------------------------------------------------------------------------------------
# saliency and occlusion


def _input_gradient(net, x, y, fn):
    x = x.clone().requires_grad_(True)
    out = net(x)
    fn(out)[torch.arange(len(x)), y].sum().backward()
    return x.grad


def gradient_saliency(net, x, y) -> dict[str, torch.Tensor]:
    net.eval()
    grad = _input_gradient(net, x, y, lambda out: out)
    expected = feature_visualization.gradient_saliency(net, x, y)
    lo, hi = expected.amin(dim=(1, 2), keepdim=True), expected.amax(dim=(1, 2), keepdim=True)
    log_softmax = _input_gradient(net, x, y, lambda out: out.log_softmax(1)).abs().amax(dim=1)
    return {
        "expected": expected,
        "softmax": _input_gradient(net, x, y, lambda out: out.softmax(1)).abs().amax(dim=1),
        "log_softmax": log_softmax,
        "cross_entropy": log_softmax / len(x),  # F.cross_entropy's mean over the batch
        "scaled_by_max": expected / hi,
        "min_max": (expected - lo) / (hi - lo),
        "no_abs": grad.amax(dim=1),
        "sum": grad.abs().sum(dim=1),
        "mean": grad.abs().mean(dim=1),
        "channel0": grad.abs()[:, 0],
    }


def _occlusion_variant(net, image, label, patch, stride, fill, *, half=False, logits=False, summed=False, end=1):
    """The map with a mistake: the square centred on (i, j) (``half``), the logit's drop, the drops summed, or the
    corners running to ``range(0, h - patch + end, stride)`` (``end=0``: the last square missed; ``end=patch``:
    squares past the edge, cut off by it)."""
    h, w = image.shape[-2:]
    positions = [(i, j) for i in range(0, h - patch + end, stride) for j in range(0, w - patch + end, stride)]
    batch = image.repeat(len(positions), 1, 1, 1)
    for b, (i, j) in enumerate(positions):
        batch[b, :, i : i + patch, j : j + patch] = fill
    with torch.no_grad():
        score = (lambda out: out) if logits else (lambda out: out.softmax(1))
        drop = score(net(image[None]))[0, label] - score(net(batch))[:, label]
    heat, hits = torch.zeros(h, w), torch.zeros(h, w)
    k = patch // 2 if half else 0
    for d, (i, j) in zip(drop, positions):
        heat[max(i - k, 0) : i - k + patch, max(j - k, 0) : j - k + patch] += d
        hits[max(i - k, 0) : i - k + patch, max(j - k, 0) : j - k + patch] += 1
    return heat if summed else heat / hits.clamp_min(1)


def occlusion_map(net, image, label: int, patch: int, stride: int, fill: float) -> dict[str, torch.Tensor]:
    net.eval()
    return {
        "expected": feature_visualization.occlusion_map(net, image, label, patch=patch, stride=stride, fill=fill),
        "half": _occlusion_variant(net, image, label, patch, stride, fill, half=True),
        "logits": _occlusion_variant(net, image, label, patch, stride, fill, logits=True),
        "unfilled": _occlusion_variant(net, image, label, patch, stride, 0.5),
        "summed": _occlusion_variant(net, image, label, patch, stride, fill, summed=True),
        "last_missed": _occlusion_variant(net, image, label, patch, stride, fill, end=0),
        "past_the_edge": _occlusion_variant(net, image, label, patch, stride, fill, end=patch),
    }


# every function here is a reference: it works for the checks, never inside student code
guard_module(globals())
