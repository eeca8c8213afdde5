"""What a trained CNN sees: filter grids, receptive fields, top-k patches, dreams, saliency and occlusion maps.

The reference implementations behind lecture 03 and Assignment 4. Every function is small and works on any
``nn.Module``; the ones that optimise or perturb an input run on the model's device, put the model in eval
mode, and are deterministic given their ``seed``.

Conventions:

* a **layer** of the receptive-field arithmetic is a tuple ``(kernel, stride, padding, dilation)`` of a square
  convolution or pooling; a 2x2 max-pool with stride 2 is ``(2, 2, 0, 1)``;
* a **box** is ``(top, left, bottom, right)`` in input pixels, half-open (``bottom`` and ``right`` excluded),
  and may reach outside the image when padding is involved;
* a **features** function maps images ``[N, C, H, W]`` to one feature map ``[N, D, h, w]``; a model with a
  ``features(x)`` method returning a list of maps (one per block) is indexed by ``layer``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Layer = tuple[int, int, int, int]
Box = tuple[int, int, int, int]
Penalty = Callable[[torch.Tensor], torch.Tensor]

#: Whether these functions replay recorded results instead of computing them: ``False`` here, ``True`` in the
#: student edition's stand-in (Assignment 4 asks students to write these functions). Lecture 03 skips the checks
#: that compare replayed results with the student's own network.
REPLAYED = False


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


# ----------------------------------------------------------------------------------------------------------
# first-layer filters


def scaled_filters(weight: torch.Tensor | np.ndarray) -> np.ndarray:
    """The filters ``[F, C, kh, kw]`` as images: ``[F, kh, kw, 3]`` when ``C == 3``, else channel 0, ``[F, kh, kw]``,
    each scaled to [0, 1] on its own, ``(f - min f) / (max f - min f + 1e-8)`` over all its shown values."""
    w = weight.detach().cpu().numpy() if isinstance(weight, torch.Tensor) else np.asarray(weight)
    if w.ndim != 4:
        raise ValueError(f"filters must be [F, C, kh, kw], got shape {w.shape}")
    tiles = w.transpose(0, 2, 3, 1) if w.shape[1] == 3 else w[:, 0]
    axes = tuple(range(1, tiles.ndim))
    lo = tiles.min(axis=axes, keepdims=True)
    hi = tiles.max(axis=axes, keepdims=True)
    return (tiles - lo) / (hi - lo + 1e-8)


def tile_filters(weight: torch.Tensor | np.ndarray, ncols: int = 8, pad: int = 1) -> np.ndarray:
    """The filters ``[F, C, kh, kw]`` as one image, as ``cnnlab.plotting.filter_grid`` draws them.

    Each filter is shown as RGB when ``C == 3``, else its channel 0 in grey, and scaled to [0, 1] on its own:
    ``(f - min f) / (max f - min f + 1e-8)`` over all its shown values. Tiles go row by row, ``ncols`` per row,
    with ``pad`` pixels of 1.0 (white) around and between them. Returns float32 ``[H, W, 3]`` (RGB) or
    ``[H, W]`` (grey), ``H = rows * kh + (rows + 1) * pad`` and ``W = ncols * kw + (ncols + 1) * pad``.
    """
    tiles = scaled_filters(weight)
    n, kh, kw = tiles.shape[:3]
    rows = -(-n // ncols)
    grid = np.ones((rows * kh + (rows + 1) * pad, ncols * kw + (ncols + 1) * pad, *tiles.shape[3:]), np.float32)
    for k in range(n):
        r, q = divmod(k, ncols)
        top, left = pad + r * (kh + pad), pad + q * (kw + pad)
        grid[top : top + kh, left : left + kw] = tiles[k]
    return grid


# ----------------------------------------------------------------------------------------------------------
# receptive fields and filter sensitivity (Zeiler & Fergus, 2014)


def receptive_field(layers: Sequence[Layer]) -> tuple[int, int, float]:
    """Size ``r``, jump ``j`` and centre ``s`` of unit 0's field after ``layers``: unit ``p`` is centred at ``s + j p``.

    Each layer ``(k, stride, padding, dilation)`` spans ``d (k - 1) + 1`` of its inputs: ``r += d (k - 1) j``,
    the first unit starts ``padding`` inputs before the first input (``start -= padding j``), then
    ``j *= stride``.
    """
    r, j, start = 1, 1, 0
    for k, stride, padding, dilation in layers:
        r += dilation * (k - 1) * j
        start -= padding * j
        j *= stride
    return r, j, start + (r - 1) / 2


def receptive_field_box(layers: Sequence[Layer], y: int, x: int) -> Box:
    """The input box ``(top, left, bottom, right)`` (half-open) read by position ``(y, x)`` of the last layer."""
    r, j, centre = receptive_field(layers)
    start = int(round(centre - (r - 1) / 2))
    return start + j * y, start + j * x, start + j * y + r, start + j * x + r


def crop_box(image: torch.Tensor, box: Box, fill: float = 0.5) -> torch.Tensor:
    """The part of ``image [C, H, W]`` inside ``box``, with ``fill`` where the box leaves the image."""
    top, left, bottom, right = box
    out = torch.full((image.shape[0], bottom - top, right - left), fill, dtype=image.dtype, device=image.device)
    h, w = image.shape[-2:]
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    if y1 > y0 and x1 > x0:
        out[:, y0 - top : y1 - top, x0 - left : x1 - left] = image[:, y0:y1, x0:x1]
    return out


@torch.no_grad()
def strongest_responses(
    features: Callable[[torch.Tensor], Sequence[torch.Tensor]], images: torch.Tensor, batch_size: int = 100
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """For every map ``features(x)`` returns, each image's largest response per channel and its flat position.

    Returns ``(best, where)``, two lists with one ``[N, D]`` tensor per map (on the CPU).
    """
    best: list[list[torch.Tensor]] = []
    where: list[list[torch.Tensor]] = []
    for i in range(0, len(images), batch_size):
        maps = features(images[i : i + batch_size])
        if not best:
            best, where = [[] for _ in maps], [[] for _ in maps]
        for layer, fmap in enumerate(maps):
            value, index = fmap.flatten(2).max(dim=2)
            best[layer].append(value.cpu())
            where[layer].append(index.cpu())
    return [torch.cat(b) for b in best], [torch.cat(w) for w in where]


@torch.no_grad()
def top_k_patches(
    features: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    channel: int,
    k: int,
    layers: Sequence[Layer],
    fill: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``k`` images whose ``channel`` responds most strongly, where, and the receptive fields there.

    Each image counts once, by its largest response ``max_{p,q} features(x)[channel, p, q]``. Returns
    ``(indices [k], positions [k, 2] (y, x) in the feature map, patches [k, C, r, r])``, strongest first;
    patches are cut from the images with ``receptive_field_box(layers, y, x)`` and ``fill`` outside.
    """
    fmap = features(images)[:, channel]  # [N, h, w]
    value, flat = fmap.flatten(1).max(dim=1)
    order = value.argsort(descending=True, stable=True)[:k].cpu()
    width = fmap.shape[-1]
    flat = flat.cpu()
    positions = torch.stack([flat[order] // width, flat[order] % width], dim=1)
    patches = [
        crop_box(images[int(i)].cpu(), receptive_field_box(layers, int(py), int(px)), fill)
        for i, (py, px) in zip(order, positions)
    ]
    return order, positions, torch.stack(patches)


# ----------------------------------------------------------------------------------------------------------
# images that maximise a class


def l2_penalty(x: torch.Tensor) -> torch.Tensor:
    """Per image: the mean of ``(x - 0.5)^2`` (pulls towards grey)."""
    return (x - 0.5).pow(2).mean(dim=(1, 2, 3))


def tv_penalty(x: torch.Tensor) -> torch.Tensor:
    """Per image: total variation, the mean absolute difference of vertical plus horizontal neighbours."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    return dh + dw


def class_objective(
    model: nn.Module, x: torch.Tensor, targets: torch.Tensor, penalty: Penalty | None = None, lam: float = 0.0
) -> torch.Tensor:
    """Per image ``n``: ``Phi_Last(x_n)[targets_n] - lam R(x_n)``, the logit of its class minus the penalty."""
    score = model(x)[torch.arange(len(x), device=x.device), targets.to(x.device)]
    return score - lam * penalty(x) if penalty is not None else score


def maximise_class(
    model: nn.Module,
    targets: torch.Tensor,
    penalty: Penalty | None = None,
    lam: float = 0.0,
    steps: int = 200,
    lr: float = 0.05,
    size: int = 64,
    jitter: int = 0,
    blur_every: int = 0,
    seed: int = 0,
) -> torch.Tensor:
    """Images ``[len(targets), 3, size, size]`` that maximise ``class_objective`` by Adam, kept in [0, 1].

    The start is grey with faint noise, ``0.5 + 0.02 * randn`` drawn from a generator seeded with ``seed``.
    Each step minimises ``-objective.sum()`` with Adam, then clips to [0, 1]. ``jitter``: the model sees the
    image rolled by a random shift of up to ``jitter`` pixels (drawn from the same generator); ``blur_every``:
    every that many steps (not after the last), a Gaussian blur (kernel 5, sigma 0.8).
    """
    from torchvision.transforms.functional import gaussian_blur

    model.eval()
    device = _device(model)
    gen = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.02 * torch.randn(len(targets), 3, size, size, generator=gen)).to(device).requires_grad_(True)
    targets = targets.to(device)
    optimizer = torch.optim.Adam([x], lr=lr)
    for step in range(steps):
        shifted = x
        if jitter:
            dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()
            shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
        score = model(shifted)[torch.arange(len(x), device=device), targets]
        objective = score - (lam * penalty(x) if penalty is not None else 0.0)
        optimizer.zero_grad()
        (-objective.sum()).backward()
        optimizer.step()
        with torch.no_grad():
            x.clamp_(0, 1)
            if blur_every and (step + 1) % blur_every == 0 and step < steps - 1:
                x.copy_(gaussian_blur(x, kernel_size=5, sigma=0.8))
    return x.detach()


# ----------------------------------------------------------------------------------------------------------
# DeepDream


def layer_energy(model: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    """The mean square of the activations ``model.features(x)[layer]``: ``||Phi_k(x)||^2`` per element."""
    return model.features(x)[layer].pow(2).mean()


def dream_step(
    model: nn.Module, x: torch.Tensor, layer: int, lr: float = 0.02, shift: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """One normalised gradient-ascent step on ``layer_energy``: ``clip(x + lr g / (mean|g| + 1e-8), 0, 1)``.

    ``g`` is the gradient with respect to ``x`` of the energy of ``x`` rolled by ``shift`` (jitter); eval mode.
    """
    model.eval()
    x = x.detach().requires_grad_(True)
    energy = layer_energy(model, torch.roll(x, shifts=shift, dims=(2, 3)), layer)
    (grad,) = torch.autograd.grad(energy, x)
    return (x + lr * grad / (grad.abs().mean() + 1e-8)).clamp(0, 1).detach()


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
    """DeepDream of ``image [1, 3, H, W]`` (square) on ``layer``: normalised ascent over ``octaves`` sizes.

    Sizes ``round(H / scale^o)`` for ``o = octaves-1 .. 0``. At each size the image is resized (bilinear,
    antialiased), the detail gained so far is resized (bilinear) and added, ``steps`` dream steps run (each
    with a shift of ``jitter`` pixels at most, drawn from a generator seeded with ``seed``), and the new
    detail is the result minus the resized image.
    """
    model.eval()
    image = image.to(_device(model))
    gen = torch.Generator().manual_seed(seed)
    side = image.shape[-1]
    sizes = [round(side / scale**o) for o in reversed(range(octaves))]
    detail = torch.zeros(1, 3, sizes[0], sizes[0], device=image.device)
    x = image
    for size in sizes:
        base = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        detail = F.interpolate(detail, size=(size, size), mode="bilinear", align_corners=False)
        x = (base + detail).clamp(0, 1)
        for _ in range(steps):
            shift = tuple(torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()) if jitter else (0, 0)
            x = dream_step(model, x, layer, lr, shift)
        detail = x - base
    return x


# ----------------------------------------------------------------------------------------------------------
# saliency and occlusion


def gradient_saliency(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``M[n, i, j] = max_c |d logit_{y_n}(x_n) / d x_n[c, i, j]|`` (Simonyan et al., 2014); eval mode, CPU result."""
    model.eval()
    device = _device(model)
    x = x.detach().clone().to(device).requires_grad_(True)
    model(x)[torch.arange(len(x), device=device), y.to(device)].sum().backward()
    return x.grad.abs().amax(dim=1).cpu()


@torch.no_grad()
def occlusion_map(
    model: nn.Module, image: torch.Tensor, label: int, patch: int = 12, stride: int = 4, fill: float = 0.5
) -> torch.Tensor:
    """How much the probability of ``label`` drops when a grey square covers each pixel (Zeiler & Fergus, 2014).

    The ``patch x patch`` square of value ``fill`` is placed with its corner at every ``(i, j)`` on a grid of
    step ``stride`` that keeps it inside the image; each pixel gets the mean drop ``p(label | image) -
    p(label | occluded)`` over the squares that cover it (0 where none does). Returns ``[H, W]`` on the CPU.
    """
    model.eval()
    device = _device(model)
    h, w = image.shape[-2:]
    positions = [(i, j) for i in range(0, h - patch + 1, stride) for j in range(0, w - patch + 1, stride)]
    batch = image.detach().cpu().repeat(len(positions), 1, 1, 1)
    for b, (i, j) in enumerate(positions):
        batch[b, :, i : i + patch, j : j + patch] = fill
    base = model(image[None].to(device)).softmax(1)[0, label]
    drop = (base - model(batch.to(device)).softmax(1)[:, label]).cpu()
    heat, hits = torch.zeros(h, w), torch.zeros(h, w)
    for d, (i, j) in zip(drop, positions):
        heat[i : i + patch, j : j + patch] += d
        hits[i : i + patch, j : j + patch] += 1
    return heat / hits.clamp_min(1)
