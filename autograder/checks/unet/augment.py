"""Check of Assignment 2's joint image+mask augmentation.

The test image paints each class of a mask in its own colour *direction* (brightness changes the length of a
colour vector, not its direction), so after any geometric transform the class can be read back from the image
and compared with the transformed mask: if image and mask got different random parameters, or the mask was
interpolated, they disagree. The mask holds the classes {0, 1, 4} only, so bilinear interpolation shows up as
the invalid values 2 and 3.

The comparison is made where it means something whatever else the augmentation does: inside the mask's regions
(a pixel whose 3x3 neighbourhood holds one class; on a boundary an interpolated image mixes colours), on the image
averaged over 3x3 pixels (Gaussian noise, v2.GaussianNoise's default sigma=0.1 included, averages out) and bright
enough to have a colour (not the fill of a rotation). Photometric changes that move colours (hue, saturation,
contrast, grayscale, a permutation of the channels) change the colour of every pixel of a class alike, so where the
colours no longer read as the classes they encode, image and mask still line up when the image's colours are
explained by the mask's regions: each pixel is nearest to the typical colour of its own region.

What the task asks for is checked by its effect over 64 seeded calls, whatever library or style draws it: some
output is the left-right mirror image of the input, turned by at most 45° (a horizontal flip; a vertical flip
and a turn cannot make it); some output is neither the input nor a flip of it (a rotation); the image's
brightness changes (the median length of its colour vectors) and so does each pixel on its own (noise: the
spread of those lengths within an image). A flip combined with transforms that are always applied (a random crop,
scaling, translation) is no plain mirror image of the input: it is recognised on masks that mark four landmarks,
transformed with the same seed, whose positions give the geometric map's linear part (a reflection about an axis
within 22.5° of the vertical one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from ..common import CheckFailed, call_student, grader_only

COLOURS = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
COLOURS = COLOURS / COLOURS.norm(dim=1, keepdim=True)
CLASSES = (0, 1, 4)


def test_pair(size: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """A mask of large blocks of the classes {0, 1, 4} and an image that encodes it in colour directions."""
    mask = torch.zeros(size, size, dtype=torch.int64)
    mask[:, size // 3 : 2 * size // 3] = 1
    mask[size // 2 :, 2 * size // 3 :] = 4
    mask[: size // 4, : size // 4] = 4
    image = (0.6 * COLOURS[mask]).permute(2, 0, 1).contiguous()
    return image, mask


def decode(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The class each pixel's colour direction encodes, and where the colour is bright enough to tell."""
    pixels = image.permute(1, 2, 0).double()
    norm = pixels.norm(dim=-1)
    cosine = (pixels / norm.clamp(min=1e-6).unsqueeze(-1)) @ COLOURS.double().T
    return cosine.argmax(-1), norm > 0.25


def alignment(image: torch.Tensor, mask: torch.Tensor) -> float | None:
    """The share of the pixels inside the mask's regions whose colour agrees with the mask, or None when too few
    pixels are inside a region and bright enough to tell.

    A pixel agrees when its colour (averaged over 3x3 pixels) reads as its mask class, or, for colours that
    photometric changes moved, when it is nearer to the typical (median) colour of its own region than to any other
    region's: the better of the two shares.
    """
    smooth = F.avg_pool2d(image[None].double(), 3, stride=1, padding=1, count_include_pad=False)[0]
    labels = mask[None, None].double()
    inside = (F.max_pool2d(labels, 3, stride=1, padding=1) == -F.max_pool2d(-labels, 3, stride=1, padding=1))[0, 0]
    valid = inside & (smooth.norm(dim=0) > 0.25)
    if valid.sum() <= 0.2 * valid.numel():
        return None
    decoded, _ = decode(smooth)
    as_encoded = float((decoded[valid] == mask[valid]).double().mean())
    colours, classes = smooth.permute(1, 2, 0)[valid], mask[valid]
    present = classes.unique()
    typical = torch.stack([colours[classes == k].median(dim=0).values for k in present])
    nearest = present[torch.cdist(colours, typical).argmin(dim=1)]
    return max(as_encoded, float((nearest == classes).double().mean()))


def _call(
    task: str, augment: Callable, seed: int, pair: tuple[torch.Tensor, torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    image, mask = pair if pair is not None else test_pair()
    torch.manual_seed(seed)
    out = call_student(task, augment, image.clone(), mask.clone())
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckFailed(task, f"augment(image, mask) must return a pair (image, mask), got {type(out).__name__}")
    img, msk = out
    if not isinstance(img, torch.Tensor) or not isinstance(msk, torch.Tensor):
        raise CheckFailed(task, "augment must return torch tensors (plain tensors or tv_tensors)")
    img, msk = img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor)
    if tuple(img.shape) != tuple(image.shape) or not img.dtype.is_floating_point:
        raise CheckFailed(
            task,
            f"the image must stay a float tensor of shape {tuple(image.shape)}, got {img.dtype} {tuple(img.shape)}",
        )
    if msk.dim() == 3 and msk.shape[0] == 1:
        msk = msk[0]
    if tuple(msk.shape) != tuple(mask.shape) or msk.dtype != torch.int64:
        raise CheckFailed(
            task, f"the mask must stay an int64 tensor of shape {tuple(mask.shape)}, got {msk.dtype} {tuple(msk.shape)}"
        )
    return img, msk


#: Seeds of the calls that look for each required transform, and the turns a flip is matched up to.
PRESENCE_SEEDS = range(1000, 1064)
ANGLES = range(-45, 46)


def _flips(mask: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"none": mask, "horizontal": mask.flip(-1), "vertical": mask.flip(-2), "both": mask.flip(-1).flip(-2)}


def _turned_flips(mask: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """Every flip of ``mask`` turned by every angle of ``ANGLES`` (nearest neighbour, filled with background)."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2.functional import rotate

    stack, names = [], []
    for name, flipped in _flips(mask).items():
        for angle in ANGLES:
            stack.append(rotate(flipped[None], float(angle), interpolation=InterpolationMode.NEAREST, fill=0)[0])
            names.append(name)
    return torch.stack(stack), names


#: Four landmarks (row, column) of the test size, two per mask: class 1 at the first, class 4 at the second.
LANDMARKS = (((14, 14), (14, 33)), ((33, 20), (30, 34)))
LANDMARK_SIDE = 6


def landmark_pairs(size: int = 48) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The test image with masks that each mark two landmarks (squares of classes 1 and 4 on background)."""
    image, _ = test_pair(size)
    pairs = []
    for points in LANDMARKS:
        mask = torch.zeros(size, size, dtype=torch.int64)
        for cls, (row, col) in zip((1, 4), points):
            half = LANDMARK_SIDE // 2
            mask[row - half : row + half, col - half : col + half] = cls
        pairs.append((image, mask))
    return pairs


def linear_map(task: str, augment: Callable, seed: int) -> torch.Tensor | None:
    """The linear part M of the geometric map out = M @ src + t that ``augment`` applies with ``seed``, fitted to
    where the landmarks land (row, column); None when one is cut off (a crop) or turned into the fill."""
    sources, targets = [], []
    for pair, points in zip(landmark_pairs(), LANDMARKS):
        _, msk = _call(task, augment, seed, pair)
        for cls, (row, col) in zip((1, 4), points):
            where = (msk == cls).nonzero().double()
            if len(where) < LANDMARK_SIDE:
                return None
            sources.append([row - 0.5, col - 0.5, 1.0])  # the centre of the square
            targets.append(where.mean(dim=0).tolist())
    a, b = torch.tensor(sources, dtype=torch.float64), torch.tensor(targets, dtype=torch.float64)
    return torch.linalg.lstsq(a, b).solution[:2].T


def mirrors_left_right(linear: torch.Tensor | None) -> bool:
    """Whether ``linear`` (rows, columns) reflects about an axis within 22.5° of the vertical one: a horizontal flip
    turned by at most 45°, at any scale. Its reflecting part is [[a, b], [b, -a]] with a = cos(turn): 1 for the
    horizontal flip diag(1, -1), -1 for the vertical one."""
    if linear is None or not torch.det(linear) < 0:
        return False
    a, b = float(linear[0, 0] - linear[1, 1]) / 2, float(linear[0, 1] + linear[1, 0]) / 2
    return a / max(math.hypot(a, b), 1e-12) >= math.cos(math.radians(45.5))


def _brightness_and_noise(image: torch.Tensor) -> tuple[float, float]:
    """The median length of the bright pixels' colour vectors relative to the test image's 0.6, measured on the
    image averaged over 3x3 pixels (noise alone lengthens the vectors: by 4% at v2.GaussianNoise's default
    sigma=0.1, which is no change of brightness), and their spread (median absolute deviation) relative to it."""
    norm = image.double().norm(dim=0)
    lengths = norm[norm > 0.25]
    if lengths.numel() == 0:
        return 0.0, 0.0
    smooth = F.avg_pool2d(image[None].double(), 3, stride=1, padding=1, count_include_pad=False)[0].norm(dim=0)
    bright = smooth[smooth > 0.25]
    level = bright.median() if bright.numel() else lengths.median()
    median = lengths.median()
    return float(level / 0.6), float((lengths - median).abs().median() / 0.6)


def _check_required_transforms(task: str, augment: Callable) -> None:
    """A horizontal flip, a rotation, brightness and noise: each seen in some of the seeded calls."""
    _, original = test_pair()
    candidates, names = _turned_flips(original)
    flips = list(_flips(original).values())
    mirrored = turned = brighter = noisy = False
    for seed in PRESENCE_SEEDS:
        img, msk = _call(task, augment, seed)
        agreement = (candidates == msk).double().mean(dim=(1, 2))
        best = int(agreement.argmax())
        mirrored |= names[best] == "horizontal" and float(agreement[best]) >= 0.95
        if not mirrored:  # a flip with other transforms that always apply (crop, scale, shift) is no plain mirror
            mirrored = mirrors_left_right(linear_map(task, augment, seed))
        turned |= not any(torch.equal(msk, f) for f in flips)
        brightness, spread = _brightness_and_noise(img)
        brighter |= abs(brightness - 1) > 0.02
        noisy |= spread > 0.003
        if mirrored and turned and brighter and noisy:
            return
    calls = f"in {len(PRESENCE_SEEDS)} calls with different seeds"
    if not mirrored:
        raise CheckFailed(
            task,
            f"no output was a left-right mirror image of the input {calls}: the task asks for a random horizontal "
            "flip (e.g. v2.RandomHorizontalFlip()).",
        )
    if not turned:
        raise CheckFailed(
            task,
            f"every output mask was the input or a flip of it {calls}: the task asks for a random rotation "
            "(e.g. v2.RandomRotation(degrees=20), which fills the corners with 0, the background).",
        )
    if not brighter:
        raise CheckFailed(
            task,
            f"the image's brightness never changed {calls}: the task asks for a brightness change of the image "
            "(e.g. v2.ColorJitter(brightness=0.2)).",
        )
    raise CheckFailed(
        task,
        f"no pixel noise was added to the image {calls}: the task asks for Gaussian noise on the image "
        "(e.g. v2.GaussianNoise(sigma=0.02)).",
    )


MASK_LEFT = (
    "the mask came back as it went in while the image was flipped or turned: the geometric transforms must move the "
    "mask too (transforms v2 passes a plain tensor that follows the image through untouched: wrap the mask as "
    "tv_tensors.Mask)"
)
IMAGE_LEFT = (
    "the image kept its geometry while the mask was flipped or turned: apply the geometric transforms to the image "
    "too, with the same random parameters"
)


def _misaligned(task: str, augment: Callable, seeds: Iterable[int], agree: float, seed: int) -> str:
    """The message for an image and a mask that no longer line up (``agree``, at ``seed``), naming the one the
    geometric transforms never moved when that holds for every seed of the check."""
    text = (
        f"image and mask no longer line up (only {agree:.0%} of pixels agree, seed {seed}): they were transformed "
        "with different random parameters. Pass both to the same transform call, e.g. "
        "transforms(tv_tensors.Image(image), tv_tensors.Mask(mask))."
    )
    _, original = test_pair()
    try:
        outputs = [_call(task, augment, s) for s in seeds]
    except CheckFailed:  # another seed fails otherwise: the misalignment is what this message is about
        return text
    if all(torch.equal(msk, original) for _, msk in outputs):
        return f"{text}\nLikely mistake: {MASK_LEFT}."
    if all((alignment(img, original) or 0.0) >= 0.9 for img, _ in outputs):
        return f"{text}\nLikely mistake: {IMAGE_LEFT}."
    return text


def check_augmentation(augment: Callable, hidden: bool = False) -> None:
    """Aligned image and mask, valid class values, random yet reproducible from ``torch.manual_seed``."""
    task = "augment"
    seeds = grader_only("unet").AUGMENT_SEEDS if hidden else range(12)
    _, original = test_pair()
    outputs = []
    for seed in seeds:
        img, msk = _call(task, augment, seed)
        invalid = sorted(set(msk.unique().tolist()) - set(CLASSES))
        if invalid:
            raise CheckFailed(
                task,
                f"the mask has invalid class values {invalid} that the input mask did not have: it was interpolated "
                "(bilinear) or converted to float. Masks need nearest-neighbour interpolation: wrap it as "
                "tv_tensors.Mask and transform image and mask in one call.",
            )
        agree = alignment(img, msk)
        if agree is not None and not agree >= 0.9:
            raise CheckFailed(task, _misaligned(task, augment, seeds, agree, seed))
        outputs.append((img, msk))
        torch.manual_seed(seed)
        again = _call(task, augment, seed)
        if not (torch.equal(again[0], img) and torch.equal(again[1], msk)):
            raise CheckFailed(
                task,
                "the same torch.manual_seed gave different results: draw random numbers from torch (as "
                "transforms.v2 does), not from Python's random or NumPy, so augmentation is reproducible.",
            )
    if all(torch.equal(m, original) for _, m in outputs):
        raise CheckFailed(
            task, "the mask never changed: the augmentation must include geometric transforms (flip, rotate)"
        )
    if all(torch.equal(i, outputs[0][0]) for i, _ in outputs[1:]):
        raise CheckFailed(task, "every call returned the same image: the augmentation is not random")
    _check_required_transforms(task, augment)
