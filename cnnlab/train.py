"""A plain training loop for the lectures: progress bar, device handling and a metric history.

It is deliberately small and readable; the assignments ask students to write their own loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

from .device import get_device
from .metrics import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy

DataLike = Dataset | tuple[torch.Tensor, ...]


@dataclass
class History:
    """What ``fit`` recorded: one row per logged step, with the wall-clock time since training began."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def log(self, **values: float) -> None:
        """Append one row of named values."""
        self.rows.append(dict(values))

    def series(self, name: str) -> tuple[list[float], list[float]]:
        """Return ``(steps, values)`` for the rows that recorded ``name``."""
        rows = [r for r in self.rows if name in r]
        return [r["step"] for r in rows], [r[name] for r in rows]

    def last(self, name: str) -> float:
        """Return the last recorded value of ``name``."""
        values = self.series(name)[1]
        if not values:
            raise KeyError(f"no value of {name!r} was recorded; recorded: {sorted({k for r in self.rows for k in r})}")
        return values[-1]


def as_dataset(data: DataLike) -> Dataset:
    """Accept a Dataset or a tuple of equally long tensors."""
    if isinstance(data, tuple):
        return TensorDataset(*data)
    return data


def _batches(data: DataLike, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, ...]]:
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(as_dataset(data), batch_size=batch_size, shuffle=True, drop_last=True, generator=generator)
    if len(loader) == 0:
        raise ValueError(f"the training data has fewer items than one batch of {batch_size}")
    while True:
        yield from loader


def _make_scheduler(optimizer: torch.optim.Optimizer, schedule: str, lr: float, steps: int):
    if schedule == "constant":
        return None
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    raise ValueError(f"schedule must be 'constant', 'cosine' or 'onecycle', got {schedule!r}")


def fit(
    model: nn.Module,
    train_data: DataLike,
    *,
    steps: int,
    batch_size: int = 16,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    schedule: str = "constant",
    val_data: DataLike | None = None,
    evaluate: Callable[[nn.Module, DataLike], dict[str, float]] | None = None,
    eval_every: int | None = None,
    time_limit: float | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train ``model`` for ``steps`` optimisation steps (or until ``time_limit`` seconds) and return its history.

    ``schedule`` is ``"constant"``, ``"cosine"`` (decay to 0 over ``steps``) or ``"onecycle"`` (warm up to ``lr``,
    then anneal). ``evaluate(model, val_data)`` returns a dict of metrics logged every ``eval_every`` steps
    and at the end
    (for example ``lambda m, d: evaluate_segmentation(m, d, num_classes=5)``). The model ends in eval mode.
    """
    device = torch.device(device) if device is not None else get_device()
    torch.manual_seed(seed)
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = _make_scheduler(optimizer, schedule, lr, steps)
    history = History()
    eval_every = eval_every or max(1, steps // 10)
    start = time.perf_counter()
    bar = tqdm(total=steps, disable=not progress, desc="training", leave=False)
    batches = _batches(train_data, batch_size, seed)
    step = 0
    for step in range(1, steps + 1):
        model.train()
        x, y = (t.to(device) for t in next(batches)[:2])
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        elapsed = time.perf_counter() - start
        loss_value = loss.item()
        history.log(step=step, time=elapsed, loss=loss_value)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.3f}")
        out_of_time = time_limit is not None and elapsed >= time_limit
        if val_data is not None and evaluate is not None and (step % eval_every == 0 or step == steps or out_of_time):
            history.log(step=step, time=time.perf_counter() - start, **evaluate(model, val_data))
        if out_of_time:
            break
    bar.close()
    model.eval()
    return history


@torch.no_grad()
def predict(
    model: nn.Module, images: torch.Tensor, *, batch_size: int = 64, device: torch.device | str | None = None
) -> torch.Tensor:
    """Return the model's outputs for ``images`` (on the CPU), computed in eval mode in batches."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    outs = [model(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(outs)


def _stack(data: DataLike) -> tuple[torch.Tensor, ...]:
    if isinstance(data, tuple):
        return data
    if hasattr(data, "as_tensors"):
        return data.as_tensors()
    items = [data[i] for i in range(len(data))]
    return tuple(torch.stack([torch.as_tensor(f) for f in fields]) for fields in zip(*items))


def evaluate_segmentation(
    model: nn.Module, data: DataLike, num_classes: int, ignore_index: int | None = None
) -> dict[str, float]:
    """Return ``miou``, ``pixel_acc`` and ``iou_<k>`` per class of ``model`` on ``data`` (images, masks)."""
    images, masks = _stack(data)[:2]
    pred = predict(model, images).argmax(dim=1)
    confusion = confusion_matrix(pred, masks, num_classes, ignore_index)
    result = {"miou": mean_iou(confusion), "pixel_acc": pixel_accuracy(confusion)}
    result.update({f"iou_{k}": float(v) for k, v in enumerate(iou_per_class(confusion))})
    return result


def evaluate_classification(model: nn.Module, data: DataLike) -> dict[str, float]:
    """Return the ``accuracy`` of ``model`` on ``data`` (images, labels)."""
    images, labels = _stack(data)[:2]
    pred = predict(model, images).argmax(dim=1)
    return {"accuracy": float((pred == labels).float().mean())}
