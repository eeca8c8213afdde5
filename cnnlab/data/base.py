"""Seeding, splits and size checks shared by the synthetic datasets.

Every image is drawn from its own random generator, so an item depends only on (dataset, split or seed,
index) and never on the order in which items are read or on the number of worker processes.

* The named splits ``train``, ``val`` and ``test`` take item seeds from disjoint ranges:
  ``[0, 10**6)``, ``[10**6, 2*10**6)`` and ``[2*10**6, 3*10**6)``.
* ``seed=S`` (with ``split=None``) gives a split of the caller's own, for example a grader's hidden test set.
  Its generators are keyed by ``(S, index)`` in a separate domain, so they never coincide with a named split.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

SPLIT_OFFSETS = {"train": 0, "val": 1_000_000, "test": 2_000_000}
SPLIT_RANGE = 1_000_000
DEFAULT_LENGTHS = {"train": 1000, "val": 200, "test": 200, None: 200}
MIN_SIZE, MAX_SIZE = 32, 256

_NAMED_DOMAIN, _CUSTOM_DOMAIN = 0, 1


def check_size(size: int, owner: str) -> int:
    """Return ``size`` if it is an integer in ``[MIN_SIZE, MAX_SIZE]``, else raise a ValueError naming ``owner``."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ValueError(f"{owner}: size must be an integer number of pixels, got {size!r} ({type(size).__name__})")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"{owner}: size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    return int(size)


class SyntheticDataset(Dataset):
    """Base class: maps an index to a fresh ``numpy.random.Generator`` and renders the item with it.

    Subclasses set ``dataset_key`` (an integer that separates datasets) and implement ``render(rng)``.
    """

    dataset_key = 0

    def __init__(
        self,
        split: str | None = "train",
        length: int | None = None,
        *,
        seed: int | None = None,
        transform: Callable | None = None,
        cache: bool = False,
    ) -> None:
        name = type(self).__name__
        if split is not None and split not in SPLIT_OFFSETS:
            raise ValueError(f"{name}: split must be one of {sorted(SPLIT_OFFSETS)} or None with a seed, got {split!r}")
        if split is not None and seed is not None:
            raise ValueError(
                f"{name}: give either a named split or seed=..., not both (got split={split!r}, seed={seed})"
            )
        if split is None and seed is None:
            raise ValueError(f"{name}: split=None needs seed=... to define a split of your own")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"{name}: seed must be a non-negative integer, got {seed!r}")
        length = DEFAULT_LENGTHS[split] if length is None else length
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or not 0 < length <= SPLIT_RANGE:
            raise ValueError(f"{name}: length must be an integer in [1, {SPLIT_RANGE}], got {length!r}")
        self.split = split
        self.seed = None if seed is None else int(seed)
        self.length = int(length)
        self.transform = transform
        self._cache: dict[int, tuple] | None = {} if cache else None

    def __len__(self) -> int:
        return self.length

    def item_rng(self, index: int) -> np.random.Generator:
        """Return the generator that renders item ``index`` (independent of every other item)."""
        if self.split is not None:
            entropy = [_NAMED_DOMAIN, self.dataset_key, SPLIT_OFFSETS[self.split] + index]
        else:
            entropy = [_CUSTOM_DOMAIN, self.dataset_key, self.seed, index]
        return np.random.default_rng(np.random.SeedSequence(entropy))

    def _check_index(self, index: int) -> int:
        if isinstance(index, torch.Tensor):
            index = int(index)
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} indices must be integers, got {type(index).__name__}")
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"{type(self).__name__} index {index} out of range for length {self.length}")
        return int(index)

    def render(self, rng: np.random.Generator) -> tuple:
        """Render one item from ``rng``; subclasses return tensors."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple:
        index = self._check_index(index)
        if self._cache is not None and index in self._cache:
            item = self._cache[index]
        else:
            item = self.render(self.item_rng(index))
            if self._cache is not None:
                self._cache[index] = item
        if self.transform is not None:
            item = self.transform(*item)
        return item

    def as_tensors(self) -> tuple[torch.Tensor, ...]:
        """Render every item and stack each field: ``images, masks = Shapes("val").as_tensors()``."""
        items = [self[i] for i in range(self.length)]
        return tuple(torch.stack([torch.as_tensor(field) for field in fields]) for fields in zip(*items))

    def __repr__(self) -> str:
        where = f"split={self.split!r}" if self.split is not None else f"seed={self.seed}"
        return f"{type(self).__name__}({where}, length={self.length})"
