"""Typical mistakes in Assignment 2, each made from the instructor's solution by one edit.

``MISTAKES`` are the ones the end-to-end test grades; ``EXTRA_MISTAKES`` are run through the notebook's own test
cells in-process (tests/test_checks_unet.py), where no network is trained: together, the ten the assignment's
checks must name. For each:
the solution-cell edits, the graded cells that must lose their points (worked out from what each
test checks), the cells that may lose points too (the trained model's mean IoU depends on how much the
mistake hurts training), and a phrase the feedback must contain to name the mistake.
"""

from __future__ import annotations

from .nbcourse import Mistake, Mutation

ASSIGNMENT = NOTEBOOK = "02_unet"

RESULT_CELLS = frozenset(
    {"test_result_val", "test_result_hidden_1", "test_result_hidden_2", "test_result_hidden_3", "test_trainability"}
)
SHAPE_CELLS = frozenset({"test_unet_shapes", "test_unet_shapes_hidden"})


_CAT = "x = block(torch.cat([upsample(x), skip], dim=1))"
_PAD = "x = F.pad(x, (0, (-width) % multiple, 0, (-height) % multiple))"
_CE = 'ce = F.cross_entropy(logits, target, reduction="none")'
_ARGMAX = "predictions.append(logits.argmax(dim=1).cpu())"
_MOVE = "logits = model(images[start : start + batch_size].to(device))"
_JOINT = "image, mask = transforms(tv_tensors.Image(image), tv_tensors.Mask(mask))"
_HEAD = "nn.Conv2d(widths[0], num_classes, kernel_size=1)"
_SEPARATE = "image = transforms(tv_tensors.Image(image))\n    mask = transforms(tv_tensors.Mask(mask))"
_NAN = 'ious = torch.full((num_classes,), float("nan"), dtype=torch.float64)'

MISTAKES = [
    Mistake(
        "skips_unused",
        (Mutation("unet", _CAT, "x = block(torch.cat([upsample(x), torch.zeros_like(skip)], dim=1))"),),
        frozenset({"test_unet_skips"}),
        "skip connections are missing or unused",
        may_fail=RESULT_CELLS,
    ),
    Mistake(
        "cat_wrong_axis",
        (Mutation("unet", _CAT, _CAT.replace("dim=1", "dim=0")),),
        SHAPE_CELLS | RESULT_CELLS | {"test_unet_skips", "test_unet_head", "test_unet_device_eval"},
        "concatenation on the wrong axis",
    ),
    Mistake(
        "no_final_1x1",
        (Mutation("unet", _HEAD, _HEAD.replace("kernel_size=1", "kernel_size=3, padding=1")),),
        frozenset({"test_unet_head"}),
        "no final 1x1 convolution",
        may_fail=RESULT_CELLS,
    ),
    Mistake(
        "size_not_divisible",
        (
            Mutation("unet", _PAD, "pass"),
            Mutation("unet", "return self.head(x)[..., :height, :width]", "return self.head(x)"),
        ),
        SHAPE_CELLS,
        "not divisible by 2**depth",
    ),
    Mistake(
        "softmax_before_cross_entropy",
        (Mutation("segmentation_loss", _CE, _CE.replace("(logits,", "(logits.softmax(dim=1),")),),
        frozenset({"test_segmentation_loss", "test_segmentation_loss_hidden"}),
        "softmax was applied before cross-entropy",
        may_fail=RESULT_CELLS | {"test_train"},
    ),
]

#: Five more typical mistakes, run through the notebook's test cells in-process (tests/test_checks_unet.py) rather
#: than graded end to end: every end-to-end submission trains a network, and CI time is bounded. The three of
#: ``evaluate`` leave training as the solution's, so grading them end to end trained the same network three times.
EXTRA_MISTAKES = [
    Mistake(
        "iou_on_logits",
        (Mutation("evaluate", _ARGMAX, "predictions.append(logits.cpu())"),),
        frozenset({"test_evaluate"}),
        "IoU computed on logits",
    ),
    Mistake(
        "evaluated_in_train_mode",
        (Mutation("evaluate", "    model.eval()\n", ""),),
        frozenset({"test_evaluate"}),
        "left in train mode at evaluation",
    ),
    Mistake(
        "data_not_moved_to_device",
        (Mutation("evaluate", _MOVE, _MOVE.replace(".to(device)", "")),),
        frozenset({"test_evaluate"}),
        "not moved to the model's device",
    ),
    Mistake(
        "mask_augmented_separately",
        (Mutation("augment", _JOINT, _SEPARATE),),
        frozenset({"test_augment", "test_augment_hidden"}),
        "different random parameters",
    ),
    Mistake(
        "absent_class_counted_as_zero",
        (Mutation("iou_per_class", _NAN, "ious = torch.zeros(num_classes, dtype=torch.float64)"),),
        frozenset({"test_iou_per_class", "test_iou_per_class_hidden", "test_mean_iou", "test_mean_iou_hidden"}),
        "return NaN for them",
        may_fail=frozenset({"test_evaluate"}),
    ),
]
