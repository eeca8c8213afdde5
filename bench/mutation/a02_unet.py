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
        "augment_flips_only",
        "augment flips but never rotates, and leaves colours alone",
        (
            (
                "augment",
                "            v2.RandomApply([v2.RandomRotation(degrees=25)], p=0.5),\n            v2.ColorJitter(brightness=0.25),\n            v2.GaussianNoise(sigma=0.02),\n",
                "",
            ),
        ),
    ),
    H(
        "unet_average_pooling",
        "the encoder downsamples with average pooling",
        (("unet", "x = F.max_pool2d(x, 2)", "x = F.avg_pool2d(x, 2)"),),
    ),
    H(
        "train_not_shuffled",
        "the loader is not shuffled",
        (("train", "shuffle=True", "shuffle=False"),),
    ),
    H(
        "train_augmented_images_only",
        "only the augmented images are used; the masks stay as loaded",
        (
            (
                "train",
                "            masks = torch.stack([mask for _, mask in pairs])\n",
                "",
            ),
        ),
    ),
    H(
        "train_default_lr",
        "the signature's default learning rate changed to 1e-3",
        (("train", "lr=1e-2, device=None", "lr=1e-3, device=None"),),
    ),
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

_FLATTEN = "the comparisons, masks and sums that follow work on any shape, so flattening first changes nothing"
_NONE_GUARD = "with ignore_index=None, target != None is True: indexing with it keeps every pixel, as no guard would"
_FLOAT32 = "the task asks for a float tensor; float32 holds these ratios to 1e-7, well within the checks' 1e-5"
_EMPTY = "an absent class has union 0, and 0 / 0 is NaN, the value the guard leaves: the guard changes nothing"
_INPLACE = "inplace=True only saves memory; the block's values and gradients are the same"
_ANGLE = "the task leaves the rotation range open (at least a random rotation); the check reads that one happens"
_CLAMP = "ColorJitter and GaussianNoise (clip=True by default) already keep the image in [0, 1]"
_ONE_DEVICE = (
    "on a machine without a GPU (this run's) every tensor is already on the model's device; on a GPU the step fails"
)
_SPEED = "only speed changes (channels-last memory, the fused Adam update): the same values"
_BAR = "only the progress bar changes"

EQUIVALENT: dict[str, str] = {
    "iou_per_class:3:4:drop_statement:1": _FLATTEN,
    "iou_per_class:4:4:if_true:1": _NONE_GUARD,
    "iou_per_class:7:11:drop_keyword:1": _FLOAT32,
    "iou_per_class:11:8:if_true:1": _EMPTY,
    "iou_per_class:11:11:compare:1": _EMPTY,
    "iou_per_class:11:19:number:2": _EMPTY,
    "dice:3:4:drop_statement:1": _FLATTEN,
    "dice:4:4:if_true:1": _NONE_GUARD,
    "dice:7:13:drop_keyword:1": _FLOAT32,
    "dice:11:11:compare:1": _EMPTY,
    "dice:11:19:number:2": _EMPTY,
    "pixel_accuracy:3:4:drop_statement:1": _FLATTEN,
    "pixel_accuracy:4:4:if_true:1": _NONE_GUARD,
    "accuracy_trap:4:0:drop_statement:1": "only a print of the two numbers is removed",
    "double_conv:9:12:drop_keyword:1": _INPLACE,
    "double_conv:9:28:bool:1": _INPLACE,
    "double_conv:12:12:drop_keyword:1": _INPLACE,
    "double_conv:12:28:bool:1": _INPLACE,
    "unet:24:20:swap_args:1": "a 1x1 convolution and bilinear up-sampling commute (the weights of an interpolation sum to 1)",
    "unet:30:32:unary:1": "x.shape[2:] and x.shape[-2:] are the same (height, width) of the 4-D input the task specifies",
    "unet:40:22:cat_order:1": "which of skip and up-sampled features comes first only permutes the input channels of a freshly initialised convolution",
    "augment:7:12:drop_keyword:1": "RandomApply's default p is 0.5, the value removed",
    "augment:3:17:drop_layer:2": "the task asks for a horizontal flip and a rotation; the vertical flip is an extra",
    "augment:7:54:number:1": _ANGLE,
    "augment:7:54:number:2": _ANGLE,
    "augment:8:38:number:1": "the task leaves the brightness range open; the check reads that the brightness changes",
    "augment:12:29:drop_call:1": "transforms v2 treats the first plain tensor of the call as the image",
    "augment:13:11:drop_method:1": _CLAMP,
    "augment:13:49:number:2": _CLAMP,
    "augment:13:52:number:1": _CLAMP,
    "evaluate:1:59:number:1": "the batch size of an evaluation in eval mode does not change its predictions",
    "evaluate:1:59:number:2": "the batch size of an evaluation in eval mode does not change its predictions",
    "evaluate:3:4:drop_statement:1": "the notebook's global device, which the function then reads, is the one the model is on",
    "evaluate:9:31:drop_method:1": _ONE_DEVICE,
    "evaluate:10:11:swap_args:1": "without ignore_index, IoU is symmetric in prediction and target",
    "train:1:79:bool:1": _BAR,
    "train:5:4:drop_statement:1": _ONE_DEVICE,
    "train:5:4:drop_method:1": _ONE_DEVICE,
    "train:5:4:drop_keyword:1": _SPEED,
    "train:6:16:drop_keyword:1": "OneCycleLR sets the learning rate of every step from max_lr; Adam's own lr is never used",
    "train:6:16:drop_keyword:2": _SPEED,
    "train:6:66:bool:1": _SPEED,
    "train:11:13:drop_keyword:1": _BAR,
    "train:11:13:drop_keyword:2": _BAR,
    "train:21:8:drop_statement:1": _ONE_DEVICE,
    "train:21:24:drop_method:1": _ONE_DEVICE,
    "train:21:24:drop_keyword:1": _SPEED,
    "train:21:78:drop_method:1": _ONE_DEVICE,
    "train:24:8:drop_keyword:1": "every parameter has a gradient at every step, so zeroed and None gradients give Adam the same update",
    "train:24:40:bool:1": "every parameter has a gradient at every step, so zeroed and None gradients give Adam the same update",
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
