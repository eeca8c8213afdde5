"""Check of Assignment 2's joint image+mask augmentation.

The test image paints each class of a mask in its own colour *direction* (brightness changes the length of a
colour vector, not its direction), so after any geometric transform the class can be read back from the image
and compared with the transformed mask: if image and mask got different random parameters, or the mask was
interpolated, they disagree. The mask holds the classes {0, 1, 4} only, so bilinear interpolation shows up as
the invalid values 2 and 3.
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
