"""Checks of Assignment 2's evaluation function and training loop, run on small probe networks.

A probe network records how it is called (train or eval mode, batch sizes, whether gradients were on), and
``record_calls`` watches the student's torch calls, so the checks can name mistakes that barely change a
number: a model left in train mode at evaluation (BatchNorm then normalises with the batch's statistics),
IoU computed on logits without ``argmax``, the mean IoU of each batch averaged, data never moved to the model's
device (invisible on a CPU, an error on a GPU; ``.to(device)``, ``.cuda()``, ``.to(parameter)`` and ``.type_as``
all move), a training loop that never calls ``model.train()`` again after evaluating. A result may be any one
number: a Python or NumPy number, or a one-element tensor or array.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.overrides import TorchFunctionMode

from cnnlab import metrics as ref
from cnnlab.device import Budget, get_device

from ..common import CheckFailed, call_within
from ..forbidden import METRIC_LIBRARIES
from ..probes import CallLog, not_moved_to_device, record_calls
from .metrics import as_float


class ProbeNet(nn.Module):
    """A tiny segmentation network that records its calls: BatchNorm, then a 3x3 and a 1x1 convolution."""

    def __init__(self, in_channels: int = 3, num_classes: int = 3) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.norm = nn.BatchNorm2d(in_channels)
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.head = nn.Conv2d(8, num_classes, 1)
        self.calls: list[tuple[bool, bool, int]] = []  # (training, grad enabled, batch size)
        self.first_batch: torch.Tensor | None = None  # the images of the first training step
        self.batch_sums: list[torch.Tensor] = []  # each training step's per-image sums, to tell batches apart
        self.fresh: dict[int, torch.Tensor] = {}  # each parameter's gradient from the latest backward pass only
        for index, parameter in enumerate(self.parameters()):
            parameter.register_hook(self._remember(index))

    def _remember(self, index: int):
        def hook(grad: torch.Tensor) -> None:
            self.fresh[index] = grad.detach().clone()

        return hook

    def gradients_are_fresh(self) -> bool:
        """Whether the gradients the optimizer is about to use are those of the latest backward pass alone, up to
        one common scale (gradient clipping), rather than a sum over earlier steps' passes too."""
        params = list(self.parameters())
        if len(self.fresh) < len(params) or any(p.grad is None for p in params):
            return True  # nothing to compare (a parameter outside the loss): other checks judge that
        used = torch.cat([p.grad.detach().flatten().double().cpu() for p in params])
        fresh = torch.cat([self.fresh[k].flatten().double().cpu() for k in range(len(params))])
        return bool(torch.nn.functional.cosine_similarity(used, fresh, dim=0) > 0.999)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled(), x.shape[0]))
        if torch.is_grad_enabled():
            if self.first_batch is None:
                self.first_batch = x.detach().cpu().contiguous()
            self.batch_sums.append(x.detach().double().sum(dim=(1, 2, 3)).cpu())
        return self.head(torch.relu(self.conv(self.norm(x))))


class _OtherMoves(TorchFunctionMode):
    """Counts, in ``log.moved_to_device``, the moves to a device that ``probes.record_calls`` does not count:
    ``x.to(other)`` (another tensor's device and dtype, e.g. a parameter's), ``x.to(0)`` (a GPU's index) and
    ``x.type_as(other)``."""

    def __init__(self, log: CallLog) -> None:
        super().__init__()
        self.log = log

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to:
            like = any(isinstance(a, torch.Tensor) for a in args[1:]) or isinstance(kwargs.get("other"), torch.Tensor)
            index = any(isinstance(a, int) and not isinstance(a, bool) for a in args[1:])
            self.log.moved_to_device += int(like or index)
        elif func is torch.Tensor.type_as:
            self.log.moved_to_device += 1
        return func(*args, **kwargs)


@contextlib.contextmanager
def _record_calls() -> Iterator[CallLog]:
    """``probes.record_calls``, counting every common way of moving a tensor to the model's device."""
    with record_calls() as log, _OtherMoves(log):
        yield log


def _eval_problem(device: torch.device) -> tuple[ProbeNet, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A probe with BatchNorm statistics far from any batch's, images, masks and its eval-mode predictions."""
    g = torch.Generator().manual_seed(6)
    model = ProbeNet()
    with torch.no_grad():
        model.norm.running_mean.fill_(0.8)
        model.norm.running_var.fill_(4.0)
    images = torch.rand(20, 3, 12, 12, generator=g)
    model.eval()
    with torch.no_grad():
        pred = model(images).argmax(1)
    masks = torch.where(torch.rand(pred.shape, generator=g) < 0.7, pred, torch.randint(0, 3, pred.shape, generator=g))
    model.calls.clear()
    model.train()  # the student's evaluate must switch it to eval mode
    return model.to(device), images, masks, pred


def _per_batch_means(pred: torch.Tensor, masks: torch.Tensor, batch_size: int) -> list[float]:
    """The mean IoU of each batch of ``batch_size`` images, averaged: plainly, and weighted by the batches' sizes."""
    values, sizes = [], []
    for start in range(0, len(pred), batch_size):
        conf = ref.confusion_matrix(pred[start : start + batch_size], masks[start : start + batch_size], 3)
        values.append(ref.mean_iou(conf))
        sizes.append(len(pred[start : start + batch_size]))
    return [sum(values) / len(values), sum(v * n for v, n in zip(values, sizes)) / sum(sizes)]


PER_BATCH = (
    "the mean IoU of each batch was averaged over the batches: the mean IoU is one value over all the images; "
    "collect the predictions of every batch (torch.cat) and compute it once (or add up the counts of every batch "
    "before dividing)"
)


def check_evaluate(evaluate: Callable) -> None:
    """``evaluate(model, images, masks, num_classes, batch_size=...)`` returns the mean IoU of the eval-mode model."""
    task = "evaluate"
    device = get_device()
    model, images, masks, pred = _eval_problem(device)
    expected = ref.mean_iou(ref.confusion_matrix(pred, masks, 3))
    with _record_calls() as log:
        try:
            got = call_within(task, METRIC_LIBRARIES, evaluate, model, images, masks, 3, batch_size=8)
        except CheckFailed as err:
            not_moved_to_device(task, device, log, err)
            if log.argmax_calls == 0:
                raise CheckFailed(
                    task,
                    f"{err.message}\nLikely mistake: IoU computed on logits or probabilities; take "
                    "logits.argmax(dim=1) to get the predicted class of each pixel first.",
                ) from err
            raise
    if not model.calls:
        raise CheckFailed(task, "evaluate never called the model")
    if any(training for training, _, _ in model.calls):
        raise CheckFailed(
            task,
            "the model was left in train mode at evaluation: call model.eval() first (BatchNorm and dropout behave "
            "differently in training; here the predictions change).",
        )
    not_moved_to_device(task, device, log)
    value = as_float(task, got, "the mean IoU evaluate returns")
    if not abs(value - expected) <= 1e-4:  # NaN fails too
        if log.argmax_calls == 0:
            raise CheckFailed(
                task,
                f"returned {value:.4f}, expected {expected:.4f}.\nLikely mistake: IoU computed on logits or "
                "probabilities; take logits.argmax(dim=1) to get the predicted class of each pixel first.",
            )
        if any(abs(value - wrong) <= 1e-4 for wrong in _per_batch_means(pred, masks, 8)):
            raise CheckFailed(task, f"returned {value:.4f}, expected {expected:.4f}.\nLikely mistake: {PER_BATCH}.")
        raise CheckFailed(task, f"returned {value:.4f}, expected {expected:.4f} (the mean IoU over all images)")
    if any(grad for _, grad, _ in model.calls):
        raise CheckFailed(task, "evaluate ran the model with gradients on: wrap it in torch.no_grad() (saves memory)")


def _train_problem(count: int = 64) -> torch.utils.data.TensorDataset:
    """``count`` images where the class of a pixel is whether its red channel is bright: learnable in a few steps."""
    g = torch.Generator().manual_seed(7)
    images = torch.rand(count, 3, 16, 16, generator=g)
    masks = (images[:, 0] > 0.5).long()
    return torch.utils.data.TensorDataset(images, masks)


def _model_not_moved(device: torch.device) -> str:
    return f"the model must be moved to the device ({device}) before training: model.to(device)"


def check_train(train: Callable) -> None:
    """``train(model, dataset, budget, lr=..., device=..., augment=None, progress=False)`` returns the step losses."""
    task = "train"
    device = get_device()
    model = ProbeNet(num_classes=2).eval()  # as evaluate leaves it: the loop must switch to training mode itself
    before = [p.detach().clone() for p in model.parameters()]
    budget = Budget(steps=40, batch_size=8)
    steps = [0]
    stale: list[int] = []  # the steps whose gradients still held earlier steps' gradients

    def count(optimizer, args, kwargs):
        steps[0] += 1
        if not model.gradients_are_fresh():
            stale.append(steps[0])

    handle = register_optimizer_step_pre_hook(count)
    augmented = [0]

    def augment(image, mask):  # both inverted: the pair keeps the problem's rule only if both reach the loss
        augmented[0] += 1
        return 1 - image, 1 - mask

    try:
        with _record_calls() as log:
            losses = call_within(
                task,
                METRIC_LIBRARIES,
                train,
                model,
                _train_problem(),
                budget,
                lr=1e-2,
                device=device,
                augment=augment,
                progress=False,
            )
    except CheckFailed as err:
        not_moved_to_device(task, device, log, err)
        if next(model.parameters()).device.type != device.type:  # on a GPU: the data moved, the model did not
            raise CheckFailed(task, f"{err.message}\nLikely mistake: {_model_not_moved(device)}") from err
        raise
    finally:
        handle.remove()
    if not isinstance(losses, (list, tuple)) or not all(isinstance(v, (int, float)) for v in losses):
        raise CheckFailed(task, "train must return the list of the losses of each step, as Python floats (loss.item())")
    if steps[0] != budget.steps or len(losses) != budget.steps:
        raise CheckFailed(
            task, f"with budget.steps={budget.steps}: {steps[0]} optimizer steps taken, {len(losses)} losses returned"
        )
    if next(model.parameters()).device.type != device.type:
        raise CheckFailed(task, _model_not_moved(device))
    if stale:
        raise CheckFailed(
            task,
            f"at step {stale[0]} the gradients the optimizer used were not those of that step's batch: they still "
            "held the earlier steps' gradients, which backward() adds to. Reset them before each backward pass: "
            "optimizer.zero_grad().",
        )
    not_moved_to_device(task, device, log)
    grad_calls = [(training, size) for training, grad, size in model.calls if grad]
    if any(not training for training, _ in grad_calls):
        raise CheckFailed(
            task, "the model was trained in eval mode for some steps: call model.train() before each training step"
        )
    if model.training:
        raise CheckFailed(task, "train must leave the model in eval mode (model.eval() after the last step)")
    if any(size != budget.batch_size for _, size in grad_calls):
        raise CheckFailed(task, f"batches must hold budget.batch_size={budget.batch_size} images")
    if augmented[0] == 0:
        raise CheckFailed(task, "the augment function passed to train was never applied to the training images")
    if all(torch.equal(a, p.detach().cpu()) for a, p in zip(before, model.parameters())):
        raise CheckFailed(task, "the model's weights did not change")
    images, masks = _train_problem().tensors
    model.eval()
    with torch.no_grad():
        accuracy = float((model(images.to(device)).argmax(dim=1).cpu() == masks).double().mean())
    if accuracy < 0.3:  # it learned the opposite rule: from pairs whose image and mask did not both change
        raise CheckFailed(
            task,
            f"trained with an augment that inverts both image and mask (which keeps the problem's rule), the model "
            f"learned the opposite rule: {accuracy:.0%} of the pixels right.\nLikely mistake: only the images, or "
            "only the masks, of the augmented pairs reached the loss; train on both of what augment returns.",
        )
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    if not last < 0.8 * first:
        raise CheckFailed(
            task, f"the loss did not go down on an easy problem (first steps {first:.3f}, last {last:.3f})."
        )
    if accuracy < 0.75:
        raise CheckFailed(
            task, f"after training on an easy problem the model labels only {accuracy:.0%} of the pixels right."
        )
    _check_train_defaults(task, train, device)


def _check_train_defaults(task: str, train: Callable, device: torch.device) -> None:
    """Called with the signature's defaults (lr=1e-2, device=None): the learning rate peaks at 1e-2 (the one-cycle
    schedule's max_lr, or a constant rate) and the batches go to the device the model is on. The data (60 images,
    batches of 8) does not split evenly, and the batches must be shuffled and full, a new pass starting when the
    loader runs out (without augmentation, a repeated batch shows as the same images twice in a row)."""
    model = ProbeNet(num_classes=2).to(device)
    dataset = _train_problem(60)
    budget = Budget(steps=12, batch_size=8)
    rates: list[float] = []

    def remember(optimizer, args, kwargs):
        rates.append(max(float(group["lr"]) for group in optimizer.param_groups))

    handle = register_optimizer_step_pre_hook(remember)
    try:
        with _record_calls() as log:
            call_within(task, METRIC_LIBRARIES, train, model, dataset, budget, progress=False)
    finally:
        handle.remove()
    peak = max(rates, default=0.0)
    if abs(peak / 1e-2 - 1) > 0.05:  # a one-cycle schedule's steps may fall just beside its peak
        raise CheckFailed(
            task,
            f"called without lr, the learning rate peaked at {peak:g}: the default is lr=1e-2 (the one-cycle "
            "schedule's max_lr). Keep the signature's defaults.",
        )
    if not log.moved_to_device:
        raise CheckFailed(
            task,
            "called without device (device=None), the batches were not moved to the model's device: the default "
            "is where the model already is, device = device or next(model.parameters()).device.",
        )
    sizes = sorted({size for training, grad, size in model.calls if grad})
    if sizes != [budget.batch_size]:
        raise CheckFailed(
            task,
            f"with {len(dataset)} images and budget.batch_size={budget.batch_size}, the training batches held "
            f"{sizes} images: every batch must be full, DataLoader(..., drop_last=True).",
        )
    repeated = [k for k in range(1, len(model.batch_sums)) if torch.equal(model.batch_sums[k], model.batch_sums[k - 1])]
    if repeated:
        raise CheckFailed(
            task,
            f"training step {repeated[0] + 1} used the same batch as step {repeated[0]}: when the loader runs out, "
            "start a new pass and take its first batch (batches = iter(loader); images, masks = next(batches)).",
        )
    first = model.first_batch
    if first is not None and torch.equal(first, dataset.tensors[0][: len(first)]):
        raise CheckFailed(
            task,
            f"the first batch was the dataset's first {len(first)} images in order: the batches must be shuffled, "
            "DataLoader(..., shuffle=True).",
        )
