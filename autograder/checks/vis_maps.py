"""Checks of Assignment 4's maps of where the evidence lies: gradient saliency and occlusion sensitivity.

Both run on a seeded ``ProbeNet`` handed over in **train mode**: it has BatchNorm (whose running statistics a
forward pass in train mode changes) and dropout, so a function that forgets ``model.eval()`` is caught and
named. The maps are compared with ``cnnlab.visualize``'s; the typical mistakes (the softmax probability
instead of the logit, no absolute value, channels summed, the occlusion sign reversed, the window misaligned by
half a patch) are recomputed and named when they match.
"""

from __future__ import annotations

import torch

from cnnlab import visualize

from .common import CheckFailed, case_of
from .vis_common import (
    TRAIN_MODE,
    ProbeNet,
    batchnorm_state,
    close,
    first_match,
    generator,
    left_in_train_mode,
    own_call,
    require_defaults,
)

SALIENCY_TASK = "gradient_saliency"
OCCLUSION_TASK = "occlusion_map"


def _input_gradient(net, x, y, fn):
    x = x.clone().requires_grad_(True)
    out = net(x)
    fn(out)[torch.arange(len(x)), y].sum().backward()
    return x.grad


def check_saliency(gradient_saliency, seed: int = 0) -> None:
    """``gradient_saliency(model, x, y)`` equals ``max_c |d logit_y / d x_c|`` of the network in eval mode."""
    net = ProbeNet(seed + 11)
    x = torch.rand(4, 3, 14, 14, generator=generator(seed + 5))
    y = torch.tensor([0, 3, 1, 1]) if seed == 0 else torch.tensor([2, 2, 0, 3])
    case = "x of shape (4, 3, 14, 14), y=" + str(y.tolist())
    net.train()
    state = batchnorm_state(net)
    given = x.clone()
    got = own_call(SALIENCY_TASK, gradient_saliency, net, given, y.clone())
    if given.requires_grad or given.grad is not None:
        raise CheckFailed(
            SALIENCY_TASK,
            f"the input x was changed (it now requires grad) for {case}: differentiate a copy, "
            "x = x.detach().clone().requires_grad_(True)",
        )
    if left_in_train_mode(state, net):
        raise CheckFailed(
            SALIENCY_TASK, f"BatchNorm's running statistics changed for {case}.\nLikely mistake: {TRAIN_MODE}"
        )
    require = (4, 14, 14)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != require:
        shape = tuple(got.shape) if hasattr(got, "shape") else type(got).__name__
        hint = " (reduce over the channels with a max of |gradient|)" if shape == (4, 3, 14, 14) else ""
        raise CheckFailed(SALIENCY_TASK, f"the map has shape {shape}, expected {require} for {case}{hint}")
    net.eval()
    expected = visualize.gradient_saliency(net, x, y)
    if close(got, expected, 1e-4):
        return
    grad = _input_gradient(net, x, y, lambda out: out)
    hint = first_match(
        got,
        [
            (
                _input_gradient(net, x, y, lambda out: out.softmax(1)).abs().amax(dim=1),
                "saliency taken from the softmax probability instead of the logit (the class score before softmax)",
            ),
            (
                _input_gradient(net, x, y, lambda out: out.log_softmax(1)).abs().amax(dim=1),
                "saliency taken from the log-probability instead of the logit (the class score before softmax)",
            ),
            (grad.amax(dim=1), "no absolute value: take max_c |gradient|, a negative gradient counts too"),
            (grad.abs().sum(dim=1), "the channels summed: take the max over channels of |gradient|"),
            (grad.abs().mean(dim=1), "the channels averaged: take the max over channels of |gradient|"),
            (grad.abs()[:, 0], "only channel 0: take the max over channels of |gradient|"),
        ],
    )
    raise CheckFailed(
        SALIENCY_TASK,
        f"the map differs from max_c |d logit_y / d x_c| for {case}." + (f"\nLikely mistake: {hint}" if hint else ""),
    )


def _occlusion_variant(net, image, label, patch, stride, fill, *, sign=1.0, half=False, logits=False):
    h, w = image.shape[-2:]
    positions = [(i, j) for i in range(0, h - patch + 1, stride) for j in range(0, w - patch + 1, stride)]
    batch = image.repeat(len(positions), 1, 1, 1)
    for b, (i, j) in enumerate(positions):
        batch[b, :, i : i + patch, j : j + patch] = fill
    with torch.no_grad():
        score = (lambda out: out) if logits else (lambda out: out.softmax(1))
        drop = sign * (score(net(image[None]))[0, label] - score(net(batch))[:, label])
    heat, hits = torch.zeros(h, w), torch.zeros(h, w)
    k = patch // 2 if half else 0
    for d, (i, j) in zip(drop, positions):
        heat[max(i - k, 0) : i - k + patch, max(j - k, 0) : j - k + patch] += d
        hits[max(i - k, 0) : i - k + patch, max(j - k, 0) : j - k + patch] += 1
    return heat / hits.clamp_min(1)


def check_occlusion(occlusion_map, seed: int = 0) -> None:
    """``occlusion_map(model, image, label, patch, stride, fill)`` equals the library's map."""
    require_defaults(OCCLUSION_TASK, occlusion_map, {"patch": 12, "stride": 4, "fill": 0.5})
    net = ProbeNet(seed + 13)
    image = torch.rand(3, 18, 15, generator=generator(seed + 6))  # not square: rows and columns cannot be confused
    # patch 7 with stride 3: the last square fits at 9 (18 - 7 = 11), a step past it would leave the image
    cases = [(1, 6, 3, 0.5), (2, 4, 2, 0.0), (0, 7, 3, 0.5)] if seed == 0 else [(3, 5, 3, 0.5), (0, 6, 4, 0.2)]
    cases = list(cases)
    for index, (label, patch, stride, fill) in enumerate(cases):
        with case_of(index, len(cases)):
            case = f"image of shape (3, 18, 15), label={label}, patch={patch}, stride={stride}, fill={fill}"
            net.train()
            state = batchnorm_state(net)
            got = own_call(
                OCCLUSION_TASK, occlusion_map, net, image.clone(), label, patch=patch, stride=stride, fill=fill
            )
            if left_in_train_mode(state, net):
                raise CheckFailed(
                    OCCLUSION_TASK, f"BatchNorm's running statistics changed for {case}.\nLikely mistake: {TRAIN_MODE}"
                )
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != (18, 15):
                shape = tuple(got.shape) if hasattr(got, "shape") else type(got).__name__
                raise CheckFailed(OCCLUSION_TASK, f"the map has shape {shape}, expected (18, 15) for {case}")
            net.eval()
            expected = visualize.occlusion_map(net, image, label, patch=patch, stride=stride, fill=fill)
            if close(got, expected, 1e-4):
                continue
            hint = first_match(
                got,
                [
                    (
                        -expected,
                        "occlusion map with the sign reversed: record the drop p(original) - p(occluded), which is "
                        "positive where hiding the pixels hurts the class",
                    ),
                    (
                        _occlusion_variant(net, image, label, patch, stride, fill, half=True),
                        "the window misaligned by half a patch: the square placed with its "
                        "corner at (i, j) covers rows "
                        "i .. i + patch - 1; add its drop to exactly those pixels",
                    ),
                    (
                        _occlusion_variant(net, image, label, patch, stride, fill, logits=True),
                        "the drop of the logit instead of the softmax probability of the class",
                    ),
                    (
                        _occlusion_variant(net, image, label, patch, stride, 0.5),
                        "the square not filled with `fill`",
                    ),
                ],
            )
            raise CheckFailed(
                OCCLUSION_TASK,
                f"the map differs from the reference for {case}." + (f"\nLikely mistake: {hint}" if hint else ""),
            )
