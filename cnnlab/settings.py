"""Course-wide switches read from the environment, and reproducible seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

FAST_ENV_VAR = "COURSE_FAST"


def fast_mode() -> bool:
    """Return True when ``COURSE_FAST`` is set to a true value (1, true, yes, on).

    Lecture notebooks shorten their training when it is on (CI sets it); grading never reads it.
    """
    return os.environ.get(FAST_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise: ``epochs = pick(20, 2)``."""
    return fast if fast_mode() else full


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's generators (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
