"""Checks of Assignment 2's metrics: IoU per class, mean IoU, Dice and pixel accuracy.

References come from torchmetrics (``cnnlab.metrics`` reads it from a confusion matrix). The rule for a class
absent from both prediction and target: its IoU (and Dice) is NaN and the means skip it, so an image without
stars neither rewards nor punishes the star class. The student's functions run where torchmetrics, scikit-learn,
``cnnlab.metrics`` and ``cnnlab.train`` cannot be reached (``forbidden.METRIC_LIBRARIES``): the assignment asks
for the metrics themselves. Torch, NumPy or plain Python may compute them, and a mean may come back as any one
number (a Python or NumPy number, a one-element tensor or array).

Mistakes named besides the wrong numbers: NaN where a class is present (or only missing from the target), absent
classes counted as 0 or as 1 (a smoothing term), a mean that is NaN, values computed per image and averaged, the
union counted as |P| + |T|, ignore_index never applied, IoU in place of Dice.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_f1_score

from cnnlab import metrics as ref

from ..common import CheckFailed, as_number, call_within, case_of, grader_only
from ..forbidden import METRIC_LIBRARIES
from ..references import grader_reference

IGNORE = 255


def _case(
    seed: int,
    shape: tuple[int, ...],
    num_classes: int,
    absent: tuple[int, ...] = (),
    ignore: bool = False,
    single: tuple[int, ...] = (),
):
    """A prediction right at about 60% of the pixels; ``absent`` classes nowhere; each ``single`` class at one
    pixel only, counted from the end so that the ignored columns leave it: the first in both prediction and target
    (union 1, IoU 1), the others in the prediction only (union 1, IoU 0)."""
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, shape, generator=g)
    pred = torch.where(torch.rand(shape, generator=g) < 0.6, target, torch.randint(0, num_classes, shape, generator=g))
    for k in absent:  # remove class k from both
        target[target == k] = (k + 1) % num_classes
        pred[pred == k] = (k + 1) % num_classes
    other = min(set(range(num_classes)) - set(absent) - set(single))
    for k in single:
        target[target == k] = other
        pred[pred == k] = other
    for i, k in enumerate(single):
        pred.view(-1)[-1 - i] = k
        target.view(-1)[-1 - i] = k if i == 0 else other
    if ignore:
        target[..., : shape[-1] // 4] = IGNORE
    return pred, target, (IGNORE if ignore else None)


CASES_VISIBLE = [
    ((2, 8, 8), 3, (), False),
    ((16, 16), 5, (4,), False, (2, 3)),
    ((3, 10, 12), 4, (), True),
]


def _cases(hidden: bool):
    if hidden:
        cases, seed = grader_only("unet").METRIC_CASES, grader_only("unet").METRIC_SEED
    else:
        cases, seed = CASES_VISIBLE, 0
    for i, (shape, c, absent, ignore, *single) in enumerate(cases):
        yield (*_case(seed + i, shape, c, absent, ignore, *single), c, shape)


def call_own(task: str, fn: Callable, *args: object, **kwargs: object) -> object:
    """Call the student's ``fn`` where the libraries that compute metrics cannot be reached; fail if it tries."""
    return call_within(task, METRIC_LIBRARIES, fn, *args, **kwargs)


@grader_reference
def _dice_per_class(pred: torch.Tensor, target: torch.Tensor, c: int, ignore: int | None) -> torch.Tensor:
    """torchmetrics' Dice (F1) per class, NaN for a class absent from prediction and target."""
    conf = ref.confusion_matrix(pred, target, c, ignore)
    present = (conf.sum(0) + conf.sum(1)) > 0
    if ignore is not None:
        kept = target != ignore
        pred, target = pred[kept], target[kept]
    scores = multiclass_f1_score(pred.reshape(-1), target.reshape(-1), c, average="none").double()
    return torch.where(present, scores, torch.full_like(scores, float("nan")))


def as_float(task: str, value: object, what: str) -> float:
    """``value`` as a float: a Python number, a one-element tensor, or NumPy's number or one-element array (NumPy's
    ``float32``, which ``np.nanmean`` of a ``float32`` array returns, is no Python ``float``, yet it is one number)."""
    number = as_number(value)
    if number is not None:
        return float(number)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        kind = "tensor" if isinstance(value, torch.Tensor) else "array"
        raise CheckFailed(task, f"{what} must be one number, got a {kind} of shape {tuple(value.shape)}")
    raise CheckFailed(task, f"{what} must be a float (or a one-element tensor), got {type(value).__name__}")


def _close(a: float, b: float, tol: float = 1e-5) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


def _describe(shape, c, ignore) -> str:
    extra = f", ignore_index={ignore}" if ignore is not None else ""
    return f"pred/target of shape {shape}, num_classes={c}{extra}"


@grader_reference
def _iou_keeping_ignored(pred: torch.Tensor, target: torch.Tensor, c: int, ignore: int) -> torch.Tensor:
    """IoU per class with the ignored pixels left in: they match no class, so each counts for its predicted class
    (the ignored pixels as one more class, which no prediction has)."""
    return ref.iou_per_class(ref.confusion_matrix(pred, torch.where(target == ignore, c, target), c + 1))[:c]


@grader_reference
def _iou_of(pred: torch.Tensor, target: torch.Tensor, c: int, ignore: int | None) -> torch.Tensor:
    """The reference IoU per class (NaN for a class absent from prediction and target)."""
    return ref.iou_per_class(ref.confusion_matrix(pred, target, c, ignore))


def _per_image(per_class: Callable, pred: torch.Tensor, target: torch.Tensor, c: int, ignore: int | None):
    """``per_class(pred[i], target[i], c, ignore)`` of each image ``i`` along the first axis, stacked; None when
    there is one image only."""
    if pred.dim() < 2 or len(pred) < 2:
        return None
    return torch.stack([per_class(p, t, c, ignore) for p, t in zip(pred, target)])


PER_IMAGE = (
    "computed per image and averaged over the images: {what} is one value over all the pixels of pred and target "
    "together (count intersections and unions over the whole batch, then divide), not a mean of per-image values"
)
SKIP_ABSENT = (
    "skip them, take the mean over the classes that are present (torch.nanmean of per-class values that are NaN for "
    "absent classes)"
)
ABSENT_AS_ONE = (
    "classes absent from both prediction and target were counted as {what} 1 (a smoothing term, (inter + eps) / "
    "(union + eps), gives 0/0 the value 1): " + SKIP_ABSENT
)
ABSENT_AS_ZERO = "classes absent from both prediction and target were counted as {what} 0: " + SKIP_ABSENT
NAN_MEAN = (
    "the mean is NaN: the NaN of a class absent from both prediction and target entered it; skip those classes "
    "with torch.nanmean (torch.mean and .mean() propagate NaN)"
)


def _nan_for_present(got, present, pred, target, ignore, shape, c) -> str:
    """The message for NaN returned for present classes, naming them and the size of their union."""
    keep = target != ignore if ignore is not None else torch.ones_like(target, dtype=torch.bool)
    classes = (present & torch.isnan(got)).nonzero().flatten().tolist()
    unions = {k: int(((pred == k) | (target == k))[keep].sum()) for k in classes}
    text = f"returned NaN for class(es) {classes}, present in {_describe(shape, c, ignore)} (pixels in their union: "
    text += ", ".join(f"class {k}: {n}" for k, n in unions.items()) + ")."
    if not any(int((target[keep] == k).sum()) for k in classes):
        text += (
            "\nLikely mistake: a class missing from the target only was taken as absent: a class predicted but not in "
            "the target has IoU 0 (every pixel predicted as it is a false positive), not NaN. A class is absent only "
            "when it is in neither: test the union (|P ∪ T| = 0), not the target alone."
        )
    elif min(unions.values()) == 1:
        text += (
            "\nLikely mistake: the guard for an absent class is too strict: a class is absent only when its union "
            "is 0 (union > 0 means present, even if it is one pixel)."
        )
    return text


def check_iou_per_class(iou_per_class: Callable, hidden: bool = False) -> None:
    """``iou_per_class(pred, target, num_classes, ignore_index=None)``: a float tensor, NaN for absent classes."""
    task = "iou_per_class"
    cases = list(_cases(hidden))
    for index, (pred, target, ignore, c, shape) in enumerate(cases):
        with case_of(index, len(cases)):
            expected = ref.iou_per_class(ref.confusion_matrix(pred, target, c, ignore))
            got = call_own(task, iou_per_class, pred.clone(), target.clone(), c, ignore_index=ignore)
            if not isinstance(got, torch.Tensor):
                raise CheckFailed(task, f"must return a torch.Tensor of {c} IoUs, got {type(got).__name__}")
            if tuple(got.shape) != (c,):
                raise CheckFailed(
                    task, f"returned shape {tuple(got.shape)}, expected ({c},) for {_describe(shape, c, ignore)}"
                )
            got = got.double()
            absent = torch.isnan(expected)
            if absent.any() and not torch.isnan(got[absent]).all():
                raise CheckFailed(
                    task,
                    f"class(es) {absent.nonzero().flatten().tolist()} appear in neither prediction nor target, so "
                    "their IoU is undefined: return NaN for them (mean_iou then skips them), not "
                    f"{got[absent].tolist()}.",
                )
            present = ~absent
            if torch.isnan(got[present]).any():
                raise CheckFailed(task, _nan_for_present(got, present, pred, target, ignore, shape, c))
            if torch.allclose(got[present], expected[present], atol=1e-5):
                continue
            if ignore is not None:
                no_ignore = ref.iou_per_class(ref.confusion_matrix(pred, target.clamp(max=c - 1), c))
                kept = _iou_keeping_ignored(pred, target, c, ignore)
                for wrong in (no_ignore, kept):
                    if torch.allclose(got[present], wrong[present], atol=1e-5, equal_nan=True):
                        raise CheckFailed(
                            task,
                            f"wrong IoU for {_describe(shape, c, ignore)}.\nLikely mistake: ignore_index is never "
                            f"applied: pixels whose target is {ignore} must not count at all (drop them from pred and "
                            "target first, keep = target != ignore_index).",
                        )
            per_image = _per_image(_iou_of, pred, target, c, ignore)
            if per_image is not None and torch.allclose(got[present], per_image.nanmean(0)[present], atol=1e-5):
                raise CheckFailed(
                    task,
                    f"wrong IoU for {_describe(shape, c, ignore)}.\nLikely mistake: "
                    + PER_IMAGE.format(what="the IoU of a class"),
                )
            no_subtract = _dice_per_class(pred, target, c, ignore) / 2  # TP / (|P| + |T|)
            if torch.allclose(got[present], no_subtract[present], atol=1e-5):
                raise CheckFailed(
                    task, "the union is |P| + |T| - |P ∩ T|: subtract the intersection, or pixels in both count twice."
                )
            raise CheckFailed(
                task, f"wrong IoU for {_describe(shape, c, ignore)}: got {got.tolist()}, expected {expected.tolist()}"
            )


def _mean_mistake(got: float, scores: torch.Tensor, per_image: torch.Tensor | None, what: str) -> str:
    """The "Likely mistake" line for a wrong mean of the per-class ``scores`` (NaN for absent classes), or "";
    ``per_image`` holds each image's per-class scores (None for one image)."""
    absent = torch.isnan(scores)
    if math.isnan(got) and absent.any():
        return f"\nLikely mistake: {NAN_MEAN}"
    for value, mistake in ((1.0, ABSENT_AS_ONE), (0.0, ABSENT_AS_ZERO)):
        if absent.any() and _close(got, float(torch.where(absent, torch.full_like(scores, value), scores).mean())):
            return "\nLikely mistake: " + mistake.format(what=what)
    if per_image is not None and _close(got, float(per_image.nanmean(1).mean())):
        return "\nLikely mistake: " + PER_IMAGE.format(what=f"the mean {what}")
    return ""


def check_mean_iou(mean_iou: Callable, hidden: bool = False) -> None:
    """``mean_iou(pred, target, num_classes, ignore_index=None)``: the mean over classes that are present."""
    task = "mean_iou"
    cases = list(_cases(hidden))
    for index, (pred, target, ignore, c, shape) in enumerate(cases):
        with case_of(index, len(cases)):
            iou = ref.iou_per_class(ref.confusion_matrix(pred, target, c, ignore))
            expected = float(iou.nanmean())
            value = call_own(task, mean_iou, pred.clone(), target.clone(), c, ignore_index=ignore)
            got = as_float(task, value, "mean IoU")
            if _close(got, expected):
                continue
            if torch.isnan(iou).any() and _close(got, float(torch.nan_to_num(iou).mean())):
                raise CheckFailed(
                    task,
                    "classes absent from both prediction and target were counted as IoU 0: skip them (take the mean "
                    "over the classes that are present, e.g. torch.nanmean).",
                )
            hint = _mean_mistake(got, iou, _per_image(_iou_of, pred, target, c, ignore), "IoU")
            raise CheckFailed(task, f"got {got:.6f}, expected {expected:.6f} for {_describe(shape, c, ignore)}{hint}")


def check_dice(dice: Callable, hidden: bool = False) -> None:
    """``dice(pred, target, num_classes, ignore_index=None)``: mean Dice 2|P∩T| / (|P| + |T|) over present classes."""
    task = "dice"
    cases = list(_cases(hidden))
    for index, (pred, target, ignore, c, shape) in enumerate(cases):
        with case_of(index, len(cases)):
            expected = float(_dice_per_class(pred, target, c, ignore).nanmean())
            got = as_float(task, call_own(task, dice, pred.clone(), target.clone(), c, ignore_index=ignore), "Dice")
            if _close(got, expected):
                continue
            iou = float(ref.iou_per_class(ref.confusion_matrix(pred, target, c, ignore)).nanmean())
            if _close(got, iou):
                raise CheckFailed(task, "this is the IoU, not Dice: Dice = 2|P∩T| / (|P| + |T|) = 2 IoU / (1 + IoU).")
            scores = _dice_per_class(pred, target, c, ignore)
            hint = _mean_mistake(got, scores, _per_image(_dice_per_class, pred, target, c, ignore), "Dice")
            raise CheckFailed(task, f"got {got:.6f}, expected {expected:.6f} for {_describe(shape, c, ignore)}{hint}")


def check_pixel_accuracy(pixel_accuracy: Callable, hidden: bool = False) -> None:
    """``pixel_accuracy(pred, target, ignore_index=None)``: the fraction of (non-ignored) pixels predicted right."""
    task = "pixel_accuracy"
    cases = list(_cases(hidden))
    for index, (pred, target, ignore, c, shape) in enumerate(cases):
        with case_of(index, len(cases)):
            expected = ref.pixel_accuracy(ref.confusion_matrix(pred, target, c, ignore))
            value = call_own(task, pixel_accuracy, pred.clone(), target.clone(), ignore_index=ignore)
            got = as_float(task, value, "accuracy")
            if _close(got, expected):
                continue
            if ignore is not None and _close(got, float((pred == target).double().mean())):
                raise CheckFailed(task, f"pixels whose target is ignore_index={ignore} must be left out of the count.")
            raise CheckFailed(task, f"got {got:.6f}, expected {expected:.6f} for {_describe(shape, c, ignore)}")


def check_accuracy_trap(all_background_accuracy: float, all_background_miou: float, masks: torch.Tensor) -> None:
    """The student's numbers for a model that predicts background everywhere on ``masks`` (Shapes, class 0)."""
    task = "pixel accuracy trap"
    num_classes = int(masks.max()) + 1
    pred = torch.zeros_like(masks)
    conf = ref.confusion_matrix(pred, masks, max(num_classes, 2))
    for got, expected, name in (
        (all_background_accuracy, ref.pixel_accuracy(conf), "all_background_accuracy"),
        (all_background_miou, ref.mean_iou(conf), "all_background_miou"),
    ):
        value = as_float(task, got, name)
        if not _close(value, expected, 1e-4):
            raise CheckFailed(task, f"{name} is {value:.4f}; for background predicted everywhere it is {expected:.4f}")
