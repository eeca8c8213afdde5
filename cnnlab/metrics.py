"""Segmentation metrics for the lectures and benchmarks: torchmetrics' IoU and accuracy, over a confusion matrix.

The course computes its metrics with ``torchmetrics`` (a public library) and has no metric code of its own:
Assignment 2 asks students to write IoU, Dice and pixel accuracy themselves, and its rules forbid calling this
module or torchmetrics in those functions. The functions here keep the lectures' confusion-matrix style: count
once (``confusion_matrix``), then read any metric from the counts.

Mean IoU averages over the classes present in the target or the prediction; a class absent from both has no
IoU (0/0): NaN here, and left out of the mean. Pixels equal to ``ignore_index`` in the target are skipped
everywhere.
"""

from __future__ import annotations

from types import ModuleType

import torch


def _classification() -> ModuleType:
    """``torchmetrics.functional.classification``, imported on first use: importing torchmetrics takes about
    2.8 s of CPU (it imports torchvision and SciPy's signal processing), which a notebook that trains with
    ``cnnlab.train`` but never reads a metric, or a grading kernel, should not pay at its first cell."""
    from torchmetrics.functional import classification

    return classification


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> torch.Tensor:
    """Return the ``[num_classes, num_classes]`` int64 matrix whose entry (t, p) counts target t predicted p.

    ``pred`` holds class indices (take ``logits.argmax(1)`` first) of the same shape as ``target``.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}; "
            "did you pass logits instead of pred = logits.argmax(dim=1)?"
        )
    if pred.is_floating_point():
        raise TypeError("pred must hold integer class indices, got a floating-point tensor; use logits.argmax(dim=1)")
    pred = pred.reshape(-1).long().cpu()
    target = target.reshape(-1).long().cpu()
    if ignore_index is not None:
        kept = target != ignore_index
        pred, target = pred[kept], target[kept]
    if ((target < 0) | (target >= num_classes) | (pred < 0) | (pred >= num_classes)).any():
        raise ValueError(f"class indices must lie in [0, {num_classes}); found values outside it")
    return _classification().multiclass_confusion_matrix(pred, target, num_classes).long()


def _pairs(confusion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The (prediction, target) pairs the counts stand for, to hand to torchmetrics."""
    n = confusion.shape[0]
    flat = torch.repeat_interleave(torch.arange(n * n), confusion.reshape(-1).long().cpu())
    return flat % n, flat // n


def iou_per_class(confusion: torch.Tensor) -> torch.Tensor:
    """Return IoU per class (float64) from a confusion matrix; NaN for a class absent from target and prediction."""
    n = confusion.shape[0]
    pred, target = _pairs(confusion)
    if len(pred) == 0:
        return torch.full((n,), float("nan"), dtype=torch.float64)
    ious = _classification().multiclass_jaccard_index(pred, target, n, average="none").double()
    present = (confusion.sum(0) + confusion.sum(1)).cpu() > 0
    return torch.where(present, ious, torch.full_like(ious, float("nan")))


def mean_iou(confusion: torch.Tensor) -> float:
    """Return the mean IoU over the classes that occur (NaNs from ``iou_per_class`` are left out)."""
    ious = iou_per_class(confusion)
    return float(ious.nanmean()) if (~ious.isnan()).any() else float("nan")


def pixel_accuracy(confusion: torch.Tensor) -> float:
    """Return the fraction of (non-ignored) pixels classified correctly."""
    pred, target = _pairs(confusion)
    if len(pred) == 0:
        return float("nan")
    return float(_classification().multiclass_accuracy(pred, target, confusion.shape[0], average="micro"))
