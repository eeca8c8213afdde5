"""Segmentation metrics for the lectures and benchmarks, computed from a confusion matrix.

Mean IoU averages over the classes present in the target or the prediction; a class absent from both
has no IoU (0/0) and is left out of the mean, as torchmetrics' ``JaccardIndex`` does with
``zero_division`` ignored. Pixels equal to ``ignore_index`` in the target are skipped everywhere.
"""

from __future__ import annotations

import torch


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
    pred = pred.reshape(-1).long()
    target = target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    bad = (target < 0) | (target >= num_classes) | (pred < 0) | (pred >= num_classes)
    if bad.any():
        raise ValueError(f"class indices must lie in [0, {num_classes}); found values outside it")
    counts = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu()


def iou_per_class(confusion: torch.Tensor) -> torch.Tensor:
    """Return IoU per class from a confusion matrix; NaN for a class absent from target and prediction."""
    confusion = confusion.double()
    tp = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))


def mean_iou(confusion: torch.Tensor) -> float:
    """Return the mean IoU over the classes that occur (NaNs from ``iou_per_class`` are left out)."""
    ious = iou_per_class(confusion)
    return float(ious[~ious.isnan()].mean()) if (~ious.isnan()).any() else float("nan")


def pixel_accuracy(confusion: torch.Tensor) -> float:
    """Return the fraction of (non-ignored) pixels classified correctly."""
    total = confusion.sum()
    return float(confusion.diag().sum().double() / total) if total > 0 else float("nan")
