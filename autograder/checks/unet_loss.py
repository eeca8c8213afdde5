"""Checks of Assignment 2's losses: soft Dice, and cross-entropy plus Dice with an optional pixel weight map.

References (stated in the notebook):

* ``soft_dice_loss(logits, target, eps=1.0) = 1 - mean_c (2 sum p_c t_c + eps) / (sum p_c + sum t_c + eps)``,
  ``p = softmax(logits, dim=1)``, ``t`` the one-hot target, sums over the batch and all pixels;
* ``segmentation_loss(logits, target, weight_map=None, dice_weight=1.0) = mean(w * CE) + dice_weight * Dice``
  with the per-pixel cross-entropy of the logits and ``w = 1`` when there is no weight map.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .common import CheckFailed, call_student, case_of


def soft_dice_reference(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """The soft Dice loss the notebook defines."""
    probs = logits.softmax(dim=1)
    one_hot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    dims = (0, 2, 3)
    inter = (probs * one_hot).sum(dims)
    card = probs.sum(dims) + one_hot.sum(dims)
    return 1 - ((2 * inter + eps) / (card + eps)).mean()


def segmentation_loss_reference(
    logits: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None = None, dice_weight: float = 1.0
) -> torch.Tensor:
    """Cross-entropy (weighted per pixel when a weight map is given) plus ``dice_weight`` times soft Dice."""
    ce = F.cross_entropy(logits, target, reduction="none")
    if weight_map is not None:
        ce = ce * weight_map
    return ce.mean() + dice_weight * soft_dice_reference(logits, target)


def _case(seed: int, n: int, c: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    target = torch.randint(0, c, (n, h, w), generator=g)
    weights = 1 + 4 * torch.rand(n, h, w, generator=g, dtype=torch.float64)
    return logits, target, weights


CASES_VISIBLE = [(0, 2, 3, 8, 8), (1, 1, 5, 6, 10)]
CASES_HIDDEN = [(2, 4, 2, 5, 5), (3, 3, 7, 9, 4), (4, 1, 4, 16, 16)]


def _scalar(task: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        what = f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise CheckFailed(task, f"the loss must be a scalar tensor (a 0-d torch.Tensor), got {what}")
    return value


def _differentiable(task: str, loss_fn: Callable, logits: torch.Tensor, target: torch.Tensor, **kwargs) -> None:
    x = logits.clone().requires_grad_(True)
    loss = _scalar(task, call_student(task, loss_fn, x, target, **kwargs))
    if not loss.requires_grad:
        raise CheckFailed(
            task,
            "the loss does not depend differentiably on the logits (argmax, .detach(), .item() or a conversion to "
            "numpy breaks the gradient): use the softmax probabilities.",
        )
    loss.backward()
    if x.grad is None or not torch.isfinite(x.grad).all() or x.grad.abs().max() == 0:
        raise CheckFailed(task, "the gradient of the loss with respect to the logits is missing, zero or not finite")


def check_soft_dice_loss(soft_dice_loss: Callable, hidden: bool = False) -> None:
    """Value against the reference for several shapes and class counts; the gradient must flow."""
    task = "soft_dice_loss"
    cases = list(CASES_HIDDEN if hidden else CASES_VISIBLE)
    for index, (seed, *shape) in enumerate(cases):
        with case_of(index, len(cases)):
            logits, target, _ = _case(seed, *shape)
            expected = soft_dice_reference(logits, target)
            got = _scalar(task, call_student(task, soft_dice_loss, logits.clone(), target.clone()))
            if torch.allclose(got.double(), expected, atol=1e-6):
                continue
            one_hot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).double()
            inter, card = (logits * one_hot).sum((0, 2, 3)), logits.sum((0, 2, 3)) + one_hot.sum((0, 2, 3))
            no_softmax = 1 - ((2 * inter + 1) / (card + 1)).mean()
            if torch.allclose(got.double(), no_softmax, atol=1e-6):
                raise CheckFailed(
                    task, "Dice was computed on the logits: apply softmax over the class axis (dim=1) first."
                )
            per_image = torch.stack(
                [soft_dice_reference(logits[i : i + 1], target[i : i + 1]) for i in range(len(logits))]
            )
            if torch.allclose(got.double(), per_image.mean(), atol=1e-6) and len(logits) > 1:
                raise CheckFailed(task, "sum over the whole batch and all pixels per class, not per image.")
            raise CheckFailed(
                task, f"got {float(got):.6f}, expected {float(expected):.6f} for logits of shape {tuple(logits.shape)}"
            )
    logits, target, _ = _case(9, 2, 3, 6, 6)
    _differentiable(task, soft_dice_loss, logits, target)


def check_segmentation_loss(segmentation_loss: Callable, hidden: bool = False) -> None:
    """Cross-entropy on logits (+ weight map) plus Dice; names softmax-before-CE and an ignored weight map."""
    task = "segmentation_loss"
    cases = list(CASES_HIDDEN if hidden else CASES_VISIBLE)
    for index, (seed, *shape) in enumerate(cases):
        with case_of(index, len(cases)):
            logits, target, weights = _case(seed, *shape)
            for weight_map, dice_weight in ((None, 1.0), (weights, 1.0), (None, 0.0), (weights, 0.5)):
                kwargs = {"dice_weight": dice_weight}
                if weight_map is not None:
                    kwargs["weight_map"] = weight_map
                expected = segmentation_loss_reference(logits, target, weight_map, dice_weight)
                got = _scalar(task, call_student(task, segmentation_loss, logits.clone(), target.clone(), **kwargs))
                if torch.allclose(got.double(), expected, atol=1e-6):
                    continue
                dice = dice_weight * soft_dice_reference(logits, target)
                ce_probs = F.cross_entropy(logits.softmax(1), target, reduction="none")
                if weight_map is not None:
                    ce_probs = ce_probs * weight_map
                if torch.allclose(got.double(), ce_probs.mean() + dice, atol=1e-6):
                    raise CheckFailed(
                        task,
                        "softmax was applied before cross-entropy, which expects logits (F.cross_entropy applies "
                        "log-softmax itself): pass the raw logits.",
                    )
                if weight_map is not None:
                    unweighted = segmentation_loss_reference(logits, target, None, dice_weight)
                    if torch.allclose(got.double(), unweighted, atol=1e-6):
                        raise CheckFailed(
                            task, "the weight map was ignored: multiply the per-pixel cross-entropy by it."
                        )
                    ce = F.cross_entropy(logits, target, reduction="none")
                    by_weight = (ce * weight_map).sum() / weight_map.sum() + dice
                    if torch.allclose(got.double(), by_weight, atol=1e-6):
                        raise CheckFailed(
                            task, "average the weighted cross-entropy over pixels (mean), not over weights."
                        )
                what = "with a weight map" if weight_map is not None else "without a weight map"
                raise CheckFailed(
                    task,
                    f"got {float(got):.6f}, expected {float(expected):.6f} {what}, dice_weight={dice_weight}, "
                    f"logits of shape {tuple(logits.shape)}",
                )
    logits, target, weights = _case(8, 2, 4, 6, 6)
    _differentiable(task, segmentation_loss, logits, target, weight_map=weights)
