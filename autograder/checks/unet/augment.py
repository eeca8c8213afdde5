"""Check of Assignment 2's joint image+mask augmentation.

The test image paints each class of a mask in its own colour *direction* (brightness changes the length of a
colour vector, not its direction), so after any geometric transform the class can be read back from the image
and compared with the transformed mask: if image and mask got different random parameters, or the mask was
interpolated, they disagree. The mask holds the classes {0, 1, 4} only, so bilinear interpolation shows up as
the invalid values 2 and 3.

What the task asks for is checked by its effect over 64 seeded calls, whatever library or style draws it: some
output is the left-right mirror image of the input, turned by at most 45° (a horizontal flip; a vertical flip
and a turn cannot make it); some output is neither the input nor a flip of it (a rotation); the image's
brightness changes (the median length of its colour vectors) and so does each pixel on its own (noise: the
spread of those lengths within an image).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

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


def _call(task: str, augment: Callable, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    image, mask = test_pair()
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


def _brightness_and_noise(image: torch.Tensor) -> tuple[float, float]:
    """The median length of the bright pixels' colour vectors relative to the test image's 0.6, and their spread
    (median absolute deviation) relative to it."""
    norm = image.double().norm(dim=0)
    lengths = norm[norm > 0.25]
    if lengths.numel() == 0:
        return 0.0, 0.0
    median = lengths.median()
    return float(median / 0.6), float((lengths - median).abs().median() / 0.6)


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
        decoded, bright = decode(img)
        if bright.sum() > 0.2 * bright.numel():
            agree = float((decoded[bright] == msk[bright]).double().mean())
            if not agree >= 0.9:
                raise CheckFailed(
                    task,
                    f"image and mask no longer line up (only {agree:.0%} of pixels agree, seed {seed}): they were "
                    "transformed with different random parameters. Pass both to the same transform call, "
                    "e.g. transforms(tv_tensors.Image(image), tv_tensors.Mask(mask)).",
                )
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
