"""Pick the compute device for lectures, assignments and the grader, and size work budgets by it.

The order is CUDA, then Apple's MPS, then the CPU. The environment variable ``COURSE_DEVICE``
overrides the choice (``cpu``, ``cuda``, ``cuda:1``, ``mps``); asking for a device that this
machine does not have is an error that says what is available instead.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

import torch

ENV_VAR = "COURSE_DEVICE"
KNOWN_TYPES = ("cpu", "cuda", "mps")

#: How much more work per unit of wall-clock time each device type is assumed to do than a 2-core CPU.
DEVICE_SPEEDUP = {"cpu": 1.0, "mps": 4.0, "cuda": 16.0}


class DeviceError(RuntimeError):
    """Raised when ``COURSE_DEVICE`` names an unknown device or one this machine lacks."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Return the device names usable here, best first (always ends with ``"cpu"``)."""
    names: list[str] = []
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def _parse_override(value: str) -> torch.device:
    text = value.strip().lower()
    try:
        device = torch.device(text)
    except RuntimeError as err:
        raise DeviceError(
            f"{ENV_VAR}={value!r} is not a device name; use one of {', '.join(KNOWN_TYPES)} "
            f"(available here: {', '.join(available_devices())})"
        ) from err
    if device.type not in KNOWN_TYPES:
        raise DeviceError(
            f"{ENV_VAR}={value!r}: device type {device.type!r} is not supported; use one of {', '.join(KNOWN_TYPES)}"
        )
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"{ENV_VAR}={value!r} asks for CUDA, but no CUDA GPU is available here "
                f"(available: {', '.join(available_devices())}); unset {ENV_VAR} or set it to cpu"
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise DeviceError(
                f"{ENV_VAR}={value!r} asks for GPU {index}, but only {torch.cuda.device_count()} "
                "CUDA device(s) are visible"
            )
    if device.type == "mps" and not _mps_available():
        raise DeviceError(
            f"{ENV_VAR}={value!r} asks for Apple MPS, which is not available here "
            f"(available: {', '.join(available_devices())})"
        )
    return device


def get_device() -> torch.device:
    """Return the device to compute on: ``COURSE_DEVICE`` if set, else CUDA, else MPS, else CPU.

    Raises:
        DeviceError: ``COURSE_DEVICE`` is set to an unknown or unavailable device.
    """
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return _parse_override(override)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe(device: torch.device | str | None = None) -> str:
    """Return a one-line report of the device, e.g. ``"cuda:0 (NVIDIA H100, 79.1 GiB), torch 2.14.1"``."""
    device = torch.device(device) if device is not None else get_device()
    source = f", chosen by {ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else ""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        detail = f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.1f} GiB)"
    elif device.type == "mps":
        detail = f"mps (Apple GPU, {platform.machine()})"
    else:
        detail = f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads, {platform.machine()})"
    return f"{detail}, torch {torch.__version__}{source}"


@dataclass(frozen=True)
class Budget:
    """A work budget: optimisation steps and the batch size per step."""

    steps: int
    batch_size: int

    @property
    def samples(self) -> int:
        """Total number of training samples the budget processes."""
        return self.steps * self.batch_size


def speedup(device: torch.device | str | None = None) -> float:
    """Return the assumed throughput of ``device`` relative to a 2-core CPU (``DEVICE_SPEEDUP``)."""
    device = torch.device(device) if device is not None else get_device()
    return DEVICE_SPEEDUP[device.type]


def scale_budget(
    steps: int,
    batch_size: int,
    device: torch.device | str | None = None,
    *,
    max_batch_size: int = 256,
) -> Budget:
    """Scale a budget written for a 2-core CPU to ``device``.

    Faster devices first get larger batches (up to ``max_batch_size``), then more steps, so that the
    total work grows by ``speedup(device)``. The CPU budget is returned unchanged.

    >>> scale_budget(100, 16, "cpu")
    Budget(steps=100, batch_size=16)
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"a budget needs steps >= 1 and batch_size >= 1, got steps={steps}, batch_size={batch_size}")
    factor = speedup(device)
    new_batch = min(max_batch_size, max(batch_size, int(batch_size * factor)))
    batch_gain = new_batch / batch_size
    new_steps = max(1, round(steps * factor / batch_gain))
    return Budget(steps=new_steps, batch_size=new_batch)
