"""Checks of Assignment 3's hand-written joint augmentations of an image and its segmentation mask.

Every function takes and returns ``(image, mask)``: a float image ``[C, H, W]`` in [0, 1] and an int64 mask
``[H, W]`` of class indices. The geometric ones are compared with ``torchvision.transforms.v2.functional``
(bilinear for the image, nearest for the mask, zeros outside); the masks used here hold the classes
{0, 5, 9}, so that interpolating a mask bilinearly creates values that are no class at all, and the message
can say so. ``random_augment(image, mask, seed)`` is checked for what makes it usable: the same seed gives
the same result, different seeds different ones, the mask keeps only valid classes, and the mask stays
aligned with the image — on an image painted from its own mask, the class read back from the augmented
image's colours must agree with the augmented mask.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from .common import CheckFailed, call_student

CLASSES = (0, 5, 9)
BILINEAR_MASK = (
    "bilinear interpolation on the mask creates invalid class values (a pixel between classes 0 and 9 becomes "
    "4.5); interpolate masks with mode='nearest'"
)
#: Mean fraction of pixels (over the seeds checked) whose class, read back from the painted image, must agree
#: with the augmented mask. Measured over 400 seeds in blocks of 8: aligned, the instructor's augmentation
#: agrees on 0.87-0.93 of the pixels (interpolation blurs the edges); image and mask drawn separately, 0.31-0.44.
MIN_AGREEMENT = 0.75
#: Least agreement of any single seed: the instructor's solution gives 0.84-0.95 on each of 88 seeds (the visible 8,
#: the hidden 16 and 64 more), so a seed under 0.70 has its image and mask moved differently.
MIN_AGREEMENT_PER_SEED = 0.70


def sample(seed: int, channels: int = 3, height: int = 24, width: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """A random image and a blocky mask of the classes {0, 5, 9} (blocks, so nearest resampling has edges to move)."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(channels, height, width, generator=g)
    blocks = torch.randint(0, len(CLASSES), (height // 4 + 1, width // 4 + 1), generator=g)
    mask = torch.tensor(CLASSES)[blocks.repeat_interleave(4, 0).repeat_interleave(4, 1)[:height, :width]]
    return image, mask


def painted(mask: torch.Tensor) -> torch.Tensor:
    """An image whose channel c is 1 where the mask holds ``CLASSES[c]``."""
    return torch.stack([(mask == c).float() for c in CLASSES])


def read_back(image: torch.Tensor) -> torch.Tensor:
    """The class each pixel of a painted image shows (the brightest channel)."""
    return torch.tensor(CLASSES)[image.argmax(0)]


def _pair(task: str, result: object, case: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(t, torch.Tensor) for t in result)):
        raise CheckFailed(task, f"must return a pair (image, mask) of tensors for {case}, got {type(result).__name__}")
    return result


def _apply(task: str, fn: Callable, image: torch.Tensor, mask: torch.Tensor, *args: object, case: str):
    """Call ``fn(image, mask, *args)`` on copies; refuse a function that changes its inputs in place."""
    image_in, mask_in = image.clone(), mask.clone()
    result = _pair(task, call_student(task, fn, image_in, mask_in, *args), case)
    if not (torch.equal(image_in, image) and torch.equal(mask_in, mask)):
        raise CheckFailed(
            task,
            f"the input image or mask was changed in place for {case}; return new tensors "
            "(for example start from image.clone())",
        )
    return result


def _check_mask(task: str, mask: torch.Tensor, expected: torch.Tensor, case: str, allowed: set[int]) -> None:
    if mask.dtype != torch.int64:
        raise CheckFailed(
            task,
            f"the mask has dtype {mask.dtype} for {case}; it must stay int64 class indices.\n"
            + (f"Likely mistake: {BILINEAR_MASK}" if mask.is_floating_point() else ""),
        )
    if tuple(mask.shape) != tuple(expected.shape):
        raise CheckFailed(task, f"the mask has shape {tuple(mask.shape)}, expected {tuple(expected.shape)} for {case}")
    invalid = sorted(set(mask.unique().tolist()) - allowed)
    if invalid:
        raise CheckFailed(
            task, f"the mask holds values {invalid[:5]} that are no class, for {case}.\nLikely mistake: {BILINEAR_MASK}"
        )
    wrong = float((mask != expected).float().mean())
    if not wrong <= 0.005:  # written so that NaN fails too
        raise CheckFailed(task, f"{wrong:.1%} of the mask's pixels differ from torchvision's for {case}")


def _check_image(task: str, image: torch.Tensor, expected: torch.Tensor, case: str, hint: str = "") -> None:
    if tuple(image.shape) != tuple(expected.shape):
        raise CheckFailed(
            task, f"the image has shape {tuple(image.shape)}, expected {tuple(expected.shape)} for {case}"
        )
    err = float((image.float() - expected).abs().max())
    if not err <= 1e-4:  # NaN or infinity in the image fails too
        raise CheckFailed(
            task,
            f"the image differs from torchvision's by up to {err:.3g} for {case}"
            + (f".\nLikely mistake: {hint}" if hint else ""),
        )


GEOMETRIC_VISIBLE = {"angles": (20.0, -35.0), "crops": ((2, 3, 12, 10, 24), (0, 0, 24, 20, 30))}
GEOMETRIC_HIDDEN = {"angles": (90.0, 7.5, -150.0), "crops": ((5, 1, 7, 9, 16), (10, 4, 14, 16, 28))}


def check_geometric(hflip: Callable, rotate: Callable, resized_crop: Callable, hidden: bool = False) -> None:
    """``hflip``, ``rotate(image, mask, angle)`` and ``resized_crop(image, mask, top, left, height, width, size)``."""
    settings = GEOMETRIC_HIDDEN if hidden else GEOMETRIC_VISIBLE
    image, mask = sample(11 if hidden else 10)
    allowed = set(CLASSES)

    task, case = "hflip", "an image (3, 24, 20)"
    got_image, got_mask = _apply(task, hflip, image, mask, case=case)
    _check_image(task, got_image, image.flip(-1), case, "a horizontal flip reverses the last axis (width)")
    _check_mask(task, got_mask, mask.flip(-1), case, allowed)

    task = "rotate"
    for angle in settings["angles"]:
        case = f"angle={angle}"
        got_image, got_mask = _apply(task, rotate, image, mask, angle, case=case)
        expected_image = TF.rotate(image, angle, interpolation=TF.InterpolationMode.BILINEAR)
        expected_mask = TF.rotate(tv_tensors.Mask(mask), angle).as_subclass(torch.Tensor)
        mirrored = TF.rotate(tv_tensors.Mask(mask), -angle).as_subclass(torch.Tensor)
        if got_mask.shape == mirrored.shape and float((got_mask != mirrored).float().mean()) <= 0.005:
            raise CheckFailed(
                task,
                f"wrong result for {case}.\nLikely mistake: rotated the wrong way: a positive "
                "angle turns the image counter-clockwise",
            )
        _check_mask(task, got_mask, expected_mask, case, allowed)
        _check_image(task, got_image, expected_image, case)

    task = "resized_crop"
    for top, left, height, width, size in settings["crops"]:
        case = f"top={top}, left={left}, height={height}, width={width}, size={size}"
        got_image, got_mask = _apply(task, resized_crop, image, mask, top, left, height, width, size, case=case)
        expected_image = TF.resized_crop(image, top, left, height, width, [size, size])
        expected_mask = TF.resized_crop(tv_tensors.Mask(mask), top, left, height, width, [size, size])
        _check_mask(task, got_mask, expected_mask.as_subclass(torch.Tensor), case, allowed)
        _check_image(task, got_image, expected_image, case, "bilinear interpolation with align_corners=False")


def check_photometric(cutout: Callable, adjust_brightness: Callable, add_noise: Callable) -> None:
    """``cutout(image, mask, top, left, size)``, ``adjust_brightness(image, mask, factor)``,
    ``add_noise(image, mask, std, generator)``: the image changes, the mask does not."""
    image, mask = sample(12)

    task = "cutout"
    for top, left, size in ((3, 4, 6), (20, 15, 8), (-2, -3, 5), (-4, 17, 6)):  # squares partly outside, too
        case = f"top={top}, left={left}, size={size} on an image (3, 24, 20)"
        got_image, got_mask = _apply(task, cutout, image, mask, top, left, size, case=case)
        expected = image.clone()
        expected[:, max(top, 0) : max(top + size, 0), max(left, 0) : max(left + size, 0)] = 0
        _check_image(
            task,
            got_image,
            expected,
            case,
            "the square of side size from (top, left) is set to 0, clipped at the border; a negative top or "
            "left must be clipped to 0 first (a negative index counts from the other end of the image)",
        )
        if not torch.equal(got_mask, mask):
            raise CheckFailed(task, f"the mask changed for {case}: cut-out hides pixels of the image only")

    task = "adjust_brightness"
    for factor in (0.5, 1.7):
        case = f"factor={factor}"
        got_image, got_mask = _apply(task, adjust_brightness, image, mask, factor, case=case)
        _check_image(
            task, got_image, TF.adjust_brightness(image, factor), case, "multiply by the factor, then clamp to [0, 1]"
        )
        if not torch.equal(got_mask, mask):
            raise CheckFailed(task, f"the mask changed for {case}")

    task = "add_noise"
    case = "std=0.1"
    got_image, got_mask = _apply(task, add_noise, image, mask, 0.1, torch.Generator().manual_seed(3), case=case)
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(3)) * 0.1
    _check_image(
        task,
        got_image,
        (image + noise).clamp(0, 1),
        case,
        "draw torch.randn(image.shape, generator=generator) * std, add it, clamp to [0, 1]",
    )
    if not torch.equal(got_mask, mask):
        raise CheckFailed(task, f"the mask changed for {case}")


def agreement(image: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of the painted image's clearly coloured pixels whose class read back equals the mask's.

    Pixels whose brightest channel is below 0.4 are left out: cut-out and the zeros rotated in show no class.
    """
    coloured = image.max(0).values >= 0.4
    if not bool(coloured.any()):
        return 0.0
    return float((read_back(image) == mask)[coloured].float().mean())


def check_random_augment(random_augment: Callable, hidden: bool = False) -> None:
    """``random_augment(image, mask, seed)``: one random draw of every augmentation, shared by image and mask."""
    task = "random_augment"
    seeds = range(100, 116) if hidden else range(8)
    shares = []
    for seed in seeds:
        _, mask = sample(seed, height=32, width=32)
        image = painted(mask)
        case = f"seed={seed}"
        got_image, got_mask = _pair(task, call_student(task, random_augment, image, mask, seed), case)
        again_image, again_mask = _pair(task, call_student(task, random_augment, image, mask, seed), case)
        if not (torch.equal(got_image, again_image) and torch.equal(got_mask, again_mask)):
            raise CheckFailed(
                task,
                f"two calls with {case} gave different results: draw every random number from "
                "a torch.Generator seeded with seed",
            )
        if tuple(got_image.shape) != tuple(image.shape):
            raise CheckFailed(task, f"the image has shape {tuple(got_image.shape)}, expected {tuple(image.shape)}")
        _check_mask(task, got_mask, got_mask, case, set(CLASSES))
        if tuple(got_mask.shape) != tuple(mask.shape):
            raise CheckFailed(task, f"the mask has shape {tuple(got_mask.shape)}, expected {tuple(mask.shape)}")
        shares.append(agreement(got_image, got_mask))
    share = sum(shares) / len(shares)
    worst = min(range(len(shares)), key=lambda k: shares[k])
    if not share >= MIN_AGREEMENT:
        where = f"only {share:.0%} of the pixels (mean over {len(shares)} seeds)"
    elif not shares[worst] >= MIN_AGREEMENT_PER_SEED:
        where = f"for seed={seeds[worst]} only {shares[worst]:.0%} of the pixels"
    else:
        where = ""
    if where:
        raise CheckFailed(
            task,
            f"the mask is not aligned with the image: on images painted from their masks, {where} show the class "
            "the augmented mask gives them; aligned, about 90% do (interpolation blurs the edges).\nLikely mistake: "
            "the image and the mask got different random parameters (or a transform was applied to one of them "
            "only); draw each parameter once and apply it to both",
        )
    _, mask = sample(seeds[0], height=32, width=32)
    image = painted(mask)
    first = _pair(task, call_student(task, random_augment, image, mask, seeds[0]), f"seed={seeds[0]}")
    second = _pair(task, call_student(task, random_augment, image, mask, seeds[0] + 1), f"seed={seeds[0] + 1}")
    if torch.equal(first[0], second[0]) and torch.equal(first[1], second[1]):
        raise CheckFailed(
            task,
            f"seeds {seeds[0]} and {seeds[0] + 1} gave the same result: the augmentation is not "
            "random (draw its parameters from the generator)",
        )
