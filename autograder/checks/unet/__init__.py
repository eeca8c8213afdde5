"""Checks of Assignment 2 (a U-Net in PyTorch), in one namespace for its test cells.

``from autograder.checks import unet as checks`` gives the metric checks (``metrics``), the network checks
(``model``), the loss checks (``loss``), the augmentation check (``augment``), the evaluation and training-loop
checks (``training``), the result checks and the hidden trainability check (``results``; the trainability recipe
is the grader's, ``hidden.unet_trainability``) and the grading budget (``autograder.checks.budget``).
"""

from ..budget import GRADING_STEPS, grading, limit_training_when_graded, training_budget
from .augment import check_augmentation
from .loss import check_segmentation_loss, check_soft_dice_loss
from .metrics import check_accuracy_trap, check_dice, check_iou_per_class, check_mean_iou, check_pixel_accuracy
from .model import (
    PARAMS_RANGE,
    check_double_conv,
    check_unet_device_and_eval,
    check_unet_head,
    check_unet_params,
    check_unet_shapes,
    check_unet_skips,
)
from .results import check_result, check_trainability
from .training import check_evaluate, check_train

__all__ = [
    "GRADING_STEPS",
    "PARAMS_RANGE",
    "check_accuracy_trap",
    "check_augmentation",
    "check_dice",
    "check_double_conv",
    "check_evaluate",
    "check_iou_per_class",
    "check_mean_iou",
    "check_pixel_accuracy",
    "check_result",
    "check_segmentation_loss",
    "check_soft_dice_loss",
    "check_train",
    "check_trainability",
    "check_unet_device_and_eval",
    "check_unet_head",
    "check_unet_params",
    "check_unet_shapes",
    "check_unet_skips",
    "grading",
    "limit_training_when_graded",
    "training_budget",
]
