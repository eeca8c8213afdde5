"""Result checks of Assignment 2: the student's trained model on a split, and the trainability check.

* ``check_result(model, min_miou, seed=...)`` evaluates the model the notebook trained with the grader's own
  code (eval mode, argmax, torchmetrics' mean IoU) on a ``Shapes`` split of the given seed — the hidden tests pass
  a seed that appears nowhere else. Several cells with rising ``min_miou`` give points by steps; the
  evaluation runs once per model state and split.
* ``check_trainability(UNet, min_miou, seed=...)``, a hidden test, trains the student's ``UNet`` class with the
  instructor's fixed recipe; it lives with the grader (``autograder.checks.hidden.unet_trainability``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cnnlab import metrics as ref
from cnnlab.data import Shapes

from ..common import CheckFailed, grader_only, plain
from ..references import grader_reference
from ..scores import TASK, score_once, where

#: Side of the images the grader evaluates on (the notebook trains at this size).
IMAGE_SIZE = 32
EVAL_IMAGES = 256


def split_data(seed: int | None, split: str | None, size: int | None = None, length: int = EVAL_IMAGES):
    """Images and masks of a ``Shapes`` split (``seed`` for a split of the grader's own) at the notebook's size."""
    size = size or IMAGE_SIZE
    if seed is not None:
        return Shapes(None, length, size=size, seed=seed).as_tensors()
    return Shapes(split, length, size=size).as_tensors()


@torch.no_grad()
@grader_reference
def miou_of(
    model: nn.Module, images: torch.Tensor, masks: torch.Tensor, num_classes: int = Shapes.num_classes
) -> float:  # noqa: E501
    """The grader's evaluation: eval mode, batches on the model's device, argmax, torchmetrics' mean IoU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        preds = [plain(model(images[i : i + 64].to(device))).argmax(1).cpu() for i in range(0, len(images), 64)]
    finally:
        model.train(was_training)
    return ref.mean_iou(ref.confusion_matrix(torch.cat(preds), masks, num_classes))


def check_result(model: nn.Module, min_miou: float, *, seed: int | None = None, split: str = "val") -> None:
    """Fail unless the trained ``model`` reaches ``min_miou`` on the split; print the mIoU.

    Returns nothing: nbgrader would take a number left as a test cell's output for its score.
    """
    if not isinstance(model, nn.Module):
        raise CheckFailed(TASK, f"`model` must be your trained UNet, got {type(model).__name__}")
    miou = score_once("mIoU", model, seed, split, lambda: miou_of(model, *split_data(seed, split)))
    if not miou >= min_miou:  # NaN fails too
        raise CheckFailed(TASK, f"mean IoU {miou:.3f} on {where(seed, split)}; this step needs at least {min_miou:.2f}")
    print(f"mean IoU {miou:.3f} on {where(seed, split)} (needed {min_miou:.2f})")


def check_trainability(UNet: Callable, min_miou: float, *, seed: int, **kwargs: object) -> None:  # noqa: N803
    """Train the student's ``UNet`` class with the instructor's fixed recipe; fail unless it reaches ``min_miou``.

    A hidden test: the recipe and its training run live with the grader
    (``autograder.checks.hidden.unet_trainability``).
    """
    grader_only("unet_trainability").check_trainability(UNet, min_miou, seed=seed, **kwargs)
