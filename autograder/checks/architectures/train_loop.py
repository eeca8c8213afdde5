"""Checks of Assignment 3's training loop: ``augment_batch`` and ``train``, judged by what they do.

The accuracy of the trained model says whether a loop trains well enough, not whether it is the loop the task
asks for: a loop with another weight decay, another learning rate, batches drawn from the global random state or
augmentation without its rotations still trains a small ResNet. These checks watch the loop itself:

* ``check_augment_batch(augment_batch)``: every image comes back as one of the 8 symmetries of the square
  applied to it; over many images the flip has probability 1/2 and each quarter turn 1/4; the same generator
  state gives the same batch whatever the global random state.
* ``check_train(train)``: on a small probe classifier and an easy problem, ``train`` takes ``budget.steps``
  optimizer steps of ``budget.batch_size`` images in train mode with AdamW (decoupled weight decay 1e-4),
  follows a one-cycle schedule whose peak is the ``lr`` it was given, feeds the model training images (their
  symmetries with ``augment=True``, the images themselves without), draws the same batches for the same
  ``seed`` whatever the global random state and other ones for another seed, returns one loss per step (a
  Python or NumPy number, or a tensor without its graph), and the loss goes down.

Any style passes: ``torch.randint`` or ``torch.randperm`` batches, ``OneCycleLR`` or a hand-written one-cycle
schedule, ``AdamW`` or ``Adam(decoupled_weight_decay=True)``, flips before or after the turn.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from cnnlab.device import Budget, get_device

from ..common import CheckFailed, as_number, call_student
from ..probes import not_moved_to_device, record_calls

#: The weight decay the task states, and the learning rate the check passes (not the default, 3e-3).
WEIGHT_DECAY = 1e-4
LR = 5e-3
#: Images of the check's training set.
IMAGES = 16
DEFAULT_LR = 3e-3


def symmetries(image: torch.Tensor) -> list[tuple[bool, int, torch.Tensor]]:
    """The 8 symmetries of the square applied to ``image`` ``[C, H, W]``: (flipped, quarter turns, result)."""
    out = []
    for flipped in (False, True):
        base = image.flip(-1) if flipped else image
        for k in range(4):
            out.append((flipped, k, torch.rot90(base, k, dims=(-2, -1))))
    return out


def _which_symmetry(original: torch.Tensor, result: torch.Tensor) -> tuple[bool, int] | None:
    for flipped, k, candidate in symmetries(original):
        if candidate.shape == result.shape and torch.equal(candidate, result):
            return flipped, k
    return None


def check_augment_batch(augment_batch: Callable) -> None:
    """``augment_batch(images, generator)``: each image gets its own random symmetry of the square."""
    task = "augment_batch"
    images = torch.rand(400, 3, 6, 6, generator=torch.Generator().manual_seed(31))
    torch.manual_seed(1)
    out = call_student(task, augment_batch, images.clone(), torch.Generator().manual_seed(32))
    if not isinstance(out, torch.Tensor) or out.shape != images.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckFailed(task, f"expected a tensor of shape {tuple(images.shape)}, got {got}")
    found = []
    for i in range(len(images)):
        which = _which_symmetry(images[i], out[i].detach().cpu())
        if which is None:
            raise CheckFailed(
                task,
                f"image {i} of 400 is not a flip or quarter turn of its input ({i} images passed before it)."
                "\nLikely mistake: the images of the batch were mixed up, or changed another way (a crop, noise, "
                "a rotation by another angle)",
            )
        found.append(which)
    flips = sum(f for f, _ in found) / len(found)
    turns = [sum(k == j for _, k in found) / len(found) for j in range(4)]
    if len(set(found)) == 1 and found[0] != (False, 0):
        raise CheckFailed(
            task,
            "all 400 images got the same flip and turn.\nLikely mistake: one random symmetry drawn for the whole "
            "batch; draw a flip and a turn for each image (torch.rand(len(images), generator=generator) and "
            "torch.randint(0, 4, (len(images),), generator=generator))",
        )
    if flips == 0:
        raise CheckFailed(task, "no image was flipped.\nLikely mistake: the flip is missing")
    if all(k == 0 for _, k in found):
        raise CheckFailed(task, "no image was turned.\nLikely mistake: the quarter turns (torch.rot90) are missing")
    if not 0.4 <= flips <= 0.6:
        raise CheckFailed(task, f"{flips:.0%} of 400 images were flipped; the flip must have probability 0.5")
    if not all(0.17 <= t <= 0.33 for t in turns):
        shares = ", ".join(f"{j * 90}°: {t:.0%}" for j, t in enumerate(turns))
        raise CheckFailed(
            task,
            f"the quarter turns of 400 images were {shares}; each of the 4 must have probability 1/4."
            "\nLikely mistake: torch.randint's upper bound is exclusive: randint(0, 4) draws 0, 1, 2 or 3",
        )
    torch.manual_seed(2)
    again = call_student(task, augment_batch, images.clone(), torch.Generator().manual_seed(32))
    if not torch.equal(again.detach().cpu(), out.detach().cpu()):
        raise CheckFailed(
            task,
            "two calls with generators in the same state gave different batches.\nLikely mistake: the random "
            "draws do not use the generator passed in (torch.rand(..., generator=generator))",
        )


class _TrainProbe(nn.Module):
    """A tiny classifier that keeps the inputs of its training steps: BatchNorm, a convolution, pooling, linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(9)
        self.norm = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)
        self.calls: list[tuple[bool, torch.Tensor]] = []  # (training, input) of the calls with gradients

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            self.calls.append((self.training, x.detach().cpu().clone()))
        return self.head(torch.relu(self.conv(self.norm(x))).mean(dim=(2, 3)))


def _easy_problem() -> tuple[torch.Tensor, torch.Tensor]:
    """16 images whose class is their brightest channel (3 classes used of 4): a symmetry keeps the class. Few
    enough that a loop drawing 320 images uniformly draws every one of them (it misses one with probability
    about 2e-8), so an index range off by one shows."""
    g = torch.Generator().manual_seed(33)
    labels = torch.randint(0, 3, (IMAGES,), generator=g)
    images = 0.3 * torch.rand(IMAGES, 3, 6, 6, generator=g)
    images[torch.arange(IMAGES), labels] += 0.6
    return images, labels


@dataclass
class _Run:
    losses: object
    steps: list[tuple[str, float, float, bool]] = field(default_factory=list)  # (optimizer, lr, decay, decoupled)
    inputs: list[tuple[bool, torch.Tensor]] = field(default_factory=list)
    gradients: list[str] = field(default_factory=list)  # what was wrong with the gradients of the first steps


#: Steps whose gradients are compared with the cross-entropy of the batch the model was fed.
GRADIENT_STEPS = 4


def _gradient_problem(model: _TrainProbe, optimizer: torch.optim.Optimizer) -> str:
    """Compare the gradients an optimizer step is about to use with those of the cross-entropy of the batch the
    model was just fed (recomputed on a copy, so the student's model is not touched): '' when they agree."""
    import copy

    _, batch = model.calls[-1]
    images, labels = _easy_problem()
    index = {image.contiguous().numpy().tobytes(): i for i, image in enumerate(images)}
    keys = []
    for x in batch:
        found = None
        for flipped, k, candidate in symmetries(x):  # undo the augmentation to find the image, hence its label
            del flipped, k
            found = index.get(candidate.contiguous().numpy().tobytes(), found)
        if found is None:
            return ""  # _check_inputs names it
        keys.append(found)
    twin = copy.deepcopy(model)
    twin.load_state_dict(model.state_dict())
    for p in twin.parameters():
        p.grad = None
    device = next(model.parameters()).device
    with torch.enable_grad():
        loss = nn.functional.cross_entropy(twin(batch.to(device)), labels[keys].to(device))
        loss.backward()
    stepped = {id(p) for group in optimizer.param_groups for p in group["params"]}
    pairs = []
    for (name, p), q in zip(model.named_parameters(), twin.parameters(), strict=True):
        if id(p) not in stepped:
            return f"the optimizer does not update the model's parameter {name}"
        pairs.append((p.grad, q.grad))
    if all(g is not None and torch.allclose(g, r, rtol=1e-3, atol=1e-6) for g, r in pairs):
        return ""
    return _gradient_mismatch(pairs, len(batch))


def _gradient_mismatch(pairs: list[tuple[torch.Tensor | None, torch.Tensor]], batch_size: int) -> str:
    """What differs between a step's gradients and those of the mean cross-entropy of its batch (``pairs``: the
    student's gradient and the reference of each parameter): all of them scaled by one factor (the loss summed over
    the batch, gradient clipping, a constant factor) or otherwise."""
    if all(g is not None for g, _ in pairs):
        got = torch.cat([g.detach().flatten().cpu() for g, _ in pairs])
        ref = torch.cat([r.detach().flatten().cpu() for _, r in pairs])
        norm = float(ref @ ref)
        scale = float(got @ ref) / norm if norm > 0 else 0.0
        if scale > 0 and torch.allclose(got, scale * ref, rtol=1e-3, atol=1e-6):
            if abs(scale - batch_size) <= 1e-2 * batch_size:
                return (
                    f"the gradients of a step are {batch_size} (the batch size) times those of the mean cross-entropy "
                    "of its batch.\nLikely mistake: the loss is summed over the batch (reduction='sum'); "
                    "F.cross_entropy(logits, labels) averages it"
                )
            if scale < 1:
                return (
                    f"the gradients of a step are those of the cross-entropy of its batch scaled down by {scale:.3g}."
                    "\nLikely mistake: gradient clipping (clip_grad_norm_), which the task's loop does not have: step "
                    "with the gradients of F.cross_entropy(logits, labels) as they are"
                )
            return (
                f"the gradients of a step are {scale:.3g} times those of the cross-entropy of its batch.\nLikely "
                "mistake: the loss is multiplied by a constant; use F.cross_entropy(logits, labels) as it is"
            )
    return (
        "the gradients of a step are not those of the cross-entropy of that step's batch.\nLikely mistake: "
        "optimizer.zero_grad() is missing (gradients add up over the steps), or the loss is not "
        "F.cross_entropy(logits, labels) of the batch"
    )


def _train_once(
    task: str, train: Callable, budget: Budget, *, global_seed: int, first: bool = False, **options: object
) -> _Run:
    """One call of ``train`` on a fresh probe with the keyword ``options`` (the others by default), the global
    random state seeded with ``global_seed``; ``first``: also watch the devices and the first steps' gradients."""
    device = get_device()
    model = _TrainProbe().to(device).eval()  # train() must switch it to train mode
    images, labels = _easy_problem()
    run = _Run(losses=None)

    def watch(optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        group = optimizer.param_groups[0]
        decoupled = isinstance(optimizer, torch.optim.AdamW) or bool(group.get("decoupled_weight_decay", False))
        run.steps.append((type(optimizer).__name__, float(group["lr"]), float(group["weight_decay"]), decoupled))
        if first and len(run.steps) <= GRADIENT_STEPS and model.calls and not run.gradients:
            problem = _gradient_problem(model, optimizer)
            if problem:
                run.gradients.append(problem)

    handle = register_optimizer_step_pre_hook(watch)
    torch.manual_seed(global_seed)
    watching = record_calls() if first else contextlib.nullcontext([])
    try:
        with watching as log:
            try:
                run.losses = call_student(task, train, model, images, labels, budget, **options)
            except CheckFailed as err:
                not_moved_to_device(task, device, log, err)
                raise
    finally:
        handle.remove()
    if first:
        not_moved_to_device(task, device, log)
    run.inputs = model.calls
    return run


def _check_optimizer(task: str, run: _Run, budget: Budget, lr: float) -> None:
    names = {name for name, *_ in run.steps}
    if len(run.steps) != budget.steps:
        raise CheckFailed(task, f"with budget.steps={budget.steps}, {len(run.steps)} optimizer steps were taken")
    name, _, decay, decoupled = run.steps[0]
    if len(names) > 1:
        raise CheckFailed(task, f"the steps were taken by several optimizers ({', '.join(sorted(names))}); use one")
    if not decoupled:
        hint = (
            "\nLikely mistake: Adam's weight_decay adds the decay to the gradient; AdamW decouples it"
            if name == "Adam"
            else ""
        )
        raise CheckFailed(task, f"the optimizer is {name}; the task asks for AdamW{hint}")
    if abs(decay - WEIGHT_DECAY) > 1e-12:
        raise CheckFailed(task, f"AdamW's weight decay is {decay:g}; the task asks for {WEIGHT_DECAY:g}")
    rates = [r for _, r, _, _ in run.steps]
    peak = max(rates)
    top = rates.index(peak)
    if abs(peak - lr) > 0.02 * lr:
        raise CheckFailed(
            task,
            f"called with lr={lr:g}, the learning rate peaked at {peak:.3g}.\nLikely mistake: the lr argument is "
            "not the schedule's maximum (OneCycleLR(optimizer, max_lr=lr, total_steps=budget.steps))",
        )
    if not (rates[0] <= lr / 5 and rates[-1] <= lr / 50 and 0 < top < len(rates) - 1):
        raise CheckFailed(
            task,
            f"the learning rate went {rates[0]:.2g} → {peak:.2g} (step {top}) → {rates[-1]:.2g} over "
            f"{len(rates)} steps; a one-cycle schedule starts low, rises to lr and ends far below its start."
            "\nLikely mistake: the scheduler is not stepped after each optimizer step, or its total_steps is not "
            "budget.steps",
        )


def _check_inputs(task: str, run: _Run, budget: Budget, augment: bool) -> tuple[int, int]:
    """Every training input is a training image (a symmetry of one with ``augment``): (flipped, turned) counts."""
    images, _ = _easy_problem()
    lookup: dict[bytes, tuple[bool, int]] = {}
    owner: dict[bytes, int] = {}
    for i, image in enumerate(images):
        for flipped, k, candidate in symmetries(image):
            lookup.setdefault(candidate.contiguous().numpy().tobytes(), (flipped, k))
            owner.setdefault(candidate.contiguous().numpy().tobytes(), i)
    if any(not training for training, _ in run.inputs):
        raise CheckFailed(task, "the model was in eval mode for some training steps: call model.train() first")
    if len(run.inputs) != budget.steps or any(len(x) != budget.batch_size for _, x in run.inputs):
        sizes = sorted({len(x) for _, x in run.inputs})
        raise CheckFailed(
            task,
            f"expected {budget.steps} forward passes of budget.batch_size={budget.batch_size} images, got "
            f"{len(run.inputs)} of sizes {sizes}",
        )
    flipped = turned = 0
    drawn: set[int] = set()
    for _, batch in run.inputs:
        for x in batch:
            key = x.contiguous().numpy().tobytes()
            which = lookup.get(key)
            drawn.add(owner.get(key, -1))
            if which is None:
                raise CheckFailed(task, "the model was fed images that are not (flipped or turned) training images")
            if not augment and which != (False, 0):
                raise CheckFailed(task, "with augment=False the images must go in as they are, not flipped or turned")
            flipped += which[0]
            turned += which[1] != 0
    missing = sorted(set(range(len(images))) - drawn)
    if missing:
        raise CheckFailed(
            task,
            f"in {budget.steps} batches of {budget.batch_size} drawn from {len(images)} images, image(s) {missing} "
            "never appeared.\nLikely mistake: the range of the random indices is off by one (torch.randint(0, "
            "len(images), ...) draws 0 to len(images) - 1)",
        )
    return flipped, turned


def _same_batches(a: _Run, b: _Run) -> bool:
    return len(a.inputs) == len(b.inputs) and all(torch.equal(x, y) for (_, x), (_, y) in zip(a.inputs, b.inputs))


def _losses(task: str, losses: object) -> list[float]:
    """The losses ``train`` returned, as floats: a list (or tuple) of one number per step, each a Python or NumPy
    number or a one-number tensor without gradient history (``loss.item()``, ``float(loss)``, ``loss.detach()``)."""
    if not isinstance(losses, (list, tuple)):
        raise CheckFailed(
            task, f"train must return the list of the losses of each step (loss.item()), got {type(losses).__name__}"
        )
    if any(isinstance(v, torch.Tensor) and v.requires_grad for v in losses):
        raise CheckFailed(
            task,
            "the losses returned are tensors that keep their step's computation graph.\nLikely mistake: "
            "losses.append(loss) keeps every step's activations in memory until training ends; append loss.item()",
        )
    numbers = [as_number(v) for v in losses]
    if any(v is None for v in numbers):
        wrong = next(type(v).__name__ for v, n in zip(losses, numbers) if n is None)
        raise CheckFailed(
            task, f"train must return the list of the losses of each step, one number each (loss.item()), got {wrong}"
        )
    return [float(v) for v in numbers]


def check_train(train: Callable) -> None:
    """``train(model, images, labels, budget, augment=True, lr=3e-3, seed=0)``: AdamW, one cycle, seeded batches."""
    task = "train"
    budget = Budget(steps=40, batch_size=8)
    lr = LR
    run = _train_once(task, train, budget, global_seed=1, first=True, augment=True, lr=lr, seed=0)
    losses = _losses(task, run.losses)
    if len(losses) != budget.steps:
        raise CheckFailed(task, f"with budget.steps={budget.steps}, {len(losses)} losses were returned")
    _check_optimizer(task, run, budget, lr)
    flipped, turned = _check_inputs(task, run, budget, augment=True)
    total = budget.steps * budget.batch_size
    if not flipped or not turned:
        missing = "flipped" if not flipped else "turned"
        raise CheckFailed(
            task, f"with augment=True none of the {total} training images was {missing}: apply augment_batch"
        )
    if run.gradients:
        raise CheckFailed(task, run.gradients[0])
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    if not last < 0.8 * first:  # NaN fails too
        raise CheckFailed(
            task, f"the loss did not go down on an easy problem (first steps {first:.3f}, last {last:.3f})"
        )
    same = _train_once(task, train, budget, global_seed=2, lr=lr)  # augment=True and seed=0 by default
    if not _same_batches(run, same):
        flipped, _ = _check_inputs(task, same, budget, augment=True)
        if not flipped:
            raise CheckFailed(task, "called without augment, train did not augment: augment's default is True")
        raise CheckFailed(
            task,
            "two runs with seed=0 (once given, once by default) fed the model different batches.\nLikely mistake: "
            "the batches (or the augmentation) are drawn from the global random state (draw them with "
            "torch.Generator().manual_seed(seed)), or seed's default is not 0",
        )
    other = _train_once(task, train, budget, global_seed=1, augment=True, lr=lr, seed=6)
    if _same_batches(run, other):
        raise CheckFailed(task, "seed=0 and seed=6 fed the model the same batches: the seed argument is ignored")
    plain = _train_once(task, train, budget, global_seed=1, augment=False, seed=0)  # lr=3e-3 by default
    _check_inputs(task, plain, budget, augment=False)
    peak = max((rate for _, rate, _, _ in plain.steps), default=0.0)
    if abs(peak - DEFAULT_LR) > 0.02 * DEFAULT_LR:
        raise CheckFailed(task, f"called without lr, the learning rate peaked at {peak:.3g}: lr's default is 3e-3")
