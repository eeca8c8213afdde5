"""``SegmentationFolder``: a segmentation dataset read from a folder of images and a folder of masks.

Layout::

    root/
        images/  cat_01.jpg  cat_02.png  ...   (.png .jpg .jpeg .bmp .tif .tiff)
        masks/   cat_01.png  cat_02.png  ...   (.png .bmp .tif .tiff; one class index per pixel)

An image and its mask share a file stem. Masks are single-channel class-index images: a palette ("P")
PNG is read as its palette indices, not as colours. The whole folder is checked when the dataset is built
(pairing, readable headers, matching sizes), so a bad file is reported before training starts, with its
name; mask values are checked against ``num_classes`` when an item is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff")
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
_MAX_LISTED = 10


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


def _index_files(folder: Path, extensions: tuple[str, ...], what: str) -> tuple[dict[str, Path], list[str]]:
    """Map file stems to paths for the files of ``folder`` with one of ``extensions``; also list the others."""
    by_stem: dict[str, Path] = {}
    others: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in extensions:
            others.append(path.name)
            continue
        if path.stem in by_stem:
            raise ValueError(
                f"SegmentationFolder: two {what} files share the stem {path.stem!r} in {folder}: "
                f"{by_stem[path.stem].name} and {path.name}; keep one of them"
            )
        by_stem[path.stem] = path
    return by_stem, others


def _header_size(path: Path, what: str) -> tuple[int, int]:
    """Return ``(width, height)`` read lazily from the file header, or raise a ValueError naming the file."""
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"SegmentationFolder: cannot read {what} {path}: {err}") from err


def _load(path: Path, what: str) -> Image.Image:
    """Open and fully decode an image file, or raise a ValueError naming the file and the reason."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ValueError(f"SegmentationFolder: cannot read {what} {path}: {err}") from err


def _image_to_tensor(img: Image.Image, size: int | None) -> torch.Tensor:
    """Convert to float32 ``[3, H, W]`` in [0, 1] (grey to RGB, alpha dropped), resized bilinearly if asked."""
    if img.mode in _SIXTEEN_BIT_MODES or img.mode == "F":
        scale = 1.0 if img.mode == "F" else 65535.0
        grey = Image.fromarray(np.asarray(img, dtype=np.float32) / np.float32(scale))
        if size is not None:
            grey = grey.resize((size, size), Image.Resampling.BILINEAR)
        arr = np.clip(np.asarray(grey, dtype=np.float32), 0.0, 1.0)
        return torch.from_numpy(np.ascontiguousarray(np.broadcast_to(arr, (3,) + arr.shape)))
    rgb = img.convert("RGB")
    if size is not None:
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def _mask_to_array(img: Image.Image, path: Path) -> np.ndarray:
    """Return the class indices of a single-channel mask as int64 ``(H, W)``, or raise a ValueError naming it."""
    if img.mode not in ("1", "L", "P", "F") + _SIXTEEN_BIT_MODES:
        raise ValueError(
            f"SegmentationFolder: mask {path} has mode {img.mode!r} ({len(img.getbands())} channels); masks must "
            "be single-channel class-index images (mode L, P or 16-bit grey), not colour images"
        )
    arr = np.asarray(img)
    if arr.dtype.kind == "f" and not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
        raise ValueError(f"SegmentationFolder: mask {path} holds non-integer values; masks must hold class indices")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"SegmentationFolder: mask {path} holds negative values (min {arr.min()})")
    return arr


def resize_nearest(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(H, W)`` to ``(size, size)`` by nearest neighbour (pixel centres, as PIL's NEAREST): no new values."""
    h, w = mask.shape
    rows = np.minimum(((np.arange(size) + 0.5) * (h / size)).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size) + 0.5) * (w / size)).astype(np.int64), w - 1)
    return mask[rows[:, None], cols[None, :]]


class SegmentationFolder(Dataset):
    """Image/mask pairs read from ``root/images`` and ``root/masks``, paired by file stem.

    Args:
        root: folder holding the two sub-folders.
        image_dir, mask_dir: names of the sub-folders (default ``images`` and ``masks``).
        size: if an integer, resize every image (bilinear) and mask (nearest, so class values stay valid) to
            ``size`` x ``size``; None keeps the original sizes (items then cannot be batched unless they agree).
        num_classes: if given, a mask value ``>= num_classes`` raises a ValueError when the item is loaded.
        transform: optional callable ``(image, mask) -> (image, mask)`` applied to every item.
        classes: optional class names; sets ``num_classes`` to ``len(classes)`` when that is not given.

    Items are ``(image, mask)``: float32 ``[3, H, W]`` in [0, 1] (grey images are repeated to RGB, an alpha
    channel is dropped, 16-bit grey is scaled by 1/65535) and int64 ``[H, W]`` class indices.

    Attributes:
        pairs: list of ``(image_path, mask_path)`` sorted by stem.
        classes: the class names given, or None.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        image_dir: str = "images",
        mask_dir: str = "masks",
        size: int | None = None,
        num_classes: int | None = None,
        transform: Callable | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"SegmentationFolder: root folder {root} does not exist")
        if not root.is_dir():
            raise NotADirectoryError(f"SegmentationFolder: root {root} is a file, not a folder")
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
            raise ValueError(f"SegmentationFolder: size must be a positive integer or None, got {size!r}")
        if classes is not None:
            classes = tuple(classes)
            if num_classes is None:
                num_classes = len(classes)
            elif num_classes != len(classes):
                raise ValueError(
                    f"SegmentationFolder: num_classes={num_classes} but {len(classes)} class names were given"
                )
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1
        ):
            raise ValueError(f"SegmentationFolder: num_classes must be a positive integer, got {num_classes!r}")

        folders = {}
        for what, name in (("images", image_dir), ("masks", mask_dir)):
            folder = root / name
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"SegmentationFolder: no {what} folder: expected {folder} "
                    f"(the {what} sub-folder {name!r} of {root})"
                )
            folders[what] = folder
        images, other_images = _index_files(folders["images"], IMAGE_EXTENSIONS, "image")
        masks, other_masks = _index_files(folders["masks"], MASK_EXTENSIONS, "mask")
        if not images:
            hint = f"; files with other extensions there: {_listing(other_images)}" if other_images else ""
            raise FileNotFoundError(
                f"SegmentationFolder: no images found in {folders['images']} "
                f"(extensions {', '.join(IMAGE_EXTENSIONS)}){hint}"
            )
        lonely_images = sorted(images[s].name for s in images.keys() - masks.keys())
        lonely_masks = sorted(masks[s].name for s in masks.keys() - images.keys())
        if lonely_images or lonely_masks:
            parts = []
            if lonely_images:
                parts.append(
                    f"{len(lonely_images)} image(s) in {folders['images']} have no mask: {_listing(lonely_images)}"
                )
            if lonely_masks:
                parts.append(
                    f"{len(lonely_masks)} mask(s) in {folders['masks']} have no image: {_listing(lonely_masks)}"
                )
            raise ValueError(
                "SegmentationFolder: images and masks are paired by file stem, but "
                + "; and ".join(parts)
                + f" (mask extensions: {', '.join(MASK_EXTENSIONS)})"
            )

        self.root = root
        self.pairs: list[tuple[Path, Path]] = [(images[s], masks[s]) for s in sorted(images)]
        mismatched = []
        for image_path, mask_path in self.pairs:
            image_size = _header_size(image_path, "image")
            mask_size = _header_size(mask_path, "mask")
            if image_size != mask_size:
                mismatched.append(
                    f"{image_path.name} is {image_size[0]}x{image_size[1]} but its mask {mask_path.name} is "
                    f"{mask_size[0]}x{mask_size[1]} (expected {image_size[0]}x{image_size[1]}, "
                    f"got {mask_size[0]}x{mask_size[1]})"
                )
        if mismatched:
            raise ValueError(
                f"SegmentationFolder: {len(mismatched)} mask(s) in {folders['masks']} differ in size (width x height) "
                "from their image: "
                + "; ".join(mismatched[:_MAX_LISTED])
                + (f"; ... ({len(mismatched) - _MAX_LISTED} more)" if len(mismatched) > _MAX_LISTED else "")
            )
        self.size = None if size is None else int(size)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.classes = classes
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple:
        if isinstance(index, torch.Tensor):
            index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"SegmentationFolder index {index} out of range for length {len(self)}")
        image_path, mask_path = self.pairs[index]
        image = _image_to_tensor(_load(image_path, "image"), self.size)
        mask = _mask_to_array(_load(mask_path, "mask"), mask_path)
        if self.num_classes is not None and mask.size and int(mask.max()) >= self.num_classes:
            raise ValueError(
                f"SegmentationFolder: mask {mask_path} holds class value {int(mask.max())} but num_classes is "
                f"{self.num_classes} (values must be 0..{self.num_classes - 1})"
            )
        if self.size is not None:
            mask = resize_nearest(mask, self.size)
        item = (image, torch.from_numpy(np.ascontiguousarray(mask)))
        if self.transform is not None:
            item = self.transform(*item)
        return item

    def __repr__(self) -> str:
        return f"SegmentationFolder({str(self.root)!r}, {len(self)} pairs, size={self.size})"
