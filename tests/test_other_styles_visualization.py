"""Assignment 4 (what a CNN sees) written in other common styles keeps full marks, and plausible mistakes are named.

Correct code, each style run through the visible (seed 0) and hidden checks:

- filter grids drawn with ``torchvision.utils.make_grid`` (``normalize=True, scale_each=True``, widened to
  ``ncols``), with NumPy loops, with a guarded division instead of ``+ 1e-8``, and with matplotlib's ``Normalize``;
- receptive-field boxes walked back from the unit to the input, and from float centres as in the usual guide to
  receptive-field arithmetic;
- top-k patches with ``torch.topk`` and a padded image, in NumPy under ``@torch.no_grad()``, and through a forward
  hook (``register_forward_hook``) in batches;
- total variation with ``torch.diff`` or ``F.l1_loss``; the class score with ``gather``; class maximisation with
  ``Adam(maximize=True)`` on an ``nn.Parameter``, with the model frozen (``requires_grad_(False)``) and
  ``x.data = x.data.clamp(0, 1)``, and with the model's mode restored afterwards;
- DeepDream steps as in the popular PyTorch DeepDream code (``nn.MSELoss`` against zeros, ``.backward()``,
  ``x.data +=``), as in Google's original notebook (roll the image, step by ``lr / mean|g| * g`` with no guard,
  roll back; the energy's norm, as other PyTorch ports take it), and with ``clamp_min(1e-8)`` as the guard and a
  ``shift=None`` default; a DeepDream loop over ``(h, w)`` sizes;
- saliency with ``torch.autograd.grad``, CS231n's ``compute_saliency_maps`` on a copy, one image at a time with
  the mode restored, and ``Variable`` with a one-hot output gradient;
- occlusion with loops over single images, with a batch built from masks and a baseline (as Captum does), and with
  ``F.unfold``/``F.fold``.

Mistakes (each fails, and the message names it): a grid only ``F`` tiles wide (``make_grid``'s columns), grey
filters scaled over all their channels, the k weakest images, the right images weakest first, images ranked by
their mean response, class maximisation in train mode, without ``zero_grad`` or on ``-objective.mean()``, a
DeepDream step in train mode, saliency of the cross-entropy loss or normalised to [0, 1], occlusion squares past the
edge, the last square missed or the drops summed, an occlusion map returned as a NumPy array, the caller's
``x`` made to require grad, and a decorated wrapper around the reference implementation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from autograder.checks import visualization as checks
from cnnlab import feature_visualization
from tests.support.failing import fails

HIDDEN_SEED = 314159
Layer = tuple[int, int, int, int]
Penalty = Callable[[torch.Tensor], torch.Tensor] | None


# ------------------------------------------------------------------------------------------------ filter grids


def _grid_shape(n: int, kh: int, kw: int, ncols: int, pad: int) -> tuple[int, int]:
    rows = math.ceil(n / ncols)
    return rows * kh + (rows + 1) * pad, ncols * kw + (ncols + 1) * pad


def grid_with_make_grid(weight: torch.Tensor, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """torchvision's ``make_grid`` scales each filter (``scale_each``) and tiles them; it makes a grid only
    ``min(nrow, F)`` tiles wide, so the grid is widened with white to ``ncols`` tiles."""
    w = weight.detach().cpu().float()
    rgb = w.shape[1] == 3
    if not rgb:
        w = w[:, :1]
    grid = torchvision.utils.make_grid(w, nrow=ncols, padding=pad, pad_value=1.0, normalize=True, scale_each=True)
    missing = ncols - min(ncols, len(w))
    grid = F.pad(grid, (0, missing * (w.shape[-1] + pad)), value=1.0)
    return (grid.permute(1, 2, 0) if rgb else grid[0]).numpy()


def grid_with_numpy_loops(weight: torch.Tensor, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """NumPy, one filter at a time: ``(f - f.min()) / (f.max() - f.min() + 1e-8)``."""
    w = weight.detach().cpu().numpy()
    tiles = np.transpose(w, (0, 2, 3, 1)) if w.shape[1] == 3 else w[:, 0]
    n, kh, kw = tiles.shape[:3]
    grid = np.ones(_grid_shape(n, kh, kw, ncols, pad) + tiles.shape[3:], dtype=np.float32)
    for k in range(n):
        f = tiles[k]
        f = (f - f.min()) / (f.max() - f.min() + 1e-8)
        y, x = pad + (k // ncols) * (kh + pad), pad + (k % ncols) * (kw + pad)
        grid[y : y + kh, x : x + kw] = f
    return grid


def grid_with_guarded_division(weight: torch.Tensor, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """No epsilon: a constant filter is drawn as zeros by a test instead."""
    w = weight.detach().float()
    shown = w.permute(0, 2, 3, 1) if w.shape[1] == 3 else w[:, 0]
    tiles = []
    for f in shown:
        spread = f.max() - f.min()
        tiles.append((f - f.min()) / spread if spread > 0 else torch.zeros_like(f))
    n, kh, kw = shown.shape[:3]
    grid = torch.ones(*_grid_shape(n, kh, kw, ncols, pad), *shown.shape[3:])
    for k, tile in enumerate(tiles):
        r, c = divmod(k, ncols)
        top, left = pad + r * (kh + pad), pad + c * (kw + pad)
        grid[top : top + kh, left : left + kw] = tile
    return grid.numpy()


def grid_with_matplotlib_normalize(weight: torch.Tensor, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """matplotlib's ``Normalize`` per filter, as ``cnnlab.plotting.filter_grid`` draws them."""
    from matplotlib.colors import Normalize

    w = weight.detach().cpu().numpy()
    shown = w.transpose(0, 2, 3, 1) if w.shape[1] == 3 else w[:, 0]
    tiles = [np.asarray(Normalize()(f)) for f in shown]
    kh, kw = tiles[0].shape[:2]
    grid = np.ones(_grid_shape(len(tiles), kh, kw, ncols, pad) + tiles[0].shape[2:], np.float32)
    for k, f in enumerate(tiles):
        r, c = divmod(k, ncols)
        grid[pad + r * (kh + pad) :][:kh, pad + c * (kw + pad) :][:, :kw] = f
    return grid


# ------------------------------------------------------------------------------------------------ receptive fields


def box_walking_back(layers: list[Layer], y: int, x: int) -> tuple[int, int, int, int]:
    """From the unit back to the input: a layer maps its rows [a, b) to inputs [a s - p, (b - 1) s - p + span)."""
    top, left, bottom, right = y, x, y + 1, x + 1
    for k, s, p, d in reversed(layers):
        span = d * (k - 1) + 1
        top, bottom = top * s - p, (bottom - 1) * s - p + span
        left, right = left * s - p, (right - 1) * s - p + span
    return top, left, bottom, right


def box_from_centres(layers: list[Layer], y: int, x: int) -> tuple[int, int, int, int]:
    """Float centres, as in the guide to receptive-field arithmetic: the first unit is centred at ``start``."""
    j, r, start = 1, 1, 0.5
    for k, s, p, d in layers:
        effective = d * (k - 1) + 1
        start += ((effective - 1) / 2 - p) * j
        r += (effective - 1) * j
        j *= s
    cy, cx = start + j * y, start + j * x
    return int(cy - r / 2), int(cx - r / 2), int(cy + r / 2), int(cx + r / 2)


# ------------------------------------------------------------------------------------------------ top-k patches


def topk_with_torch_topk(
    features: Callable, images: torch.Tensor, channel: int, k: int, layers: list[Layer], fill: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``torch.topk`` over each image's maximum, patches sliced from an image padded with ``fill``."""
    with torch.no_grad():
        fmap = features(images)[:, channel]
    width = fmap.shape[-1]
    best, where = fmap.reshape(len(fmap), -1).max(dim=1)
    _, idx = torch.topk(best, k)
    pos = torch.stack([torch.div(where[idx], width, rounding_mode="floor"), where[idx] % width], 1)
    boxes = [box_walking_back(layers, int(p), int(q)) for p, q in pos]
    h, w = images.shape[-2:]
    m = max(max(-t, -left, b - h, r - w, 0) for t, left, b, r in boxes)
    padded = F.pad(images, (m, m, m, m), value=fill)
    patches = [padded[i, :, t + m : b + m, left + m : r + m] for i, (t, left, b, r) in zip(idx.tolist(), boxes)]
    return idx, pos, torch.stack(patches)


@torch.no_grad()
def topk_numpy_decorated(
    features: Callable, images: torch.Tensor, channel: int, k: int, layers: list[Layer], fill: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NumPy under ``@torch.no_grad()``: ``argsort`` of the negated maxima, ``unravel_index``, pixel loops."""
    fmap = features(images)[:, channel].cpu().numpy()
    flat = fmap.reshape(len(fmap), -1)
    order = np.argsort(-flat.max(axis=1), kind="stable")[:k]
    pos = np.stack(np.unravel_index(flat[order].argmax(axis=1), fmap.shape[1:]), axis=1)
    h, w = images.shape[-2:]
    patches = []
    for i, (p, q) in zip(order, pos):
        top, left, bottom, right = box_walking_back(layers, int(p), int(q))
        patch = np.full((images.shape[1], bottom - top, right - left), fill, dtype=np.float32)
        for yy in range(max(top, 0), min(bottom, h)):
            for xx in range(max(left, 0), min(right, w)):
                patch[:, yy - top, xx - left] = images[i, :, yy, xx].numpy()
        patches.append(torch.from_numpy(patch))
    return torch.as_tensor(order), torch.as_tensor(pos), torch.stack(patches)


def topk_forward_hook(
    features: Callable, images: torch.Tensor, channel: int, k: int, layers: list[Layer], fill: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The map caught by a forward hook on the extractor's last module, in batches of 4; ``argsort``."""
    caught: list[torch.Tensor] = []
    last = list(features.modules())[-1] if isinstance(features, nn.Module) else None
    handle = last.register_forward_hook(lambda m, i, o: caught.append(o.detach())) if last is not None else None
    try:
        with torch.no_grad():
            outputs = [features(images[b : b + 4]) for b in range(0, len(images), 4)]
    finally:
        if handle is not None:
            handle.remove()
    fmap = torch.cat(caught or outputs)[:, channel]
    best, where = fmap.flatten(1).max(1)
    order = torch.argsort(best, descending=True)[:k]
    width = fmap.shape[-1]
    pos = torch.stack([where[order] // width, where[order] % width], 1)
    patches = [
        _crop(images[i], box_walking_back(layers, p, q), fill) for i, (p, q) in zip(order.tolist(), pos.tolist())
    ]
    return order, pos, torch.stack(patches)


def _crop(image: torch.Tensor, box: tuple[int, int, int, int], fill: float) -> torch.Tensor:
    top, left, bottom, right = box
    out = torch.full((image.shape[0], bottom - top, right - left), float(fill))
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(bottom, image.shape[1]), min(right, image.shape[2])
    if y1 > y0 and x1 > x0:
        out[:, y0 - top : y1 - top, x0 - left : x1 - left] = image[:, y0:y1, x0:x1]
    return out


# ------------------------------------------------------------------------------------------------ class maximisation


def tv_with_diff(x: torch.Tensor) -> torch.Tensor:
    """``torch.diff`` along rows and columns."""
    return torch.diff(x, dim=-2).abs().flatten(1).mean(1) + torch.diff(x, dim=-1).abs().flatten(1).mean(1)


def tv_with_l1_loss(x: torch.Tensor) -> torch.Tensor:
    """``F.l1_loss`` between shifted copies, unreduced, then a mean per image."""
    vertical = F.l1_loss(x[:, :, 1:], x[:, :, :-1], reduction="none").mean((1, 2, 3))
    return vertical + F.l1_loss(x[..., 1:], x[..., :-1], reduction="none").mean((1, 2, 3))


def objective_with_gather(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, penalty: Penalty = None, lam: float = 0.0
) -> torch.Tensor:
    """The class scores picked with ``gather``; a zero penalty when there is none."""
    scores = model(x).gather(1, targets.view(-1, 1).to(x.device)).squeeze(1)
    regulariser = penalty(x) if penalty is not None else torch.zeros_like(scores)
    return scores - lam * regulariser


def _start(targets: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 0.02 * torch.randn(len(targets), 3, size, size, generator=g)


def maximise_with_maximize_flag(
    model: nn.Module,
    targets: torch.Tensor,
    penalty: Penalty = None,
    lam: float = 0.0,
    steps: int = 200,
    lr: float = 0.05,
    size: int = 64,
    seed: int = 0,
) -> torch.Tensor:
    """``Adam(maximize=True)`` on the objective itself, an ``nn.Parameter`` on the model's device, ``.data`` clamped."""
    model.eval()
    device = next(model.parameters()).device
    image = nn.Parameter(_start(targets, size, seed).to(device))
    optimizer = torch.optim.Adam([image], lr=lr, maximize=True)
    for _ in range(steps):
        optimizer.zero_grad()
        objective_with_gather(model, image, targets, penalty, lam).sum().backward()
        optimizer.step()
        image.data.clamp_(0, 1)
    return image.detach()


def maximise_frozen_model(
    model: nn.Module,
    targets: torch.Tensor,
    penalty: Penalty = None,
    lam: float = 0.0,
    steps: int = 200,
    lr: float = 0.05,
    size: int = 64,
    seed: int = 0,
) -> torch.Tensor:
    """The model frozen (``requires_grad_(False)``), gradients cleared after the step, ``x.data`` replaced."""
    model.eval()
    model.requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(targets), 3, size, size, generator=g).mul(0.02).add(0.5)
    x.requires_grad_()
    optimizer = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        loss = -objective_with_gather(model, x, targets, penalty, lam).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        x.data = x.data.clamp(0, 1)
    return x.detach().clone()


def maximise_restoring_mode(
    model: nn.Module,
    targets: torch.Tensor,
    penalty: Penalty = None,
    lam: float = 0.0,
    steps: int = 200,
    lr: float = 0.05,
    size: int = 64,
    seed: int = 0,
) -> torch.Tensor:
    """Eval mode for the run, the caller's mode restored after; ``x.grad = None`` instead of ``zero_grad``."""
    was_training = model.training
    model.eval()
    try:
        x = _start(targets, size, seed).requires_grad_(True)
        optimizer = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            with torch.enable_grad():
                objective = objective_with_gather(model, x, targets, penalty, lam)
                x.grad = None
                (-objective).sum().backward()
            optimizer.step()
            with torch.no_grad():
                x.clamp_(min=0.0, max=1.0)
        return x.detach()
    finally:
        model.train(was_training)


# ------------------------------------------------------------------------------------------------ DeepDream


def dream_step_mse_data(
    model: nn.Module, x: torch.Tensor, layer: int, lr: float = 0.02, shift: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """As the popular PyTorch DeepDream: ``MSELoss`` against zeros, ``.backward()``, then ``x.data +=``."""
    model.eval()
    image = x.clone().detach().requires_grad_(True)
    activation = model.features(torch.roll(image, shifts=tuple(shift), dims=(2, 3)))[layer]
    nn.MSELoss(reduction="mean")(activation, torch.zeros_like(activation)).backward()
    grad = image.grad.data
    image.data += lr * grad / (grad.abs().mean() + 1e-8)
    image.data.clamp_(0, 1)
    return image.detach()


def dream_step_roll_back(
    model: nn.Module, x: torch.Tensor, layer: int, lr: float = 0.02, shift: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """As Google's notebook: roll the image, step by ``lr / mean|g| * g`` (no guard), roll back; the energy's norm
    (a positive multiple of the same gradient, which the normalisation removes)."""
    model.eval()
    dy, dx = shift
    src = torch.roll(x.detach(), shifts=(dy, dx), dims=(2, 3)).requires_grad_(True)
    model.features(src)[layer].norm().backward()
    g = src.grad
    stepped = (src + lr / g.abs().mean() * g).detach()
    return torch.roll(stepped, shifts=(-dy, -dx), dims=(2, 3)).clamp(0, 1)


def dream_step_clamp_guard(
    model: nn.Module, x: torch.Tensor, layer: int, lr: float = 0.02, shift: tuple[int, int] | None = None
) -> torch.Tensor:
    """``clamp_min(1e-8)`` as the guard, and ``shift=None`` standing for ``(0, 0)``."""
    shift = shift or (0, 0)
    model.eval()
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model.features(torch.roll(x, shift, (2, 3)))[layer].pow(2).mean(), x)
    return torch.clamp(x + lr * g / g.abs().mean().clamp_min(1e-8), 0, 1).detach()


def make_deepdream(step: Callable) -> Callable:
    """A DeepDream loop over ``(h, w)`` sizes that calls ``step``: no detail before the first octave, the detail
    resized with antialias too, a shift drawn only when there is jitter."""

    def deepdream(
        model: nn.Module,
        image: torch.Tensor,
        layer: int,
        octaves: int = 3,
        scale: float = 1.5,
        steps: int = 20,
        lr: float = 0.02,
        jitter: int = 6,
        seed: int = 0,
    ) -> torch.Tensor:
        model.eval()
        g = torch.Generator().manual_seed(seed)
        h, w = image.shape[-2:]
        detail = None
        for o in range(octaves - 1, -1, -1):
            shape = (round(h / scale**o), round(w / scale**o))
            base = F.interpolate(image, size=shape, mode="bilinear", antialias=True)
            if detail is None:
                detail = torch.zeros_like(base)
            else:
                detail = F.interpolate(detail, size=shape, mode="bilinear", antialias=True)
            x = torch.clamp(base + detail, 0, 1)
            for _ in range(steps):
                dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=g).tolist() if jitter else (0, 0)
                x = step(model, x, layer, lr, (dy, dx))
            detail = x - base
        return x.detach()

    return deepdream


# ------------------------------------------------------------------------------------------------ saliency


def saliency_autograd_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``gather`` and ``torch.autograd.grad`` on a clone."""
    model.eval()
    inputs = x.clone().requires_grad_()
    scores = model(inputs).gather(1, y.view(-1, 1)).squeeze()
    (grad,) = torch.autograd.grad(scores.sum(), inputs)
    return grad.abs().max(dim=1)[0]


def saliency_cs231n(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # noqa: N803 (CS231n's name)
    """CS231n's ``compute_saliency_maps`` on a copy: ``backward(torch.ones_like(scores))``."""
    model.eval()
    X = X.detach().clone()  # noqa: N806
    X.requires_grad_()
    scores = model(X).gather(1, y.view(-1, 1)).squeeze()
    scores.backward(torch.ones_like(scores))
    saliency, _ = torch.max(X.grad.data.abs(), dim=1)
    return saliency


def saliency_one_at_a_time(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One image per backward pass, the model's mode restored afterwards."""
    was_training = model.training
    model.eval()
    maps = []
    for xi, yi in zip(x, y):
        xi = xi.unsqueeze(0).detach().requires_grad_(True)
        model.zero_grad()
        model(xi)[0, yi].backward()
        maps.append(xi.grad[0].abs().amax(0))
    model.train(was_training)
    return torch.stack(maps)


def saliency_variable_one_hot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """An old tutorial's ``Variable``, and a one-hot output gradient."""
    from torch.autograd import Variable

    model.eval()
    v = Variable(x.data.clone(), requires_grad=True)
    out = model(v)
    out.backward(gradient=torch.zeros_like(out).scatter_(1, y[:, None], 1.0))
    return v.grad.abs().amax(1)


# ------------------------------------------------------------------------------------------------ occlusion


def occlusion_loops(
    model: nn.Module, image: torch.Tensor, label: int, patch: int = 12, stride: int = 4, fill: float = 0.5
) -> torch.Tensor:
    """One occluded image per forward pass."""
    model.eval()
    _, h, w = image.shape
    heat, count = torch.zeros(h, w), torch.zeros(h, w)
    with torch.no_grad():
        p0 = F.softmax(model(image.unsqueeze(0)), dim=1)[0, label]
        for i in range(0, h - patch + 1, stride):
            for j in range(0, w - patch + 1, stride):
                occluded = image.clone()
                occluded[:, i : i + patch, j : j + patch] = fill
                heat[i : i + patch, j : j + patch] += p0 - F.softmax(model(occluded.unsqueeze(0)), dim=1)[0, label]
                count[i : i + patch, j : j + patch] += 1
    return torch.where(count > 0, heat / count, torch.zeros_like(heat))


def occlusion_masks(
    model: nn.Module, image: torch.Tensor, label: int, patch: int = 12, stride: int = 4, fill: float = 0.5
) -> torch.Tensor:
    """As Captum's ``Occlusion``: masks, ``input * (1 - mask) + baseline * mask``, the unoccluded image first in
    the batch, the differences averaged over the windows covering each pixel."""
    model.eval()
    h, w = image.shape[-2:]
    rows, cols = (h - patch) // stride + 1, (w - patch) // stride + 1
    masks = torch.zeros(rows * cols, 1, h, w)
    for a in range(rows):
        for b in range(cols):
            masks[a * cols + b, :, a * stride : a * stride + patch, b * stride : b * stride + patch] = 1
    batch = image[None] * (1 - masks) + fill * masks
    with torch.no_grad():
        probs = torch.softmax(model(torch.cat([image[None], batch])), dim=-1)[:, label]
    drops = probs[0] - probs[1:]
    return (drops[:, None, None, None] * masks).sum(0)[0] / masks.sum(0)[0].clamp(min=1)


def occlusion_fold(
    model: nn.Module, image: torch.Tensor, label: int, patch: int = 12, stride: int = 4, fill: float = 0.5
) -> torch.Tensor:
    """``F.fold`` builds the masks and adds the drops up; ``F.unfold`` counts the windows."""
    model.eval()
    h, w = image.shape[-2:]
    cols = F.unfold(torch.ones(1, 1, h, w), patch, stride=stride)  # [1, patch * patch, L]
    n = cols.shape[-1]
    masks = F.fold(torch.eye(n)[:, None, :].expand(n, patch * patch, n), (h, w), patch, stride=stride).clamp(max=1)
    batch = torch.where(masks.bool(), torch.full_like(image[None].expand(n, -1, -1, -1), fill), image[None])
    with torch.no_grad():
        drop = model(image[None]).softmax(1)[0, label] - model(batch).softmax(1)[:, label]
    heat = F.fold(drop.view(1, 1, n).expand(1, patch * patch, n), (h, w), patch, stride=stride)[0, 0]
    return heat / F.fold(cols, (h, w), patch, stride=stride)[0, 0].clamp(min=1)


# ------------------------------------------------------------------------------------------------ correct styles

STYLES: dict[str, Callable[[int], None]] = {
    "grid_make_grid": lambda seed: checks.check_filter_grid(grid_with_make_grid, seed=seed),
    "grid_numpy_loops": lambda seed: checks.check_filter_grid(grid_with_numpy_loops, seed=seed),
    "grid_guarded_division": lambda seed: checks.check_filter_grid(grid_with_guarded_division, seed=seed),
    "grid_matplotlib_normalize": lambda seed: checks.check_filter_grid(grid_with_matplotlib_normalize, seed=seed),
    "box_walking_back": lambda seed: checks.check_receptive_field_box(box_walking_back, seed=seed),
    "box_from_centres": lambda seed: checks.check_receptive_field_box(box_from_centres, seed=seed),
    "topk_torch_topk": lambda seed: checks.check_top_k_patches(topk_with_torch_topk, seed=seed),
    "topk_numpy_decorated": lambda seed: checks.check_top_k_patches(topk_numpy_decorated, seed=seed),
    "topk_forward_hook": lambda seed: checks.check_top_k_patches(topk_forward_hook, seed=seed),
    "maximise_maximize_flag": lambda seed: checks.check_class_maximisation(
        tv_with_diff, objective_with_gather, maximise_with_maximize_flag, seed=seed
    ),
    "maximise_frozen_model": lambda seed: checks.check_class_maximisation(
        tv_with_l1_loss, objective_with_gather, maximise_frozen_model, seed=seed
    ),
    "maximise_restoring_mode": lambda seed: checks.check_class_maximisation(
        tv_with_l1_loss, objective_with_gather, maximise_restoring_mode, seed=seed
    ),
    "dream_mse_data": lambda seed: checks.check_deepdream(
        dream_step_mse_data, make_deepdream(dream_step_mse_data), seed=seed
    ),
    "dream_google_roll_back": lambda seed: checks.check_deepdream(
        dream_step_roll_back, make_deepdream(dream_step_roll_back), seed=seed
    ),
    "dream_clamp_guard": lambda seed: checks.check_deepdream(
        dream_step_clamp_guard, make_deepdream(dream_step_clamp_guard), seed=seed
    ),
    "saliency_autograd_grad": lambda seed: checks.check_saliency(saliency_autograd_grad, seed=seed),
    "saliency_cs231n": lambda seed: checks.check_saliency(saliency_cs231n, seed=seed),
    "saliency_one_at_a_time": lambda seed: checks.check_saliency(saliency_one_at_a_time, seed=seed),
    "saliency_variable_one_hot": lambda seed: checks.check_saliency(saliency_variable_one_hot, seed=seed),
    "occlusion_loops": lambda seed: checks.check_occlusion(occlusion_loops, seed=seed),
    "occlusion_masks": lambda seed: checks.check_occlusion(occlusion_masks, seed=seed),
    "occlusion_fold": lambda seed: checks.check_occlusion(occlusion_fold, seed=seed),
}


@pytest.mark.parametrize("seed", [0, HIDDEN_SEED], ids=["visible", "hidden"])
@pytest.mark.parametrize("style", sorted(STYLES))
def test_other_styles_keep_full_marks(style: str, seed: int) -> None:
    """Each correct style passes its visible and hidden checks."""
    STYLES[style](seed)


def test_the_dream_step_does_not_depend_on_the_guard_against_zero() -> None:
    """``+ 1e-8``, ``clamp_min(1e-8)`` and no guard give the same steps on the checks' network (its gradients are
    far above 1e-8), so none of them decides the points."""
    from autograder.checks.visualization.common import ProbeNet

    net = ProbeNet(7, gain=10.0)
    x = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(3))
    for layer in (0, 1):
        steps = [step(net, x, layer, 0.05, (2, -3)) for step in (dream_step_mse_data, dream_step_roll_back)]
        steps.append(dream_step_clamp_guard(net, x, layer, 0.05, (2, -3)))
        for other in steps[1:]:
            assert (other - steps[0]).abs().max() < 1e-6


# ------------------------------------------------------------------------------------------------ mistakes


def grid_make_grid_as_is(weight: torch.Tensor, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """``make_grid``'s grid taken as it is: only ``F`` tiles wide when there are fewer than ``ncols`` filters."""
    w = weight.detach().cpu().float()
    rgb = w.shape[1] == 3
    grid = torchvision.utils.make_grid(
        w if rgb else w[:, :1], nrow=ncols, padding=pad, pad_value=1.0, normalize=True, scale_each=True
    )
    return (grid.permute(1, 2, 0) if rgb else grid[0]).numpy()


def grid_grey_over_all_channels(weight: torch.Tensor, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """Every filter scaled over all its channels, then channel 0 of a grey one tiled as it is."""
    w = weight.detach().float()
    lo, hi = w.amin(dim=(1, 2, 3), keepdim=True), w.amax(dim=(1, 2, 3), keepdim=True)
    w = (w - lo) / (hi - lo + 1e-8)
    tiles = w.permute(0, 2, 3, 1) if w.shape[1] == 3 else w[:, 0]
    n, kh, kw = tiles.shape[:3]
    grid = torch.ones(*_grid_shape(n, kh, kw, ncols, pad), *tiles.shape[3:])
    for k in range(n):
        r, c = divmod(k, ncols)
        top, left = pad + r * (kh + pad), pad + c * (kw + pad)
        grid[top : top + kh, left : left + kw] = tiles[k]
    return grid.numpy()


def _ranked(order_of: Callable[[torch.Tensor, int], torch.Tensor]) -> Callable:
    """Top-k patches with the images ranked by ``order_of(responses [N, h * w], k)``, right otherwise."""

    def top_k_patches(
        features: Callable, images: torch.Tensor, channel: int, k: int, layers: list[Layer], fill: float = 0.5
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            fmap = features(images)[:, channel]
        responses, width = fmap.flatten(1), fmap.shape[-1]
        order = order_of(responses, k)
        flat = responses[order].argmax(dim=1)
        pos = torch.stack([flat // width, flat % width], 1)
        boxes = [box_walking_back(layers, p, q) for p, q in pos.tolist()]
        return order, pos, torch.stack([_crop(images[i], box, fill) for i, box in zip(order.tolist(), boxes)])

    return top_k_patches


def _maximise_with(*, eval_mode: bool = True, zero_grad: bool = True, reduce: str = "sum") -> Callable:
    """The reference loop of ``maximise_class`` with one habit changed: no ``model.eval()``, no
    ``optimizer.zero_grad()`` (``x.grad`` adds up over the steps), or the loss averaged over the images, as training
    loops do, where the task says summed (``reduce="mean"``)."""

    def maximise_class(
        model: nn.Module,
        targets: torch.Tensor,
        penalty: Penalty = None,
        lam: float = 0.0,
        steps: int = 200,
        lr: float = 0.05,
        size: int = 64,
        seed: int = 0,
    ) -> torch.Tensor:
        if eval_mode:
            model.eval()
        x = _start(targets, size, seed).requires_grad_(True)
        optimizer = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            if zero_grad:
                optimizer.zero_grad()
            objective = objective_with_gather(model, x, targets, penalty, lam)
            (-getattr(objective, reduce)()).backward()
            optimizer.step()
            with torch.no_grad():
                x.clamp_(0, 1)
        return x.detach()

    return maximise_class


maximise_in_train_mode = _maximise_with(eval_mode=False)
maximise_without_zero_grad = _maximise_with(zero_grad=False)
maximise_mean_loss = _maximise_with(reduce="mean")


def dream_step_in_train_mode(
    model: nn.Module, x: torch.Tensor, layer: int, lr: float = 0.02, shift: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """The step without ``model.eval()``."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model.features(torch.roll(x, shift, (2, 3)))[layer].pow(2).mean(), x)
    return (x + lr * g / (g.abs().mean() + 1e-8)).clamp(0, 1).detach()


def saliency_of_cross_entropy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The gradient of the training loss, ``F.cross_entropy`` (a mean over the batch)."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    F.cross_entropy(model(x), y).backward()
    return x.grad.abs().amax(dim=1)


def saliency_normalised(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each map scaled to [0, 1] for display inside the function."""
    sal = saliency_autograd_grad(model, x, y)
    lo, hi = sal.amin(dim=(1, 2), keepdim=True), sal.amax(dim=(1, 2), keepdim=True)
    return (sal - lo) / (hi - lo)


def saliency_on_callers_tensor(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # noqa: N803
    """CS231n's ``compute_saliency_maps`` as it is: ``X.requires_grad_()`` on the caller's tensor."""
    model.eval()
    X.requires_grad_()
    scores = model(X).gather(1, y.view(-1, 1)).squeeze()
    scores.backward(torch.ones_like(scores))
    return X.grad.data.abs().max(dim=1)[0]


def _occlusion_with(corners: Callable[[int, int, int], range], mean: bool = True, numpy: bool = False) -> Callable:
    """``occlusion_loops`` with the corners ``corners(size, patch, stride)``, the drops summed or the map in NumPy."""

    def occlusion_map(
        model: nn.Module, image: torch.Tensor, label: int, patch: int = 12, stride: int = 4, fill: float = 0.5
    ) -> torch.Tensor | np.ndarray:
        model.eval()
        _, h, w = image.shape
        heat, count = torch.zeros(h, w), torch.zeros(h, w)
        with torch.no_grad():
            p0 = F.softmax(model(image[None]), dim=1)[0, label]
            for i in corners(h, patch, stride):
                for j in corners(w, patch, stride):
                    occluded = image.clone()
                    occluded[:, i : i + patch, j : j + patch] = fill
                    heat[i : i + patch, j : j + patch] += p0 - F.softmax(model(occluded[None]), dim=1)[0, label]
                    count[i : i + patch, j : j + patch] += 1
        heat = heat / count.clamp(min=1) if mean else heat
        return heat.numpy() if numpy else heat

    return occlusion_map


def _inside(size: int, patch: int, stride: int) -> range:
    return range(0, size - patch + 1, stride)


MISTAKES: dict[str, tuple[Callable[[], None], str]] = {
    "grid_make_grid_too_narrow": (
        lambda: checks.check_filter_grid(grid_make_grid_as_is),
        "torchvision's make_grid uses min(nrow, F) columns",
    ),
    "grid_grey_scaled_over_all_channels": (
        lambda: checks.check_filter_grid(grid_grey_over_all_channels),
        "a grey filter scaled over all its input channels",
    ),
    "topk_weakest_images": (
        lambda: checks.check_top_k_patches(_ranked(lambda r, k: r.amax(1).argsort()[:k])),
        "the k weakest images",
    ),
    "topk_strongest_but_weakest_first": (
        lambda: checks.check_top_k_patches(_ranked(lambda r, k: r.amax(1).argsort()[-k:])),
        "weakest first",
    ),
    "topk_ranked_by_mean_response": (
        lambda: checks.check_top_k_patches(_ranked(lambda r, k: r.mean(1).argsort(descending=True)[:k])),
        "ranked by their mean response",
    ),
    "maximise_in_train_mode": (
        lambda: checks.check_class_maximisation(tv_with_diff, objective_with_gather, maximise_in_train_mode),
        "model left in train mode",
    ),
    "maximise_without_zero_grad": (
        lambda: checks.check_class_maximisation(tv_with_diff, objective_with_gather, maximise_without_zero_grad),
        "the gradients never zeroed",
    ),
    "maximise_mean_loss": (
        lambda: checks.check_class_maximisation(tv_with_diff, objective_with_gather, maximise_mean_loss),
        "the loss averaged over the images",
    ),
    "dream_step_in_train_mode": (
        lambda: checks.check_deepdream(dream_step_in_train_mode, make_deepdream(dream_step_in_train_mode)),
        "model left in train mode",
    ),
    "saliency_of_cross_entropy": (
        lambda: checks.check_saliency(saliency_of_cross_entropy),
        "cross-entropy loss (F.cross_entropy, averaged over the batch)",
    ),
    "saliency_normalised": (lambda: checks.check_saliency(saliency_normalised), "the map normalised"),
    "saliency_on_callers_tensor": (
        lambda: checks.check_saliency(saliency_on_callers_tensor),
        "x.grad would add up over calls",
    ),
    "occlusion_squares_past_the_edge": (
        lambda: checks.check_occlusion(_occlusion_with(lambda size, patch, stride: range(0, size, stride))),
        "squares placed past the edge",
    ),
    "occlusion_last_square_missed": (
        lambda: checks.check_occlusion(_occlusion_with(lambda size, patch, stride: range(0, size - patch, stride))),
        "the last square of each row and column missed",
    ),
    "occlusion_drops_summed": (
        lambda: checks.check_occlusion(_occlusion_with(_inside, mean=False)),
        "the drops summed over the squares",
    ),
    "occlusion_numpy_map": (
        lambda: checks.check_occlusion(_occlusion_with(_inside, numpy=True)),
        "must be a torch.Tensor, got numpy.ndarray",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_mistakes_lose_points_with_a_named_message(mistake: str) -> None:
    """Each plausible mistake fails its check, and the message names it."""
    check, phrase = MISTAKES[mistake]
    fails(check, phrase=phrase)


#: A notebook's global name for the reference, read by the decorated function below.
library_objective = feature_visualization.class_objective


@torch.enable_grad()
def objective_through_the_library(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, penalty: Penalty = None, lam: float = 0.0
) -> torch.Tensor:
    """The reference called through a global name, from a function decorated by another module (whose wrapper's
    globals are torch's, not the notebook's)."""
    return library_objective(model, x, targets, penalty, lam)


def test_a_decorated_wrapper_around_the_reference_is_refused() -> None:
    """The reference is found behind a decorator, whether the wrapped function calls it by a global name or the
    wrapper holds it itself."""
    fails(
        checks.check_class_maximisation,
        tv_with_diff,
        objective_through_the_library,
        maximise_frozen_model,
        phrase="calls cnnlab.feature_visualization.class_objective",
    )
    assert library_objective is feature_visualization.class_objective  # the notebook's name is restored afterwards
    fails(
        checks.check_class_maximisation,
        torch.enable_grad()(feature_visualization.tv_penalty),
        objective_with_gather,
        maximise_frozen_model,
        phrase="cnnlab.feature_visualization.tv_penalty, the reference implementation",
    )
