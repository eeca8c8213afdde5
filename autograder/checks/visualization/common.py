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


def _student_globals(fn: Callable) -> list[dict]:
    """The globals of ``fn`` and of every function it wraps: a decorator (``@torch.no_grad()``,
    ``functools.wraps``) returns a wrapper whose globals are the decorator's module, not the notebook's."""
    found: list[dict] = []
    seen: set[int] = set()
    while fn is not None and id(fn) not in seen and len(seen) < 20:
        seen.add(id(fn))
        if isinstance(fn, types.FunctionType) and all(g is not fn.__globals__ for g in found):
            found.append(fn.__globals__)
        fn = getattr(fn, "__wrapped__", None)
    return found


@contextmanager
def _library_hidden(fn: Callable, log: list[str]) -> Iterator[None]:
    functions = _library_functions()
    saved: list[tuple[dict, str, object]] = []
    namespaces = [vars(m) for m in LIBRARIES]
    namespaces += [g for g in _student_globals(fn) if all(g is not n for n in namespaces)]
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
    functions, inner, seen = _library_functions(), fn, 0
    name = functions.get(id(fn))
    while not name and seen < 20 and getattr(inner, "__wrapped__", None) is not None:  # a decorated reference
        inner, seen = inner.__wrapped__, seen + 1
        name = functions.get(id(inner))
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
    own cells and the figures call it without them).

    A tuple default may also be written ``None`` (the idiom against mutable defaults, ``shift = shift or (0, 0)``
    inside): the check then calls the function without that argument, so its behaviour, not its spelling, is judged.
    """
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
        return got is None or (isinstance(got, (tuple, list)) and list(got) == list(value))
    if value is None:
        return got is None
    return type(got) in (int, float) and got == value


def require_detached(task: str, value: torch.Tensor, case: str) -> None:
    """A returned image must not keep its graph: the task says to return it detached."""
    if isinstance(value, torch.Tensor) and value.requires_grad:
        raise CheckFailed(task, f"the result still requires grad for {case}: return it detached (x.detach())")


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def require_torch_tensor(task: str, value: object, case: str, name: str = "the result") -> None:
    """``value`` is a ``torch.Tensor`` (anything else is named with its package: ``numpy.ndarray``)."""
    if not isinstance(value, torch.Tensor):
        kind = f"{type(value).__module__.split('.')[0]}.{type(value).__name__}"
        raise CheckFailed(task, f"{name} must be a torch.Tensor, got {kind} for {case}")


def require_tensor(task: str, value: object, shape: tuple[int, ...], case: str, name: str = "the result") -> None:
    """``value`` is a finite ``torch.Tensor`` of ``shape`` (a NumPy array of that shape is named as such)."""
    require_torch_tensor(task, value, case, name)
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
    make train mode visible.

    ``gain`` scales the first block's BatchNorm weight, so every activation by about ``gain`` and the gradients of
    their squares by ``gain**2``. DeepDream's checks use 10: the step's ``mean|g|`` is then 2e-3 to 2e-2 (not 3e-5
    to 2e-4), far above the guard against dividing by zero, so ``+ 1e-8``, ``clamp_min(1e-8)`` or no guard give one
    answer.
    """

    def __init__(self, seed: int, width: int = 6, classes: int = 4, dropout: float = 0.3, gain: float = 1.0) -> None:
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
            self.block1[1].weight.fill_(gain)
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
    "and updates its running ones, and dropout zeroes random units, so the result is not the trained network's)"
)
