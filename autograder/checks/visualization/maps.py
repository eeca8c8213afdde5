"""Checks of Assignment 4's maps of where the evidence lies: gradient saliency and occlusion sensitivity.

Both run on a seeded ``ProbeNet`` handed over in **train mode**: it has BatchNorm (whose running statistics a
forward pass in train mode changes) and dropout, so a function that forgets ``model.eval()`` is caught and
named. The maps are compared with the grader's references (``autograder.checks.expected``: computed by
``hidden.visualization`` when graded, recorded in the student edition), and so are the typical mistakes (the
softmax probability or a loss instead of the logit, no absolute value, channels summed, a normalised map, the
occlusion sign reversed, the window misaligned by half a patch, the drops summed, the last square missed or squares
past the edge), named when they match. The hidden tests' targets and settings are the grader's.
"""

from __future__ import annotations

import torch

from ..common import CheckFailed, case_of, grader_only
from ..expected import expect
from .common import (
    TRAIN_MODE,
    ProbeNet,
    batchnorm_state,
    close,
    first_match,
    generator,
    left_in_train_mode,
    own_call,
    require_defaults,
    require_torch_tensor,
)

SALIENCY_TASK = "gradient_saliency"
OCCLUSION_TASK = "occlusion_map"


NORMALISED = (
    "the map normalised (divided by its maximum, or scaled to [0, 1]): return max_c |gradient| itself; "
    "scale it only where you draw it"
)


def check_saliency(gradient_saliency, seed: int = 0) -> None:
    """``gradient_saliency(model, x, y)`` equals ``max_c |d logit_y / d x_c|`` of the network in eval mode."""
    net = ProbeNet(seed + 11)
    x = torch.rand(4, 3, 14, 14, generator=generator(seed + 5))
    y = torch.tensor([0, 3, 1, 1] if seed == 0 else grader_only("visualization").SALIENCY_TARGETS)
    case = "x of shape (4, 3, 14, 14), y=" + str(y.tolist())
    net.train()
    state = batchnorm_state(net)
    given = x.clone()
    got = own_call(SALIENCY_TASK, gradient_saliency, net, given, y.clone())
    if given.requires_grad or given.grad is not None:
        raise CheckFailed(
            SALIENCY_TASK,
            f"the input x was changed (it now requires grad) for {case}: differentiate a copy, "
            "x = x.detach().clone().requires_grad_(True) (on the caller's x, x.grad would add up over calls, "
            "and the images could no longer be shown or converted with .numpy())",
        )
    if left_in_train_mode(state, net):
        raise CheckFailed(
            SALIENCY_TASK, f"BatchNorm's running statistics changed for {case}.\nLikely mistake: {TRAIN_MODE}"
        )
    require = (4, 14, 14)
    require_torch_tensor(SALIENCY_TASK, got, case, "the map")
    if tuple(got.shape) != require:
        shape = tuple(got.shape)
        hint = " (reduce over the channels with a max of |gradient|)" if shape == (4, 3, 14, 14) else ""
        raise CheckFailed(SALIENCY_TASK, f"the map has shape {shape}, expected {require} for {case}{hint}")
    net.eval()
    maps = expect("visualization", "gradient_saliency", f"seed={seed}", net, x, y)
    if close(got, maps["expected"], 1e-4):
        return
    hint = first_match(
        got,
        [
            (
                maps["softmax"],
                "saliency taken from the softmax probability instead of the logit (the class score before softmax)",
            ),
            (
                maps["log_softmax"],
                "saliency taken from the log-probability (the cross-entropy loss, summed) instead of the logit "
                "(the class score before softmax): differentiate model(x)[n, y_n], not a loss",
            ),
            (
                maps["cross_entropy"],
                "saliency taken from the cross-entropy loss (F.cross_entropy, averaged over the batch) instead of "
                "the logit: differentiate the class score model(x)[n, y_n], summed over the batch, not a loss",
            ),
            (maps["scaled_by_max"], NORMALISED),
            (maps["min_max"], NORMALISED),
            (maps["no_abs"], "no absolute value: take max_c |gradient|, a negative gradient counts too"),
            (maps["sum"], "the channels summed: take the max over channels of |gradient|"),
            (maps["mean"], "the channels averaged: take the max over channels of |gradient|"),
            (maps["channel0"], "only channel 0: take the max over channels of |gradient|"),
        ],
    )
    raise CheckFailed(
        SALIENCY_TASK,
        f"the map differs from max_c |d logit_y / d x_c| for {case}." + (f"\nLikely mistake: {hint}" if hint else ""),
    )


def check_occlusion(occlusion_map, seed: int = 0) -> None:
    """``occlusion_map(model, image, label, patch, stride, fill)`` equals the reference's map."""
    require_defaults(OCCLUSION_TASK, occlusion_map, {"patch": 12, "stride": 4, "fill": 0.5})
    net = ProbeNet(seed + 13)
    image = torch.rand(3, 18, 15, generator=generator(seed + 6))  # not square: rows and columns cannot be confused
    # patch 7 with stride 3: the last square fits at 9 (18 - 7 = 11), a step past it would leave the image
    cases = [(1, 6, 3, 0.5), (2, 4, 2, 0.0), (0, 7, 3, 0.5)] if seed == 0 else []
    cases = list(cases or grader_only("visualization").OCCLUSION_CASES)
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
            require_torch_tensor(OCCLUSION_TASK, got, case, "the map")
            if tuple(got.shape) != (18, 15):
                raise CheckFailed(OCCLUSION_TASK, f"the map has shape {tuple(got.shape)}, expected (18, 15) for {case}")
            net.eval()
            key = f"seed={seed},label={label},patch={patch},stride={stride},fill={fill}"
            maps = expect("visualization", "occlusion_map", key, net, image, label, patch, stride, fill)
            expected = maps["expected"]
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
                        maps["half"],
                        "the window misaligned by half a patch: the square placed with its "
                        "corner at (i, j) covers rows "
                        "i .. i + patch - 1; add its drop to exactly those pixels",
                    ),
                    (
                        maps["logits"],
                        "the drop of the logit instead of the softmax probability of the class",
                    ),
                    (
                        maps["unfilled"],
                        "the square not filled with `fill`",
                    ),
                    (
                        maps["summed"],
                        "the drops summed over the squares that cover a pixel: divide by how many squares cover it "
                        "(the mean drop)",
                    ),
                    (
                        maps["last_missed"],
                        "the last square of each row and column missed (an off-by-one in the range): the corners "
                        "run over range(0, H - patch + 1, stride), so a square at H - patch counts",
                    ),
                    (
                        maps["past_the_edge"],
                        "squares placed past the edge of the image, cut off by it: only corners i <= H - patch "
                        "(range(0, H - patch + 1, stride)) keep the whole square inside",
                    ),
                ],
            )
            raise CheckFailed(
                OCCLUSION_TASK,
                f"the map differs from the reference for {case}." + (f"\nLikely mistake: {hint}" if hint else ""),
            )
