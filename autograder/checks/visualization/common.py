"""Shared machinery of Assignment 4's checks: the student's own code only, small seeded networks, comparisons.

The references come from ``cnnlab.feature_visualization``, which lecture 03 uses in the instructor's repository
(the student edition has neither it nor the references, only the values the visible checks compare with); the
student must write the same functions. ``own_call`` runs a student's function while every function of
``cnnlab.feature_visualization`` and ``cnnlab.plotting.filter_grid`` is replaced by a tripwire (in the modules and in
the student's globals), so a solution that calls the library is refused with a message that says so, whether it
imported the function, the module, or imported it inside the function.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from cnnlab import plotting

from ..common import CheckFailed, call_student

try:  # the lecture's library, Assignment 4's answer key: on the instructor's side only (not in the student edition)
    from cnnlab import feature_visualization
except ImportError:  # pragma: no cover - exercised in the student edition
    feature_visualization = None

LIBRARIES = tuple(m for m in (feature_visualization, plotting) if m is not None)


class LibraryUsed(RuntimeError):
    """Raised when a student's function reaches the reference implementation."""


def _library_functions() -> dict[int, str]:
    """The references: every function of ``cnnlab.feature_visualization``, and ``cnnlab.plotting.filter_grid`` (its
    other helpers, such as ``to_numpy_image``, solve no task and stay allowed)."""
    found = {id(plotting.filter_grid): "cnnlab.plotting.filter_grid"}
    for name, value in vars(feature_visualization).items() if feature_visualization is not None else ():
        if isinstance(value, types.FunctionType) and value.__module__ == feature_visualization.__name__:
            found[id(value)] = f"cnnlab.feature_visualization.{name}"
    return found


def _tripwire(name: str, log: list[str]) -> Callable:
    def tripwire(*args: object, **kwargs: object) -> None:
        log.append(name)
        raise LibraryUsed(f"{name} is the reference implementation: write this function yourself")

    return tripwire


@contextmanager
def _library_hidden(fn: Callable, log: list[str]) -> Iterator[None]:
    functions = _library_functions()
    saved: list[tuple[dict, str, object]] = []
    namespaces = [vars(m) for m in LIBRARIES]
    if isinstance(fn, types.FunctionType):
        namespaces.append(fn.__globals__)
    for namespace in namespaces:
        for key, value in list(namespace.items()):
            if id(value) in functions:
                saved.append((namespace, key, value))
                namespace[key] = _tripwire(functions[id(value)], log)
    try:
        yield
    finally:
        for namespace, key, value in reversed(saved):
            namespace[key] = value


def own_call(task: str, fn: Callable, *args: object, **kwargs: object) -> object:
    """Call the student's ``fn`` (as ``call_student``), refusing any use of ``cnnlab.feature_visualization`` or
    ``cnnlab.plotting``."""
    name = _library_functions().get(id(fn))
    if name:
        raise CheckFailed(task, f"{task} is {name}, the reference implementation: write the function yourself")
    log: list[str] = []
    try:
        with _library_hidden(fn, log):
            result = call_student(task, fn, *args, **kwargs)
    except CheckFailed:
        if log:
            raise CheckFailed(task, f"calls {log[0]}, the reference implementation: write it yourself") from None
        raise
    if log:
        raise CheckFailed(task, f"calls {log[0]}, the reference implementation: write it yourself")
    return result


def require_defaults(task: str, fn: Callable, defaults: dict[str, object]) -> None:
    """The function's signature gives the defaults the task states (they are part of its contract: the notebook's
    own cells and the figures call it without them)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # not introspectable: judged by its outputs alone
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    for name, value in defaults.items():
        p = params.get(name)
        got = p.default if p is not None else None
        if p is None or got is inspect.Parameter.empty or not _same_default(got, value):
            shown = "no default" if p is None or got is inspect.Parameter.empty else f"{got!r}"
            raise CheckFailed(task, f"the default of {name} must be {value!r} (the task's signature), got {shown}")


def _same_default(got: object, value: object) -> bool:
    if isinstance(value, tuple):
        return isinstance(got, (tuple, list)) and list(got) == list(value)
    if value is None:
        return got is None
    return type(got) in (int, float) and got == value


def require_detached(task: str, value: torch.Tensor, case: str) -> None:
    """A returned image must not keep its graph: the task says to return it detached."""
    if isinstance(value, torch.Tensor) and value.requires_grad:
        raise CheckFailed(task, f"the result still requires grad for {case}: return it detached (x.detach())")


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def require_tensor(task: str, value: object, shape: tuple[int, ...], case: str, name: str = "the result") -> None:
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(task, f"{name} must be a torch.Tensor, got {type(value).__name__} for {case}")
    if tuple(value.shape) != shape:
        raise CheckFailed(task, f"{name} has shape {tuple(value.shape)}, expected {shape} for {case}")
    if not torch.isfinite(value).all():
        raise CheckFailed(task, f"{name} contains NaN or infinite values for {case}")


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    """Relative closeness (largest difference over the larger magnitude) of two tensors of the same shape."""
    a, b = torch.as_tensor(a).detach().double().cpu(), torch.as_tensor(b).detach().double().cpu()
    if a.shape != b.shape:
        return False
    if a.numel() == 0:
        return True
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return float((a - b).abs().max()) / scale < tol


def first_match(got: torch.Tensor, mistakes: list[tuple[torch.Tensor, str]], tol: float = 1e-4) -> str:
    """The message of the first typical mistake whose output ``got`` matches, or ''."""
    for wrong, message in mistakes:
        if close(got, wrong, tol):
            return message
    return ""


class ProbeNet(nn.Module):
    """A small seeded CNN with ``features(x)`` (one map per block) and a classifier; BatchNorm and dropout
    make train mode visible."""

    def __init__(self, seed: int, width: int = 6, classes: int = 4, dropout: float = 0.3) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.block1 = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=2, dilation=2), nn.ReLU())
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * width, classes)
        with torch.no_grad():  # non-trivial running statistics, logits of a few units
            self.fc.weight.mul_(10)
            self.block1[1].running_mean.uniform_(-0.2, 0.2)
            self.block1[1].running_var.uniform_(0.5, 1.5)
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        a = self.block1(x)
        b = self.block2(nn.functional.max_pool2d(a, 2))
        return [a, b]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.features(x)[-1].mean(dim=(2, 3))))


def batchnorm_state(model: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for name, b in model.named_buffers() if "running" in name]


def left_in_train_mode(before: list[torch.Tensor], model: nn.Module) -> bool:
    """Whether a call updated BatchNorm's running statistics (it ran the model in train mode)."""
    return any(not torch.equal(a, b) for a, b in zip(before, batchnorm_state(model)))


TRAIN_MODE = (
    "model left in train mode: call model.eval() first (in train mode BatchNorm uses the batch's statistics "
    "and updates its running ones, and dropout zeroes random units, so the map is not the trained network's)"
)
