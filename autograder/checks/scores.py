"""Scores of trained models for the result checks of Assignments 2 and 3: computed once per weights and split.

Several graded cells check one trained model against rising thresholds; ``score_once`` evaluates it the first
time and reuses the number while the weights stay the same (``state_key`` hashes them), so the steps cost one
evaluation. An evaluation that raises becomes a ``CheckFailed`` that says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from torch import nn

from .common import CheckFailed

TASK = "trained model"
_scores: dict[tuple[str, str, object, object], float] = {}


def state_key(model: nn.Module) -> str:
    """A hash of the model's parameters and buffers: the same for the same weights."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def score_once(metric: str, model: nn.Module, seed: int | None, split: str, compute: Callable[[], float]) -> float:
    """``compute()`` the first time this metric is asked for these weights on this split, the cached value after."""
    key = (metric, state_key(model), seed, None if seed is not None else split)
    if key not in _scores:
        try:
            _scores[key] = float(compute())
        except Exception as err:
            raise CheckFailed(TASK, f"evaluating the model raised {type(err).__name__}: {err}") from err
    return _scores[key]


def where(seed: int | None, split: str) -> str:
    """How a message names the split: the hidden test split (a seed of the grader's own) or a named one."""
    return "the hidden test split" if seed is not None else f"the {split} split"
