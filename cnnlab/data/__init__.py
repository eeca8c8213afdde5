"""Offline, seeded datasets of ``(image, mask)`` pairs, and loaders for real segmentation data.

Synthetic (rendered on the fly, deterministic by split/seed and index): ``Shapes``, ``ShapesClassification``,
``Cells``. Real data already on disk: ``SegmentationFolder`` (images/ + masks/), ``OxfordPets`` (torchvision).
"""

from .base import SPLIT_OFFSETS, SyntheticDataset
from .cells import Cells, unet_weight_map
from .folder import SegmentationFolder
from .pets import OxfordPets
from .shapes import Shapes, ShapesClassification

__all__ = [
    "SPLIT_OFFSETS",
    "Cells",
    "OxfordPets",
    "SegmentationFolder",
    "Shapes",
    "ShapesClassification",
    "SyntheticDataset",
    "unet_weight_map",
]
