"""Checks of Assignment 4's first part: the filter grid, receptive-field boxes and the top-k patches.

* ``filter_grid`` against the reference grid (the image ``cnnlab.plotting.filter_grid`` draws), on RGB and grey
  filters of very different scales, so that normalising the whole tensor at once shows;
* ``receptive_field_box`` against the reference's arithmetic and against an empirical probe: in a stack of
  convolutions with positive weights and no nonlinearity, the input gradient of one output unit is non-zero
  exactly on its receptive field (for a unit whose field lies inside the image); the stacks have strides and
  dilations, so a dilation ignored or a jump not multiplied shows;
* ``top_k_patches`` against the reference on a seeded network with stride and dilation, where one image is so
  bright that several of its positions beat every other image.

The references, and the answers of the typical mistakes, are the grader's (``autograder.checks.expected``:
computed by ``hidden.visualization`` when graded, recorded in the student edition); so are the hidden tests'
stacks and layers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..common import CheckFailed, case_of, grader_only
from ..expected import expect
from .common import close, generator, own_call, require_defaults

FILTER_TASK = "filter_grid"
BOX_TASK = "receptive_field_box"
TOPK_TASK = "top_k_patches"

WHOLE_TENSOR = (
    "filters normalised over the whole tensor instead of per filter: scale each filter by its own minimum and "
    "maximum, (f - min f) / (max f - min f + 1e-8), so that a weak filter's pattern is as visible as a strong one's"
)
PER_CHANNEL = (
    "each colour channel normalised on its own: use one minimum and one maximum per filter, over all its "
    "channels, or the colours of the filter change"
)
ALL_CHANNELS = (
    "a grey filter scaled over all its input channels: it shows channel 0 only, so take its minimum and maximum "
    "over channel 0 (the values shown)"
)


def _columns_hint(got_shape: tuple[int, ...], expected_shape: tuple[int, ...], n: int, ncols: int, pad: int) -> str:
    """Why a grid of ``got_shape`` would be too narrow: one column per filter when there are fewer than ``ncols``."""
    cols = min(n, ncols)
    kw = (expected_shape[1] - (ncols + 1) * pad) // ncols
    narrow = (expected_shape[0], cols * kw + (cols + 1) * pad, *expected_shape[2:])
    if cols < ncols and tuple(got_shape) == narrow:
        return (
            f"\nLikely mistake: only {cols} columns for {n} filters (torchvision's make_grid uses min(nrow, F) "
            "columns): the grid is always ncols tiles wide, the unused tiles white"
        )
    return ""


def _filter_cases(seed: int) -> list[tuple[torch.Tensor, int, int]]:
    g = generator(seed)
    cases = []
    for n, c, k, ncols, pad in [(10, 3, 5, 4, 1), (6, 1, 3, 3, 2), (7, 2, 4, 8, 0), (12, 3, 7, 5, 1)]:
        w = torch.randn(n, c, k, k, generator=g)
        w *= torch.logspace(-2, 1, n)[:, None, None, None]  # filters of very different strengths
        w[:, :1] += 0.5 * torch.rand(n, 1, 1, 1, generator=g)  # channels of different offsets
        cases.append((w, ncols + seed % 3, pad))
    # a trained layer's weight: a float64 Parameter that requires grad, with one constant (all-zero) filter
    w = nn.Parameter(torch.randn(5, 3, 3, 3, generator=g, dtype=torch.float64))
    with torch.no_grad():
        w[2] = 0.0
    cases.append((w, 3 + seed % 2, 1))
    return cases


def check_filter_grid(filter_grid, seed: int = 0) -> None:
    """``filter_grid(weight, ncols, pad)`` must equal the reference grid: each filter scaled on its own."""
    require_defaults(FILTER_TASK, filter_grid, {"ncols": 8, "pad": 1})
    cases = list(_filter_cases(seed))
    for index, (w, ncols, pad) in enumerate(cases):
        with case_of(index, len(cases)):
            kind = ", a float64 Parameter with an all-zero filter" if isinstance(w, nn.Parameter) else ""
            case = f"filters of shape {tuple(w.shape)}{kind}, ncols={ncols}, pad={pad}"
            weight = w if isinstance(w, nn.Parameter) else w.clone()
            got = own_call(FILTER_TASK, filter_grid, weight, ncols, pad)
            if isinstance(got, torch.Tensor):
                got = got.detach().cpu().numpy()
            if not isinstance(got, np.ndarray):
                raise CheckFailed(FILTER_TASK, f"must return a numpy array, got {type(got).__name__} for {case}")
            if got.dtype != np.float32:
                raise CheckFailed(FILTER_TASK, f"must return a float32 array, got {got.dtype} for {case}")
            if not np.all(np.isfinite(got)):
                raise CheckFailed(
                    FILTER_TASK,
                    f"the grid has NaN or infinite values for {case}.\nLikely mistake: a constant filter has "
                    "max - min = 0: divide by (max - min + 1e-8)",
                )
            grids = expect("visualization", "filter_grid", f"seed={seed},case={index}", w, ncols, pad)
            expected = grids["expected"]
            if got.shape != expected.shape:
                raise CheckFailed(
                    FILTER_TASK,
                    f"the grid has shape {got.shape}, expected {expected.shape} for {case} "
                    "(rows * kh + (rows + 1) * pad "
                    "pixels high, ncols * kw + (ncols + 1) * pad wide, and a last axis of 3 only for RGB filters)"
                    + _columns_hint(got.shape, expected.shape, len(w), ncols, pad),
                )
            if np.allclose(got, expected, atol=1e-5):
                continue
            hint = ""
            alternatives = [
                (grids["whole"], WHOLE_TENSOR),
                (grids["per_channel"], PER_CHANNEL),
                (grids["all_channels"], ALL_CHANNELS),
            ]
            for alt, message in alternatives:
                if alt is not None and np.allclose(got, alt, atol=1e-5):
                    hint = message
            if not hint and np.allclose(got, expected, atol=1e-2):
                hint = "the values are close but not equal: add 1e-8 to max - min, as cnnlab.plotting.filter_grid does"
            raise CheckFailed(
                FILTER_TASK,
                f"the grid is wrong for {case} (largest difference {np.abs(got - expected).max():.3g})."
                + (
                    f"\nLikely mistake: {hint}" if hint else " Check the normalisation, the tile order and the padding."
                ),
            )


# ----------------------------------------------------------------------------------------------------------
# receptive fields


def _stacks(seed: int) -> list[list[tuple[int, int, int, int]]]:
    if seed == 0:
        return [
            [(3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2)],
            [(7, 1, 3, 1), (2, 2, 0, 1), (3, 1, 1, 1), (3, 1, 1, 1), (2, 2, 0, 1), (3, 1, 1, 1)],
            [(5, 2, 0, 1), (3, 1, 0, 3), (2, 2, 1, 1)],
        ]
    return grader_only("visualization").stacks(seed)


#: The messages of the mistakes whose boxes come with the expected ones (``hidden.visualization.BOX_MISTAKES``).
BOX_MISTAKES = [
    "dilation ignored: a layer with dilation d spans d (k - 1) + 1 inputs, so r += d (k - 1) j",
    "the jump not multiplied: each layer adds d (k - 1) j to the field, where j is the product of the strides "
    "of the layers before it",
    "padding ignored: unit 0 of a layer with padding p starts p j input pixels before 0",
    "bottom and right must be exclusive (half-open box): bottom = top + r",
]


def check_receptive_field_box(receptive_field_box, seed: int = 0) -> None:
    """Boxes equal the reference's and, inside the image, the support of the input gradient."""
    cases = list(_stacks(seed))
    for index, layers in enumerate(cases):
        with case_of(index, len(cases)):
            boxes = expect("visualization", "receptive_field_box", f"layers={layers}", layers)
            for (y, x), expected, mistakes, probe in zip(
                boxes["positions"], boxes["boxes"], boxes["mistakes"], boxes["probes"]
            ):
                case = f"layers={layers}, position (y, x) = ({y}, {x})"
                got = own_call(BOX_TASK, receptive_field_box, list(layers), y, x)
                try:
                    got = tuple(int(v) for v in got)
                except Exception:
                    raise CheckFailed(
                        BOX_TASK, f"must return (top, left, bottom, right), got {got!r} for {case}"
                    ) from None
                expected = tuple(expected)
                if len(got) == 4 and got == expected:
                    continue
                hint = next((m for box, m in zip(mistakes, BOX_MISTAKES) if tuple(box) == got), "")
                seen = (
                    f" (autograd agrees: the input gradient of that unit is non-zero on {tuple(probe)})"
                    if probe is not None
                    else ""
                )
                raise CheckFailed(
                    BOX_TASK,
                    f"got {got}, expected {expected} for {case}{seen}." + (f"\nLikely mistake: {hint}" if hint else ""),
                )


# ----------------------------------------------------------------------------------------------------------
# top-k patches

TOPK_LAYERS = [(3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2), (3, 2, 1, 1)]


def _topk_net(seed: int, layers) -> nn.Module:
    torch.manual_seed(seed)
    mods: list[nn.Module] = []
    cin = 3
    for i, (k, s, p, d) in enumerate(layers):
        mods.append(nn.Conv2d(cin, 5, k, stride=s, padding=p, dilation=d))
        if i < len(layers) - 1:
            mods.append(nn.ReLU())
        cin = 5
    return nn.Sequential(*mods).eval()


DUPLICATES = (
    "several patches from the same image: take each image's strongest position first (a max over the "
    "positions), then the k strongest images, so that every image appears at most once"
)


WEAKEST = (
    "the k weakest images: sort by the largest response in descending order (argsort(descending=True), or "
    "torch.topk, which takes the largest by default)"
)
WEAKEST_FIRST = "the right images, weakest first (argsort(...)[-k:] keeps ascending order): list them strongest first"
BY_MEAN = (
    "the images ranked by their mean response over the positions: rank them by their strongest position, "
    "max over (p, q)"
)


def check_top_k_patches(top_k_patches, seed: int = 0) -> None:
    """Indices, positions and patches equal the reference's on a seeded network."""
    layers = TOPK_LAYERS if seed == 0 else TOPK_LAYERS[:3] + grader_only("visualization").TOPK_LAST_LAYERS
    net = _topk_net(seed, layers)
    g = generator(seed + 1)
    require_defaults(TOPK_TASK, top_k_patches, {"fill": 0.5})
    images = torch.rand(12, 3, 36, 30, generator=g)  # not square: rows and columns cannot be confused
    images[5] *= 3  # one image far brighter than the others: several of its positions beat every other image
    cases = list([(0, 4, 0.5), (3, 5, 0.0), (1, 3, 0.5)])
    for index, (channel, k, fill) in enumerate(cases):
        with case_of(index, len(cases)):
            case = f"channel={channel}, k={k}, fill={fill}, 12 images 36x30, layers={layers}"
            got = own_call(TOPK_TASK, top_k_patches, net, images.clone(), channel, k, list(layers), fill=fill)
            try:
                idx, pos, patches = got
            except Exception:
                raise CheckFailed(
                    TOPK_TASK, f"must return (indices, positions, patches), got {type(got).__name__}"
                ) from None
            key = f"seed={seed},channel={channel},k={k},fill={fill}"
            answers = expect("visualization", "top_k_patches", key, net, images, channel, k, layers, fill)
            e_idx, e_pos, e_patches = answers["expected"]
            idx = torch.as_tensor(idx).long().flatten().cpu()
            if idx.tolist() != e_idx.tolist():
                if len(set(idx.tolist())) < len(idx.tolist()):
                    raise CheckFailed(
                        TOPK_TASK, f"indices {idx.tolist()} repeat an image for {case}.\nLikely mistake: {DUPLICATES}"
                    )
                hint = {
                    tuple(e_idx.flip(0).tolist()): WEAKEST_FIRST,
                    tuple(answers["weakest"].tolist()): WEAKEST,
                    tuple(answers["by_mean"].tolist()): BY_MEAN,
                }.get(tuple(idx.tolist()), "")
                raise CheckFailed(
                    TOPK_TASK,
                    f"indices {idx.tolist()}, expected {e_idx.tolist()} for {case}: rank the images by their largest "
                    "response in the channel, strongest first" + (f".\nLikely mistake: {hint}" if hint else ""),
                )
            pos = torch.as_tensor(pos).long().cpu()
            if tuple(pos.shape) != (k, 2) or not torch.equal(pos, e_pos):
                hint = " (they look like (x, y): give (y, x), row first)" if torch.equal(pos.flip(-1), e_pos) else ""
                raise CheckFailed(TOPK_TASK, f"positions {pos.tolist()}, expected {e_pos.tolist()} for {case}{hint}")
            if not isinstance(patches, torch.Tensor) or patches.shape != e_patches.shape:
                shape = tuple(patches.shape) if hasattr(patches, "shape") else type(patches).__name__
                raise CheckFailed(
                    TOPK_TASK,
                    f"patches have shape {shape}, expected {tuple(e_patches.shape)} for {case}: each patch is the "
                    "receptive-field box of its position (check receptive_field_box first)",
                )
            if not close(patches, e_patches):
                raise CheckFailed(
                    TOPK_TASK,
                    f"the patches are not the images' receptive-field boxes for {case}: crop "
                    "receptive_field_box(layers, y, x) from the image, with `fill` where the box leaves the image",
                )
