"""Checks of Assignment 3's small ResNet: the network, the evaluation function and the trained model's accuracy.

* ``check_make_resnet(make_resnet)``: ``make_resnet(num_classes, width)`` builds the network from the
  student's ``BasicBlock``, starts with the notebook's ``Standardize`` (so raw images go in and the grader can
  feed them), ends with global average pooling and a linear layer (so any image size works), and has a
  parameter count in the stated range.
* ``check_evaluate(evaluate)``: ``evaluate(model, images, labels, batch_size)`` returns the accuracy of the
  model in eval mode; a probe network records how it was called, so BatchNorm left in train mode at
  evaluation is named.
* ``check_accuracy(model, min_accuracy, seed=...)``: the grader's own evaluation of the trained model on a
  ``ShapesClassification`` split — the hidden tests pass a seed that appears nowhere else. Several cells with
  rising thresholds give points by steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from cnnlab.data import ShapesClassification
from cnnlab.device import get_device

from ..common import CheckFailed, as_number, call_student, call_within, plain
from ..forbidden import METRIC_LIBRARIES
from ..probes import not_moved_to_device, record_calls
from ..references import grader_reference
from ..scores import TASK, score_once, where
from .blocks import basic_block_params, build, count_params, randomise_batchnorm

#: Image size and evaluation images of the assignment.
IMAGE_SIZE = 32
EVAL_IMAGES = 500
#: Parameters ``make_resnet(4, width=16)`` must have (stated in the notebook).
PARAMS_RANGE = (30_000, 300_000)


def check_make_resnet(make_resnet: Callable) -> None:
    """``make_resnet(num_classes=4, width=16)``: Standardize, stem, BasicBlocks, global pooling, linear."""
    task = "make_resnet"
    g = torch.Generator().manual_seed(8)
    model = build(task, make_resnet, 4, width=16)
    blocks = [m for m in model.modules() if type(m).__name__ == "BasicBlock"]
    if len(blocks) < 3:
        raise CheckFailed(
            task, f"found {len(blocks)} BasicBlock modules; build the network from (at least three of) your BasicBlock"
        )
    n = count_params(model)
    default = count_params(build(task, make_resnet))
    if default != n:
        raise CheckFailed(
            task,
            f"make_resnet() has {default:,} parameters and make_resnet(4, width=16) {n:,}: the defaults must be "
            "num_classes=4 and width=16",
        )
    if not PARAMS_RANGE[0] <= n <= PARAMS_RANGE[1]:
        raise CheckFailed(
            task,
            f"make_resnet(4, width=16) has {n:,} parameters, expected between "
            f"{PARAMS_RANGE[0]:,} and {PARAMS_RANGE[1]:,}",
        )
    for num_classes, width, size in ((4, 16, (32, 32)), (4, 16, (48, 40)), (7, 8, (32, 32))):
        net = model if (num_classes, width) == (4, 16) else build(task, make_resnet, num_classes, width=width)
        x = torch.rand(2, 3, *size, generator=g)
        try:
            with torch.no_grad():
                out = call_student(task, net, x)
        except CheckFailed as err:
            if size == (32, 32):
                raise
            raise CheckFailed(
                task,
                f"{err.message} for images {(2, 3, *size)}.\nLikely mistake: end with global "
                "average pooling (nn.AdaptiveAvgPool2d(1)) and nn.Flatten(), so that the linear "
                "layer sees 4 * width features whatever the image size",
            ) from err
        expected = (2, num_classes)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(
                task,
                f"make_resnet({num_classes}, width={width}) on images {(2, 3, *size)} returned "
                f"{shape}, expected logits of shape {expected}.\nLikely mistake: end with global "
                "average pooling (nn.AdaptiveAvgPool2d(1)), nn.Flatten() and nn.Linear",
            )
    expected = resnet_params(4, 16)
    if PARAMS_RANGE[0] <= n <= PARAMS_RANGE[1] and n != expected:
        raise CheckFailed(
            task,
            f"make_resnet(4, width=16) has {n:,} parameters, expected {expected:,}: the stem's 3x3 convolution "
            "from 3 to width channels without bias and its BatchNorm, the three BasicBlocks, and the linear layer "
            "from 4 * width features (with its bias)",
        )
    _check_downsampling(task, model, blocks[-3:])
    _check_stem(task, model, blocks[-3])
    x, other = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        plain, shifted, different = model(x), model(0.5 * x + 0.2), model(other)
    if not (plain - shifted).abs().max() <= 0.05 * (plain - different).abs().max():  # NaN fails too
        raise CheckFailed(
            task,
            "the network's output changes when the images are made darker and lower in contrast.\nLikely mistake: "
            "the network must start with Standardize(), which normalises each image and channel (the grader feeds "
            "raw images in [0, 1])",
        )


@grader_reference
def resnet_params(num_classes: int, width: int) -> int:
    """Parameters of make_resnet by the notebook's description."""
    stem = 9 * 3 * width + 2 * width
    blocks = sum(
        sum(basic_block_params(i, o, s))
        for i, o, s in [(width, width, 1), (width, 2 * width, 2), (2 * width, 4 * width, 2)]
    )
    return stem + blocks + 4 * width * num_classes + num_classes


def _check_stem(task: str, model: nn.Module, first_block: nn.Module) -> None:
    """The stem ends with a ReLU (conv -> BN -> ReLU): the first block's input is non-negative even with BatchNorm
    statistics set away from their defaults."""
    randomise_batchnorm(model, 13)
    seen: list[torch.Tensor] = []
    hook = first_block.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            call_student(task, model, torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(14)))
    finally:
        hook.remove()
    if seen and not float(seen[0].min()) >= 0:
        raise CheckFailed(
            task,
            "the first BasicBlock receives negative values.\nLikely mistake: the stem is conv -> BN -> ReLU, in that "
            "order (the ReLU last)",
        )


def _check_downsampling(task: str, model: nn.Module, blocks: list[nn.Module]) -> None:
    """On 32 x 32 images the three blocks' outputs are 16, 8 and 4 pixels wide: the stem has stride 2, the second
    and third blocks stride 2."""
    sizes: list[tuple[int, ...]] = []
    hooks = [b.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[-2:]))) for b in blocks]
    try:
        with torch.no_grad():
            call_student(task, model, torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(9)))
    finally:
        for h in hooks:
            h.remove()
    expected = [(16, 16), (8, 8), (4, 4)]
    if sizes[-3:] != expected:
        if sizes[-3:] == [(32, 32), (16, 16), (8, 8)]:
            hint = "the stem convolution has no stride: it is a 3x3 convolution with stride 2 (and padding 1)"
        else:
            hint = "the stem has stride 2, the first block stride 1, the second and third stride 2"
        raise CheckFailed(
            task,
            f"on 32x32 images the three BasicBlocks output feature maps of {sizes[-3:]}, expected {expected}."
            f"\nLikely mistake: {hint}",
        )


def _check_default_batch_size(task: str, evaluate: Callable, device: torch.device) -> None:
    """Without batch_size, 300 images go in batches of at most 256 (the default the notebook gives), not all at once."""
    model = ProbeClassifier().to(device)
    g = torch.Generator().manual_seed(11)
    images, labels = torch.rand(300, 3, 8, 8, generator=g), torch.randint(0, 4, (300,), generator=g)
    call_within(task, METRIC_LIBRARIES, evaluate, model, images, labels)
    largest = max((size for _, _, size in model.calls), default=0)
    if largest != 256:
        raise CheckFailed(
            task,
            f"called without batch_size on 300 images, evaluate predicted batches of up to {largest} images; the "
            "default is batch_size=256",
        )


class ProbeClassifier(nn.Module):
    """A tiny classifier that records its calls: BatchNorm, then a 3x3 convolution, pooling and a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(9)
        self.norm = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.head = nn.Linear(6, 4)
        self.calls: list[tuple[bool, bool, int]] = []  # (training, grad enabled, batch size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled(), x.shape[0]))
        return self.head(torch.relu(self.conv(self.norm(x))).mean(dim=(2, 3)))


def check_evaluate(evaluate: Callable) -> None:
    """``evaluate(model, images, labels, batch_size=256)`` returns the accuracy of the model in eval mode."""
    task = "evaluate"
    device = get_device()
    g = torch.Generator().manual_seed(10)
    model = ProbeClassifier()
    with torch.no_grad():  # statistics far from any batch's: train-mode BatchNorm changes the predictions
        model.norm.running_mean.fill_(0.8)
        model.norm.running_var.fill_(4.0)
    images = torch.rand(50, 3, 8, 8, generator=g)
    model.eval()
    with torch.no_grad():
        pred = model(images).argmax(1)
    labels = torch.where(torch.rand(50, generator=g) < 0.6, pred, torch.randint(0, 4, (50,), generator=g))
    expected = float((pred == labels).float().mean())
    hits = (pred == labels).float()
    batch_mean = float(torch.stack([hits[i : i + 16].mean() for i in range(0, len(hits), 16)]).mean())
    model.calls.clear()
    model = model.to(device).train()  # evaluate must switch it to eval mode
    with record_calls() as log:
        try:
            got = call_within(task, METRIC_LIBRARIES, evaluate, model, images, labels, batch_size=16)
        except CheckFailed as err:
            not_moved_to_device(task, device, log, err)
            raise
    if not model.calls:
        raise CheckFailed(task, "evaluate never called the model")
    if any(training for training, _, _ in model.calls):
        raise CheckFailed(
            task,
            "the model was in train mode during evaluation.\nLikely mistake: BatchNorm in "
            "train mode at evaluation normalises with each batch's own statistics (and dropout "
            "drops units); call model.eval() before predicting",
        )
    if max(size for _, _, size in model.calls) > 16:
        raise CheckFailed(task, "evaluate ignored batch_size: predict in batches of at most batch_size images")
    not_moved_to_device(task, device, log)
    number = as_number(got)
    if number is None:
        raise CheckFailed(task, f"evaluate must return the accuracy as a float, got {type(got).__name__}")
    got = float(number)
    if not abs(got - expected) <= 1e-6:  # NaN fails too
        hint = ""
        if abs(got - 100 * expected) < 1e-4:
            hint = " (a percentage? return a fraction in [0, 1])"
        elif abs(got - batch_mean) < 1e-6:
            hint = (
                ".\nLikely mistake: the mean of the batches' accuracies counts the last, smaller batch (here 2 of 50 "
                "images) as much as a full one; count the correct predictions over all batches and divide by the "
                "number of images"
            )
        raise CheckFailed(task, f"returned {got:.4f}, expected the accuracy {expected:.4f}{hint}")
    if any(grad for _, grad, _ in model.calls):
        raise CheckFailed(task, "gradients were recorded during evaluation: wrap it in torch.no_grad()")
    _check_default_batch_size(task, evaluate, device)


def split_data(seed: int | None, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw images and labels of a ``ShapesClassification`` split (``seed``: a split of the grader's own)."""
    if seed is not None:
        return ShapesClassification(None, EVAL_IMAGES, size=IMAGE_SIZE, seed=seed).as_tensors()
    return ShapesClassification(split, EVAL_IMAGES, size=IMAGE_SIZE).as_tensors()


@torch.no_grad()
@grader_reference
def accuracy_of(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The grader's own evaluation: eval mode, batches on the model's device, argmax."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        preds = [plain(model(images[i : i + 100].to(device))).argmax(1).cpu() for i in range(0, len(images), 100)]
    finally:
        model.train(was_training)
    return float((torch.cat(preds) == labels).float().mean())


def check_accuracy(model: nn.Module, min_accuracy: float, *, seed: int | None = None, split: str = "val") -> None:
    """Fail unless the trained ``model`` reaches ``min_accuracy`` on the split; print the accuracy.

    Returns nothing: nbgrader would take a number left as a test cell's output for its score.
    """
    if not isinstance(model, nn.Module):
        raise CheckFailed(TASK, f"`model` must be your trained network, got {type(model).__name__}")
    accuracy = score_once("accuracy", model, seed, split, lambda: accuracy_of(model, *split_data(seed, split)))
    if not accuracy >= min_accuracy:  # NaN fails too
        hint = ""
        if accuracy < 0.35:
            hint = (
                "\nThat is close to chance (0.25 for 4 balanced classes): the network did not learn. Check that "
                "the optimizer steps, the loss takes logits, and the augmentation keeps each image's label."
            )
        raise CheckFailed(
            TASK, f"accuracy {accuracy:.3f} on {where(seed, split)}; this step needs at least {min_accuracy:.2f}{hint}"
        )
    print(f"accuracy {accuracy:.3f} on {where(seed, split)} (needed {min_accuracy:.2f})")
