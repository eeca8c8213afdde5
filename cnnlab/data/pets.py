"""``OxfordPets``: foreground/background segmentation of the Oxford-IIIT Pet images, through torchvision.

The files are read by ``torchvision.datasets.OxfordIIITPet`` and must be in its layout::

    root/oxford-iiit-pet/images/Abyssinian_1.jpg ...             (from images.tar.gz)
    root/oxford-iiit-pet/annotations/trainval.txt, test.txt      (from annotations.tar.gz; lines
    root/oxford-iiit-pet/annotations/trimaps/Abyssinian_1.png ...  "<image id> <class> <species> <breed>")

The course never downloads anything: get the data once on a machine with internet access
(``OxfordPets(root, download=True)`` or ``torchvision.datasets.OxfordIIITPet(root, download=True)``) and
copy the ``oxford-iiit-pet`` folder, or unpack the two archives from https://www.robots.ox.ac.uk/~vgg/data/pets/
into ``root/oxford-iiit-pet``.

The trimaps mark each pixel 1 (pet), 2 (background) or 3 (the uncertain border around the pet). Masks map
them to 1, 0 and ``IGNORE_INDEX`` (255): pass ``ignore_index=IGNORE_INDEX`` to ``nn.CrossEntropyLoss`` and
leave those pixels out of the metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

IGNORE_INDEX = 255
"""Mask value of the trimap border pixels: ignore it in losses (``ignore_index=IGNORE_INDEX``) and metrics."""

PETS_CLASSES = ("background", "pet")
PETS_SPLITS = ("trainval", "test")
_TRIMAP_TO_MASK = np.full(256, -1, dtype=np.int64)
_TRIMAP_TO_MASK[[1, 2, 3]] = [1, 0, IGNORE_INDEX]


def _missing_data_message(root: Path, split: str) -> str:
    base = root / "oxford-iiit-pet"
    looked = [
        base / "images",
        base / "annotations",
        base / "annotations" / "trimaps",
        base / "annotations" / f"{split}.txt",
    ]
    missing = [str(p) for p in looked if not p.exists()]
    hint = ""
    if (root / "images").is_dir() and (root / "annotations").is_dir():
        hint = f" It looks like {root} is the oxford-iiit-pet folder itself: pass its parent ({root.parent}) as root."
    return (
        f"OxfordPets: the Oxford-IIIT Pet data ({split!r} split) was not found under {base}; missing: "
        f"{', '.join(missing)}.{hint} To get it, run OxfordPets(root, download=True) (or "
        "torchvision.datasets.OxfordIIITPet(root, download=True)) once on a machine with internet access and copy "
        f"the oxford-iiit-pet folder to {root}, or unpack images.tar.gz and annotations.tar.gz from "
        f"https://www.robots.ox.ac.uk/~vgg/data/pets/ into {base} (torchvision's layout: images/*.jpg, "
        "annotations/trimaps/*.png, annotations/trainval.txt and annotations/test.txt)."
    )


class OxfordPets(Dataset):
    """Oxford-IIIT Pet segmentation: pet versus background, with the trimap border ignored.

    Args:
        root: folder that holds ``oxford-iiit-pet/`` (torchvision's layout, see the module docstring).
        split: ``"trainval"`` (3680 images) or ``"test"`` (3669 images).
        size: side of the square items; images are resized bilinearly and masks by nearest neighbour.
        download: let torchvision download the data (about 800 MB) when it is missing. The course never
            sets it; do it once on a machine with internet access.
        transform: optional callable ``(image, mask) -> (image, mask)`` applied to every item.

    Items are ``(image, mask)``: float32 ``[3, size, size]`` in [0, 1] and int64 ``[size, size]`` with
    0 = background, 1 = pet and ``IGNORE_INDEX`` (255) = border (trimap values 2, 1 and 3).
    """

    classes = PETS_CLASSES
    num_classes = len(PETS_CLASSES)
    ignore_index = IGNORE_INDEX

    def __init__(
        self,
        root: str | Path,
        split: str = "trainval",
        *,
        size: int = 128,
        download: bool = False,
        transform: Callable | None = None,
    ) -> None:
        from torchvision.datasets import OxfordIIITPet

        if split not in PETS_SPLITS:
            raise ValueError(f"OxfordPets: split must be one of {PETS_SPLITS}, got {split!r}")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"OxfordPets: size must be a positive integer number of pixels, got {size!r}")
        root = Path(root)
        if not download and not (root / "oxford-iiit-pet" / "annotations" / f"{split}.txt").is_file():
            raise FileNotFoundError(_missing_data_message(root, split))
        try:
            self._pets = OxfordIIITPet(root, split=split, target_types="segmentation", download=download)
        except RuntimeError as err:  # torchvision's bare "Dataset not found"
            raise FileNotFoundError(_missing_data_message(root, split)) from err
        self.root = root
        self.split = split
        self.size = int(size)
        self.transform = transform

    def __len__(self) -> int:
        return len(self._pets)

    def __getitem__(self, index: int) -> tuple:
        if isinstance(index, torch.Tensor):
            index = int(index)
        image, trimap = self._pets[index]
        image = image.resize((self.size, self.size), Image.Resampling.BILINEAR)
        trimap = trimap.resize((self.size, self.size), Image.Resampling.NEAREST)
        values = np.asarray(trimap)
        if values.ndim != 2:
            values = np.asarray(trimap.convert("L"))
        mask = _TRIMAP_TO_MASK[values.astype(np.int64).clip(0, 255)]
        if mask.min() < 0:
            bad = sorted(set(np.unique(values).tolist()) - {1, 2, 3})
            raise ValueError(f"OxfordPets: trimap of item {index} holds values {bad}; expected only 1, 2 and 3")
        arr = np.asarray(image, dtype=np.float32) / np.float32(255.0)
        item = (torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))), torch.from_numpy(mask))
        if self.transform is not None:
            item = self.transform(*item)
        return item

    def __repr__(self) -> str:
        return f"OxfordPets({str(self.root)!r}, split={self.split!r}, {len(self)} images, size={self.size})"
