"""Assignment 2's trainability check (grader only; a hidden test calls it through ``autograder.checks.unet``).

``check_trainability(UNet, min_miou, seed=...)`` trains the student's ``UNet`` class with the instructor's fixed
recipe (``RECIPE``: same steps and batch size on every device) and evaluates it as ``check_result`` does, on the
split of the seed the hidden test passes. It tells "your network trains" apart from "your loop, loss or
augmentation is wrong". Training is deterministic, so its result may be cached (``AUTOGRADER_CACHE``, opt-in)
under a fingerprint of the network's behaviour.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab.data import Shapes
from cnnlab.device import get_device

from ..budget import GRADING_BATCH_SIZE, GRADING_STEPS, unlimited
from ..common import CheckFailed, call_student
from ..references import guard_module
from ..scores import state_key
from ..unet.results import IMAGE_SIZE, miou_of, split_data
from .unet import segmentation_loss_reference


@dataclass(frozen=True)
class Recipe:
    """The instructor's fixed training recipe for the trainability check."""

    depth: int = 3
    base_channels: int = 8
    up: str = "transpose"
    steps: int = GRADING_STEPS
    batch_size: int = GRADING_BATCH_SIZE
    lr: float = 1e-2
    image_size: int = IMAGE_SIZE
    train_images: int = 1000
    seed: int = 0
    fused: bool = True  # Adam's fused update, one kernel over all parameters: 29 s instead of 37 on one CPU thread
    #: weights and images in the channels-last layout (oneDNN's convolutions without reordering): 17 s instead of
    #: 23.5 on one CPU thread, 14.6 instead of 17.1 on two. A network whose code cannot run in that layout (a
    #: ``.view`` of a channels-last tensor) is trained again from its initial weights in the default layout.
    channels_last: bool = True


RECIPE = Recipe()


def fingerprint(model: nn.Module) -> str:
    """A hash of what training depends on: initial weights, outputs and gradients on fixed inputs."""
    h = hashlib.sha256(state_key(model).encode())
    g = torch.Generator().manual_seed(11)
    x = torch.rand(2, 3, 32, 32, generator=g)
    y = torch.randint(0, Shapes.num_classes, (2, 32, 32), generator=g)
    model.train()
    out = model(x)
    loss = segmentation_loss_reference(out, y)
    loss.backward()
    h.update(out.detach().numpy().round(5).tobytes())
    for p in model.parameters():
        if p.grad is not None:
            h.update(p.grad.numpy().round(5).tobytes())
    model.zero_grad(set_to_none=True)
    return h.hexdigest()


def _cache_file(key: str) -> Path | None:
    folder = os.environ.get("AUTOGRADER_CACHE")
    return Path(folder) / "trainability" / f"{key}.json" if folder else None


def _load(cache: Path | None) -> float | None:
    """A cached result, or ``None`` (no cache, no entry, or an unreadable one)."""
    try:
        return float(json.loads(cache.read_text())["miou"]) if cache is not None and cache.exists() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(cache: Path, miou: float) -> None:
    """Write a cache entry atomically; best effort (parallel graders in sandboxes of their own, as other
    users, may write the same entry at once: whichever lands is the same number)."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps({"miou": miou}))
        os.chmod(tmp, 0o644)
        os.replace(tmp, cache)
    except OSError:
        pass


def train_with_recipe(
    model: nn.Module, recipe: Recipe = RECIPE, device: torch.device | None = None, *, channels_last: bool | None = None
) -> nn.Module:
    """Train ``model`` with the fixed recipe: Adam, one-cycle schedule, cross-entropy + Dice, no augmentation.

    ``channels_last`` (default: the recipe's) trains in the channels-last memory layout.
    """
    device = device or get_device()
    layout = torch.channels_last if (recipe.channels_last if channels_last is None else channels_last) else None
    images, masks = Shapes("train", recipe.train_images, size=recipe.image_size).as_tensors()
    if layout is not None:
        images = images.contiguous(memory_format=layout)
        model.to(memory_format=layout)
    g = torch.Generator().manual_seed(recipe.seed)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, fused=recipe.fused)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=recipe.steps)
    order = torch.randperm(len(images), generator=g)
    position = 0
    with unlimited():
        for _ in range(recipe.steps):
            if position + recipe.batch_size > len(order):
                order, position = torch.randperm(len(images), generator=g), 0
            idx = order[position : position + recipe.batch_size]
            position += recipe.batch_size
            logits = model(images[idx].to(device))
            loss = segmentation_loss_reference(logits, masks[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def check_trainability(UNet: Callable, min_miou: float, *, seed: int, recipe: Recipe = RECIPE) -> None:  # noqa: N803
    """Train the student's ``UNet`` class with the fixed recipe; fail unless it reaches ``min_miou`` (printed)."""
    task = "UNet trainability"

    def build() -> nn.Module:
        torch.manual_seed(recipe.seed)
        model = call_student(
            task, UNet, 3, Shapes.num_classes, depth=recipe.depth, base_channels=recipe.base_channels, up=recipe.up
        )
        if not isinstance(model, nn.Module):
            raise CheckFailed(task, f"UNet(...) must build an nn.Module, got {type(model).__name__}")
        return model

    model = build()
    device = get_device()
    try:
        key = hashlib.sha256(
            json.dumps([fingerprint(model), asdict(recipe), seed, device.type, torch.__version__]).encode()
        ).hexdigest()
    except Exception as err:
        raise CheckFailed(task, f"a forward and backward pass raised {type(err).__name__}: {err}") from err
    cache = _cache_file(key)
    miou = _load(cache)
    if miou is None:
        try:
            initial = copy.deepcopy(model.state_dict())
            try:
                train_with_recipe(model, recipe, device)
            except Exception:
                if not recipe.channels_last:
                    raise
                # the network's code does not take the channels-last layout: the same recipe in the default one,
                # from the same initial weights and buffers
                model = build()
                model.load_state_dict(initial)
                train_with_recipe(model, recipe, device, channels_last=False)
            miou = miou_of(model, *split_data(seed, None))
        except CheckFailed:
            raise
        except Exception as err:
            raise CheckFailed(task, f"training with the fixed recipe raised {type(err).__name__}: {err}") from err
        if cache is not None:
            _store(cache, miou)
    if not miou >= min_miou:  # NaN fails too
        raise CheckFailed(
            task,
            f"trained with the instructor's recipe ({recipe.steps} steps of {recipe.batch_size} images), your UNet "
            f"reaches mean IoU {miou:.3f} on the hidden split; it should reach {min_miou:.2f}. Check the skip "
            "connections, the widths and the normalisation.",
        )
    print(f"trained with the fixed recipe: mean IoU {miou:.3f} (needed {min_miou:.2f})")


# every function here is a reference: it works for the checks, never inside student code
guard_module(globals())
