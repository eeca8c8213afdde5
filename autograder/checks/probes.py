"""Watching what a student's PyTorch code does: which tensor operations it calls, and on what.

``record_calls()`` is a ``TorchFunctionMode`` that logs every torch function and tensor method called inside
it, with the few arguments the checks care about (the ``dim`` of ``torch.cat``, the device of ``.to``). The
checks use it to name mistakes that leave no trace in the output: skip connections concatenated on the
batch axis, metrics computed without ``argmax``, data never moved to the model's device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode

from .common import CheckFailed


@dataclass
class CallLog:
    """What happened inside ``record_calls``."""

    cat_dims: list[tuple[int, int]] = field(default_factory=list)  # (dim, ndim of the joined tensors)
    moved_to_device: int = 0
    argmax_calls: int = 0
    softmax_calls: int = 0
    interpolate_modes: list[str] = field(default_factory=list)  # the mode of each F.interpolate (nn.Upsample) call
    names: set[str] = field(default_factory=set)


_ARGMAX = {torch.argmax, torch.Tensor.argmax, torch.max, torch.Tensor.max, torch.topk, torch.Tensor.topk}
_SOFTMAX = {
    torch.softmax,
    torch.Tensor.softmax,
    torch.nn.functional.softmax,
    torch.sigmoid,
    torch.Tensor.sigmoid,
    torch.nn.functional.sigmoid,
    torch.log_softmax,
    torch.nn.functional.log_softmax,
}


def _is_device(value: object) -> bool:
    if isinstance(value, torch.device):
        return True
    if isinstance(value, str):
        try:
            torch.device(value)
        except (RuntimeError, ValueError):
            return False
        return True
    return False


def _cat_dim(args: tuple, kwargs: dict) -> int:
    if "dim" in kwargs:
        return int(kwargs["dim"])
    if "axis" in kwargs:
        return int(kwargs["axis"])
    if len(args) > 1:
        return int(args[1])
    return 0


class _Recorder(TorchFunctionMode):
    def __init__(self, log: CallLog) -> None:
        super().__init__()
        self.log = log

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        self.log.names.add(name)
        if func in (torch.cat, torch.concat, torch.concatenate):
            tensors = args[0] if args else kwargs.get("tensors", ())
            ndim = tensors[0].dim() if len(tensors) and isinstance(tensors[0], torch.Tensor) else 0
            self.log.cat_dims.append((_cat_dim(args, kwargs), ndim))
        elif func is torch.Tensor.to:
            if any(_is_device(a) for a in args[1:]) or "device" in kwargs:
                self.log.moved_to_device += 1
        elif func is torch.Tensor.cuda:
            self.log.moved_to_device += 1
        elif func in _ARGMAX and (func not in (torch.max, torch.Tensor.max) or len(args) > 1 or "dim" in kwargs):
            self.log.argmax_calls += 1
        elif func in _SOFTMAX:
            self.log.softmax_calls += 1
        elif func is torch.nn.functional.interpolate:
            self.log.interpolate_modes.append(str(kwargs.get("mode", args[3] if len(args) > 3 else "nearest")))
        return func(*args, **kwargs)


@contextlib.contextmanager
def record_calls() -> Iterator[CallLog]:
    """Log the torch calls made inside the block (see ``CallLog``)."""
    log = CallLog()
    with _Recorder(log):
        yield log


def wrong_cat_axis(log: CallLog) -> bool:
    """True when some ``torch.cat`` joined 4-D feature maps along an axis other than channels."""
    return any(ndim == 4 and dim not in (1, -3) for dim, ndim in log.cat_dims)


#: What the checks say when the student's code never moves data to the model's device.
NOT_MOVED = "the data is not moved to the model's device"
MOVE_HINT = "move each batch with .to(device), where device = next(model.parameters()).device"


def _device_mismatch(message: str) -> bool:
    """Whether a failure's message is PyTorch's complaint about tensors on different devices."""
    text = message.lower()
    return "same device" in text or ("cuda" in text and "should be the same" in text)


def not_moved_to_device(task: str, device: torch.device, log: CallLog, err: CheckFailed | None = None) -> None:
    """Fail, naming the mistake, when the student's code (``log``) never moved a tensor to a device.

    On a CPU such code runs (``err`` is None) and only the log shows the mistake; on a GPU its first call fails
    with a device mismatch (``err``: that failure), which is then explained the same way rather than shown bare.
    When something was moved and a GPU still reports a mismatch, some other tensor stayed behind: named too.
    """
    if log.moved_to_device:
        if err is not None and device.type != "cpu" and _device_mismatch(err.message):
            raise CheckFailed(
                task,
                f"{err.message}\nLikely mistake: something was moved, but not every tensor the step uses (a batch, "
                f"its masks or targets, a prediction compared with CPU data); {MOVE_HINT}, and keep what you compare "
                "on one device.",
            ) from err
        return
    if err is None and device.type == "cpu":
        raise CheckFailed(task, f"{NOT_MOVED}: on a GPU this fails; {MOVE_HINT}.")
    if err is not None and device.type != "cpu":
        raise CheckFailed(task, f"{err.message}\nLikely mistake: {NOT_MOVED}; {MOVE_HINT}.") from err
