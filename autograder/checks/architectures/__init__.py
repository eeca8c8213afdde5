"""Checks of Assignment 3 (residual, Inception and dense blocks; joint augmentation; a small ResNet), in one
namespace for its test cells.

``from autograder.checks import architectures as checks`` gives the block checks (``blocks``), the
augmentation checks (``augment``), the network, evaluation and accuracy checks (``training``), the training-loop
checks (``train_loop``) and the assignment's grading budget: one training cell may take ``GRADING_STEPS``
optimizer steps of ``GRADING_BATCH_SIZE`` images when graded, on every device.
"""

from __future__ import annotations

import torch

from cnnlab.device import Budget

from .. import budget as _budget
from ..budget import grading
from .augment import check_geometric, check_photometric, check_random_augment
from .blocks import (
    check_basic_block,
    check_bottleneck,
    check_dense_block,
    check_inception,
    check_inception_params,
    check_transition,
)
from .train_loop import check_augment_batch, check_train
from .training import PARAMS_RANGE, check_accuracy, check_evaluate, check_make_resnet

GRADING_STEPS = 600
GRADING_BATCH_SIZE = 32


def training_budget(
    steps: int, batch_size: int = GRADING_BATCH_SIZE, device: torch.device | str | None = None
) -> Budget:
    """The budget a training cell should use: scaled to the device, or Assignment 3's grading budget when graded."""
    return _budget.training_budget(
        steps, batch_size, device, grading_steps=GRADING_STEPS, grading_batch_size=GRADING_BATCH_SIZE
    )


def limit_training_when_graded() -> bool:
    """When graded, stop any cell's training after ``GRADING_STEPS`` optimizer steps."""
    return _budget.limit_training_when_graded(GRADING_STEPS)


__all__ = [
    "GRADING_BATCH_SIZE",
    "GRADING_STEPS",
    "PARAMS_RANGE",
    "check_accuracy",
    "check_augment_batch",
    "check_basic_block",
    "check_bottleneck",
    "check_dense_block",
    "check_evaluate",
    "check_geometric",
    "check_inception",
    "check_inception_params",
    "check_make_resnet",
    "check_photometric",
    "check_random_augment",
    "check_train",
    "check_transition",
    "grading",
    "limit_training_when_graded",
    "training_budget",
]
