"""Checks of Assignment 2's losses: soft Dice, and cross-entropy plus Dice with an optional pixel weight map.

What the notebook defines:

* ``soft_dice_loss(logits, target, eps=1.0) = 1 - mean_c (2 sum p_c t_c + eps) / (sum p_c + sum t_c + eps)``,
  ``p = softmax(logits, dim=1)``, ``t`` the one-hot target, sums over the batch and all pixels;
* ``segmentation_loss(logits, target, weight_map=None, dice_weight=1.0) = mean(w * CE) + dice_weight * Dice``
  with the per-pixel cross-entropy of the logits and ``w = 1`` when there is no weight map.

The expected values, and those of the mistakes the checks name, come from the grader's references through
``autograder.checks.expected`` (recorded in the student edition).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..common import CheckFailed, call_student, case_of, grader_only
from ..expected import expect


def _case(seed: int, n: int, c: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    target = torch.randint(0, c, (n, h, w), generator=g)
    weights = 1 + 4 * torch.rand(n, h, w, generator=g, dtype=torch.float64)
    return logits, target, weights


CASES_VISIBLE = [(0, 2, 3, 8, 8), (1, 1, 5, 6, 10)]


def _cases(hidden: bool) -> list[tuple[int, int, int, int, int]]:
    return list(grader_only("unet").LOSS_CASES if hidden else CASES_VISIBLE)


def _case_name(seed: int, *shape: int) -> str:
    return f"seed={seed},shape={tuple(shape)}"


def _close(got: torch.Tensor, value: torch.Tensor | None) -> bool:
    return value is not None and bool(torch.allclose(got.double(), value.double(), atol=1e-6))


def _scalar(task: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        what = f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise CheckFailed(task, f"the loss must be a scalar tensor (a 0-d torch.Tensor), got {what}")
    return value


def _call_loss(task: str, loss_fn: Callable, logits: torch.Tensor, target: torch.Tensor, **kwargs) -> object:
    """``call_student`` that names a float target when PyTorch's cross-entropy refuses it."""
    try:
        return call_student(task, loss_fn, logits, target, **kwargs)
    except CheckFailed as err:
        if "dtype" in err.message and "Float" in err.message and "target" in err.message:
            raise CheckFailed(task, f"{err.message}\nLikely mistake: {FLOAT_TARGET}.") from err
        raise


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


#: The soft Dice mistakes named from their values (``hidden.unet.soft_dice_loss``), and what to say.
DICE_MISTAKES = {
    "no_background": "the background (class 0) was left out of the mean: the loss averages the soft Dice of all C "
    "classes, the background included.",
    "squared": "the denominator squares the probabilities and the one-hot target (sum p^2 + sum t^2, V-Net's "
    "variant): this loss uses sum p + sum t.",
    "no_eps": "the smoothing term is missing (or tiny, as MONAI's default 1e-5): add eps, 1.0 by default, to both "
    "the numerator and the denominator, (2 sum p t + eps) / (sum p + sum t + eps).",
    "eps_below_only": "eps was added to the denominator only: add it to both, (2 sum p t + eps) / (sum p + sum t + "
    "eps), so that a class absent from prediction and target scores 1.",
    "reshaped": "the one-hot target was reshaped (or viewed) to (N, C, H, W): F.one_hot puts the classes last, "
    "(N, H, W, C), and only permute(0, 3, 1, 2) moves them to axis 1 with every pixel in its place; reshape keeps "
    "the memory order and scrambles classes and pixels.",
    "swapped_axes": "the one-hot target's height and width were swapped (permute(0, 3, 2, 1)): permute(0, 3, 1, 2) "
    "turns (N, H, W, C) into (N, C, H, W).",
    "absent_zero": "classes absent from the target were given loss 0 (a mask on the classes present, as "
    "segmentation_models_pytorch's DiceLoss does): the formula averages all C classes, and for a class absent from "
    "the target its term eps / (sum p + eps) still asks for low probabilities.",
    "absent_skipped": "classes absent from the target were left out of the mean: the formula averages all C "
    "classes, and for a class absent from the target its term eps / (sum p + eps) still asks for low probabilities.",
}
#: The combined loss's mistakes named from their values (``hidden.unet.segmentation_loss``), and what to say.
LOSS_MISTAKES = {
    "dice_only": "the cross-entropy term is missing: the loss is mean(w * CE) + dice_weight * Dice, the cross-entropy "
    "with weight 1.",
    "weight_on_ce": "dice_weight multiplies the cross-entropy: it weights the Dice term, "
    "mean(w * CE) + dice_weight * Dice.",
}
FLOAT_TARGET = (
    "the target was converted to floats: F.cross_entropy takes class indices as integers (int64, .long()); a float "
    "target is read as class probabilities of the logits' shape"
)


def check_soft_dice_loss(soft_dice_loss: Callable, hidden: bool = False) -> None:
    """Value against the reference for several shapes and class counts; the gradient must flow."""
    task = "soft_dice_loss"
    cases = _cases(hidden)
    for index, (seed, *shape) in enumerate(cases):
        with case_of(index, len(cases)):
            logits, target, _ = _case(seed, *shape)
            values = expect("unet", "soft_dice_loss", _case_name(seed, *shape), logits, target)
            got = _scalar(task, call_student(task, soft_dice_loss, logits.clone(), target.clone()))
            if _close(got, values["expected"]):
                continue
            if _close(got, values["no_softmax"]):
                raise CheckFailed(
                    task, "Dice was computed on the logits: apply softmax over the class axis (dim=1) first."
                )
            if _close(got, values["per_image"]) and len(logits) > 1:
                raise CheckFailed(task, "sum over the whole batch and all pixels per class, not per image.")
            _name_mistake(task, got, values, DICE_MISTAKES, f"for logits of shape {tuple(logits.shape)}")
            raise CheckFailed(
                task,
                f"got {float(got):.6f}, expected {float(values['expected']):.6f} for logits of shape "
                f"{tuple(logits.shape)}",
            )
    logits, target, _ = _case(9, 2, 3, 6, 6)
    _differentiable(task, soft_dice_loss, logits, target)


def _name_mistake(task: str, got: torch.Tensor, values: dict, mistakes: dict[str, str], where: str) -> None:
    """Fail naming the first of ``mistakes`` (a key of ``values`` -> its explanation) whose value ``got`` matches."""
    for key, mistake in mistakes.items():
        if _close(got, values.get(key)):
            raise CheckFailed(
                task,
                f"got {float(got):.6f}, expected {float(values['expected']):.6f} {where}.\nLikely mistake: {mistake}",
            )


def check_segmentation_loss(segmentation_loss: Callable, hidden: bool = False) -> None:
    """Cross-entropy on logits (+ weight map) plus Dice; names softmax-before-CE and an ignored weight map."""
    task = "segmentation_loss"
    cases = _cases(hidden)
    for index, (seed, *shape) in enumerate(cases):
        with case_of(index, len(cases)):
            logits, target, weights = _case(seed, *shape)
            for weight_map, dice_weight in ((None, 1.0), (weights, 1.0), (None, 0.0), (weights, 0.5)):
                setting = f"{_case_name(seed, *shape)},weighted={weight_map is not None},dice_weight={dice_weight}"
                values = expect("unet", "segmentation_loss", setting, logits, target, weight_map, dice_weight)
                kwargs = {"dice_weight": dice_weight}
                if weight_map is not None:
                    kwargs["weight_map"] = weight_map
                got = _scalar(task, _call_loss(task, segmentation_loss, logits.clone(), target.clone(), **kwargs))
                if _close(got, values["expected"]) and dice_weight == 1.0 and weight_map is None:
                    # the signature's defaults: no weight map, dice_weight=1.0
                    got = _scalar(task, call_student(task, segmentation_loss, logits.clone(), target.clone()))
                    if not _close(got, values["expected"]):
                        raise CheckFailed(
                            task,
                            f"segmentation_loss(logits, target) gave {float(got):.6f}, but with dice_weight=1.0 "
                            f"{float(values['expected']):.6f}: keep the signature's defaults (weight_map=None, "
                            "dice_weight=1.0).",
                        )
                if _close(got, values["expected"]):
                    continue
                if _close(got, values["softmax_first"]):
                    raise CheckFailed(
                        task,
                        "softmax was applied before cross-entropy, which expects logits (F.cross_entropy applies "
                        "log-softmax itself): pass the raw logits.",
                    )
                if _close(got, values["unweighted"]):
                    raise CheckFailed(task, "the weight map was ignored: multiply the per-pixel cross-entropy by it.")
                if _close(got, values["by_weight"]):
                    raise CheckFailed(task, "average the weighted cross-entropy over pixels (mean), not over weights.")
                _name_mistake(task, got, values, LOSS_MISTAKES, f"with dice_weight={dice_weight}")
                what = "with a weight map" if weight_map is not None else "without a weight map"
                raise CheckFailed(
                    task,
                    f"got {float(got):.6f}, expected {float(values['expected']):.6f} {what}, "
                    f"dice_weight={dice_weight}, logits of shape {tuple(logits.shape)}",
                )
    logits, target, weights = _case(8, 2, 4, 6, 6)
    _differentiable(task, segmentation_loss, logits, target, weight_map=weights)
