# ruff: noqa: E501 (the mistakes are lines of student code, kept whole so that each reads as written)
"""Assignment 2's mutation configuration: hand-written student mistakes and the equivalent mutants.

Mutants that reach the training cell train the U-Net for the grading budget (600 steps of 16 images) and are
judged by the result tests and the trainability check, as a submission would be. The bonus cell is not graded
and is not mutated.
"""

from __future__ import annotations

from .core import Config, Handwritten

H = Handwritten

_FORWARD = """        for upsample, block, skip in zip(self.upsample, self.decoder, reversed(skips)):
            x = block(torch.cat([upsample(x), skip], dim=1))"""

HANDWRITTEN = [
    H(
        "iou_ignore_never_applied",
        "iou_per_class never drops the ignored pixels",
        (
            (
                "iou_per_class",
                "    if ignore_index is not None:\n        keep = target != ignore_index\n        pred, target = pred[keep], target[keep]\n",
                "",
            ),
        ),
    ),
    H(
        "iou_absent_zero",
        "an absent class gets IoU 0 instead of NaN",
        (
            (
                "iou_per_class",
                'ious = torch.full((num_classes,), float("nan"), dtype=torch.float64)',
                "ious = torch.zeros(num_classes, dtype=torch.float64)",
            ),
        ),
    ),
    H(
        "iou_union_double_counts",
        "the union counted as |P| + |T|",
        (("iou_per_class", "union = (p | t).sum()", "union = p.sum() + t.sum()"),),
    ),
    H("mean_iou_mean", "mean_iou with mean instead of nanmean", (("mean_iou", "torch.nanmean(", "torch.mean("),)),
    H(
        "dice_is_iou",
        "dice computed as the IoU",
        (("dice", "scores[c] = 2 * (p & t).sum() / total", "scores[c] = (p & t).sum() / (p | t).sum()"),),
    ),
    H(
        "pixel_accuracy_keeps_ignored",
        "pixel_accuracy counts the ignored pixels",
        (
            (
                "pixel_accuracy",
                "    if ignore_index is not None:\n        keep = target != ignore_index\n        pred, target = pred[keep], target[keep]\n",
                "",
            ),
        ),
    ),
    H(
        "trap_swapped",
        "accuracy and mIoU of the trap swapped",
        (
            (
                "accuracy_trap",
                "all_background_accuracy = pixel_accuracy(all_background, val_masks)\nall_background_miou = mean_iou(all_background, val_masks, Shapes.num_classes)",
                "all_background_miou = pixel_accuracy(all_background, val_masks)\nall_background_accuracy = mean_iou(all_background, val_masks, Shapes.num_classes)",
            ),
        ),
    ),
    H(
        "double_conv_no_final_relu",
        "DoubleConv without its last ReLU",
        (
            (
                "double_conv",
                "            nn.BatchNorm2d(out_ch),\n            nn.ReLU(inplace=True),\n        )",
                "            nn.BatchNorm2d(out_ch),\n        )",
            ),
        ),
    ),
    H(
        "unet_deepest_skip_only",
        "the decoder concatenates a skip only at its deepest level",
        (
            (
                "unet",
                _FORWARD,
                """        for level, (upsample, block, skip) in enumerate(zip(self.upsample, self.decoder, reversed(skips))):
            x = upsample(x)
            x = block(torch.cat([x, skip if level == 0 else torch.zeros_like(skip)], dim=1))""",
            ),
        ),
    ),
    H(
        "unet_additive_skips",
        "skips added instead of concatenated (the decoder blocks take c channels)",
        (
            (
                "unet",
                _FORWARD,
                """        for upsample, block, skip in zip(self.upsample, self.decoder, reversed(skips)):
            x = block(upsample(x) + skip)""",
            ),
            (
                "unet",
                "self.decoder.append(DoubleConv(2 * narrow, narrow))",
                "self.decoder.append(DoubleConv(narrow, narrow))",
            ),
        ),
    ),
    H(
        "unet_ignores_bilinear",
        "up='bilinear' ignored: always transposed convolutions",
        (("unet", '            if up == "transpose":\n', "            if True:\n"),),
    ),
    H(
        "unet_skips_in_order",
        "skips taken in encoder order instead of reversed",
        (("unet", "zip(self.upsample, self.decoder, reversed(skips))", "zip(self.upsample, self.decoder, skips)"),),
    ),
    H(
        "unet_no_padding",
        "no padding for sizes not divisible by 2**depth",
        (("unet", "        x = F.pad(x, (0, (-width) % multiple, 0, (-height) % multiple))\n", ""),),
    ),
    H(
        "unet_softmax",
        "forward returns probabilities",
        (
            (
                "unet",
                "return self.head(x)[..., :height, :width]",
                "return self.head(x)[..., :height, :width].softmax(dim=1)",
            ),
        ),
    ),
    H(
        "unet_head_3x3",
        "a 3x3 head",
        (
            (
                "unet",
                "self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)",
                "self.head = nn.Conv2d(widths[0], num_classes, kernel_size=3, padding=1)",
            ),
        ),
    ),
    H(
        "unet_cat_batch_axis",
        "skips concatenated along the batch axis",
        (
            (
                "unet",
                "x = block(torch.cat([upsample(x), skip], dim=1))",
                "x = block(torch.cat([upsample(x), skip], dim=0).reshape(skip.shape[0], -1, *skip.shape[2:]))",
            ),
        ),
    ),
    H(
        "soft_dice_no_softmax",
        "soft Dice on the logits",
        (("soft_dice_loss", "probs = logits.softmax(dim=1)", "probs = logits"),),
    ),
    H(
        "soft_dice_per_image",
        "soft Dice per image, averaged",
        (("soft_dice_loss", "dims = (0, 2, 3)", "dims = (2, 3)"),),
    ),
    H(
        "soft_dice_no_eps",
        "soft Dice without the smoothing eps",
        (
            (
                "soft_dice_loss",
                "return 1 - ((2 * intersection + eps) / (cardinality + eps)).mean()",
                "return 1 - (2 * intersection / cardinality).mean()",
            ),
        ),
    ),
    H(
        "loss_weight_ignored",
        "the weight map ignored",
        (("segmentation_loss", "        ce = ce * weight_map\n", "        ce = ce\n"),),
    ),
    H(
        "loss_ce_on_probabilities",
        "cross-entropy on probabilities",
        (
            (
                "segmentation_loss",
                'ce = F.cross_entropy(logits, target, reduction="none")',
                'ce = F.cross_entropy(logits.softmax(dim=1), target, reduction="none")',
            ),
        ),
    ),
    H(
        "augment_separately",
        "image and mask transformed by separate calls",
        (
            (
                "augment",
                "image, mask = transforms(tv_tensors.Image(image), tv_tensors.Mask(mask))",
                "image = transforms(tv_tensors.Image(image))\n    mask = transforms(tv_tensors.Mask(mask))",
            ),
        ),
    ),
    H("evaluate_train_mode", "evaluate without model.eval()", (("evaluate", "    model.eval()\n", ""),)),
    H(
        "evaluate_no_argmax",
        "IoU of the logits",
        (("evaluate", "predictions.append(logits.argmax(dim=1).cpu())", "predictions.append(logits.cpu())"),),
    ),
    H(
        "train_no_zero_grad",
        "gradients never reset",
        (("train", "        optimizer.zero_grad(set_to_none=True)\n", ""),),
    ),
    H(
        "train_eval_mode",
        "the loop trains in eval mode",
        (("train", "        model.train()\n", "        model.eval()\n"),),
    ),
]

EQUIVALENT: dict[str, str] = {
    "dice:11:8:if_true:1": "when a class is nowhere, 2 * 0 / 0 is NaN, the value the guard leaves",
    "accuracy_trap:2:26:swap_args:1": "pixel accuracy is symmetric in prediction and target",
    "accuracy_trap:3:22:swap_args:1": "without ignore_index, IoU is symmetric in prediction and target",
    "soft_dice_loss:4:14:drop_method:1": "the integer one-hot target is promoted to the probabilities' float type when multiplied",
    "augment:9:12:drop_keyword:1": "the task leaves the noise level open (GaussianNoise's default sigma is a valid choice)",
    "train:11:47:unary:1": "only whether tqdm draws a progress bar changes",
}

CONFIG = Config(
    assignment="02_unet",
    handwritten=HANDWRITTEN,
    equivalent=EQUIVALENT,
    skip=frozenset({"cell 43", "cell 52", "cell 62", "bonus"}),
    not_mutated=frozenset({"bonus"}),
    timeout=600.0,
)
