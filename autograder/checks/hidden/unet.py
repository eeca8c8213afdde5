"""Assignment 2's hidden cases (grader only): metric, loss and network cases of other shapes and settings, and the
seeds of the hidden augmentation runs (the hidden test split's seed is in the hidden test cells themselves); and
the references of the losses, which give the loss checks their expected values (``autograder.checks.expected``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..references import guard_module
from ..unet.model import NetCase

#: Metric cases: (shape, num_classes, classes absent from both, with ignored pixels[, classes at one pixel only]);
#: inputs drawn with seeds ``METRIC_SEED + index``.
METRIC_SEED = 100
METRIC_CASES = [
    ((4, 9, 7), 6, (2, 5), False),
    ((1, 32, 32), 2, (), True),
    ((2, 5, 5), 5, (0,), True, (3, 1)),
    ((20,), 3, (), False),
]
#: Loss cases: (seed, N, C, H, W); the last one's target has no pixel of class 1 (the soft Dice still averages over
#: all C classes).
LOSS_CASES = [(2, 4, 2, 5, 5), (3, 3, 7, 9, 4), (4, 1, 4, 16, 16), (8, 2, 6, 3, 4)]
SHAPE_CASES = [
    NetCase(4, 7, 1, 6, "transpose", 9, 13, batch=3),
    NetCase(3, 3, 5, 2, "bilinear", 70, 33, batch=1),
    NetCase(2, 1, 2, 8, "transpose", 28, 28),
    NetCase(3, 5, 4, 4, "bilinear", 96, 80),
    NetCase(1, 6, 3, 4, "transpose", 61, 17),
]
AUGMENT_SEEDS = range(100, 124)


# --------------------------------------------------------------------------------------------------- losses
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


def _dice_per_class(
    probs: torch.Tensor, one_hot: torch.Tensor, squared: bool = False, top: float = 1.0, bottom: float = 1.0
) -> torch.Tensor:
    """The soft Dice of each class, (2 sum p t + top) / (sum p + sum t + bottom) with sums over the batch and the
    pixels; ``squared``: V-Net's denominator, sum p^2 + sum t^2."""
    dims = (0, 2, 3)
    card = (probs**2).sum(dims) + (one_hot**2).sum(dims) if squared else probs.sum(dims) + one_hot.sum(dims)
    return (2 * (probs * one_hot).sum(dims) + top) / (card + bottom)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor | None]:
    """``check_soft_dice_loss``'s values for one case: the loss, and the loss of each mistake it names (None where
    the case cannot show it)."""
    n, c, h, w = logits.shape
    probs = logits.softmax(dim=1)
    encoded = F.one_hot(target, c).to(logits.dtype)
    one_hot = encoded.permute(0, 3, 1, 2)
    inter, card = (logits * one_hot).sum((0, 2, 3)), logits.sum((0, 2, 3)) + one_hot.sum((0, 2, 3))
    per_image = torch.stack([soft_dice_reference(logits[i : i + 1], target[i : i + 1]) for i in range(len(logits))])
    dice = _dice_per_class(probs, one_hot)
    in_target = one_hot.sum((0, 2, 3)) > 0
    return {
        "expected": soft_dice_reference(logits, target),
        "no_softmax": 1 - ((2 * inter + 1) / (card + 1)).mean(),
        "per_image": per_image.mean(),
        "no_background": 1 - dice[1:].mean() if c > 1 else None,
        "squared": 1 - _dice_per_class(probs, one_hot, squared=True).mean(),
        "no_eps": 1 - _dice_per_class(probs, one_hot, top=0.0, bottom=0.0).mean(),
        "eps_below_only": 1 - _dice_per_class(probs, one_hot, top=0.0).mean(),
        "reshaped": 1 - _dice_per_class(probs, encoded.reshape(n, c, h, w)).mean(),
        "swapped_axes": 1 - _dice_per_class(probs, encoded.permute(0, 3, 2, 1)).mean() if h == w else None,
        "absent_zero": ((1 - dice) * in_target).mean() if not in_target.all() else None,
        "absent_skipped": (1 - dice[in_target]).mean() if not in_target.all() else None,
    }


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None, dice_weight: float
) -> dict[str, torch.Tensor | None]:
    """``check_segmentation_loss``'s values for one case and setting: the loss and those of its named mistakes."""
    dice = dice_weight * soft_dice_reference(logits, target)
    ce = F.cross_entropy(logits, target, reduction="none")
    ce_probs = F.cross_entropy(logits.softmax(1), target, reduction="none")
    if weight_map is not None:
        ce_probs = ce_probs * weight_map
    values: dict[str, torch.Tensor | None] = {
        "expected": segmentation_loss_reference(logits, target, weight_map, dice_weight),
        "softmax_first": ce_probs.mean() + dice,
        "unweighted": None,
        "by_weight": None,
    }
    if weight_map is not None:
        values["unweighted"] = segmentation_loss_reference(logits, target, None, dice_weight)
        values["by_weight"] = (ce * weight_map).sum() / weight_map.sum() + dice
    weighted_ce = (ce if weight_map is None else ce * weight_map).mean()
    values["dice_only"] = dice
    values["weight_on_ce"] = dice_weight * weighted_ce + soft_dice_reference(logits, target)
    return values


# every function here is a reference: it works for the checks, never inside student code
guard_module(globals())
