"""Checks of Assignment 3's hand-written joint augmentations of an image and its segmentation mask.

Every function takes and returns ``(image, mask)``: a float image ``[C, H, W]`` in [0, 1] and an int64 mask
``[H, W]`` of class indices. The geometric ones are compared with ``torchvision.transforms.v2.functional``
(bilinear for the image, nearest for the mask, zeros outside; the crop's mask may be resized with ``F.interpolate``'s
``"nearest"`` or ``"nearest-exact"``, both nearest-neighbour resampling); the masks used here hold the classes
{0, 5, 9}, so that interpolating a mask bilinearly creates values that are no class at all, and the message
can say so. ``random_augment(image, mask, seed)`` is checked for what makes it usable: the same seed gives
the same result, different seeds different ones, the mask keeps only valid classes, and the mask stays
aligned with the image — on an image painted from its own mask, the class read back from the augmented
image's colours must agree with the augmented mask —, and torch's global random state is left alone. When it calls the
notebook's transforms, their arguments are read by parameter name, however the call passes them.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator

import torch
from torch.overrides import TorchFunctionMode
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from ..common import CheckFailed, call_student, case_of, grader_only

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


NOT_MOVED = (
    "the mask is returned as it was: a geometric transform moves the mask with the image (the same parameters, "
    "nearest interpolation)"
)
NEAREST_IMAGE = (
    "the image was resampled with nearest interpolation; only the mask is (its values are classes), the image is "
    "interpolated bilinearly (mode='bilinear'; torchvision's functions use nearest for a plain tensor unless told)"
)


def _check_mask(
    task: str,
    mask: torch.Tensor,
    expected: torch.Tensor,
    case: str,
    allowed: set[int],
    original: torch.Tensor | None = None,
) -> None:
    """The mask: int64, of the expected shape, valid classes only, and the expected one but for 0.5% of its pixels;
    ``original``: the mask the transform was given, so that one returned unmoved is named."""
    if original is not None and mask.shape == original.shape and torch.equal(mask, original):
        if not torch.equal(expected, original):
            raise CheckFailed(task, f"wrong mask for {case}.\nLikely mistake: {NOT_MOVED}")
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


def check_geometric(hflip: Callable, rotate: Callable, resized_crop: Callable, hidden: bool = False) -> None:
    """``hflip``, ``rotate(image, mask, angle)`` and ``resized_crop(image, mask, top, left, height, width, size)``."""
    settings = grader_only("architectures").GEOMETRIC if hidden else GEOMETRIC_VISIBLE
    image, mask = sample(grader_only("architectures").GEOMETRIC_SAMPLE_SEED if hidden else 10)
    allowed = set(CLASSES)

    task, case = "hflip", "an image (3, 24, 20)"
    got_image, got_mask = _apply(task, hflip, image, mask, case=case)
    _check_image(task, got_image, image.flip(-1), case, "a horizontal flip reverses the last axis (width)")
    _check_mask(task, got_mask, mask.flip(-1), case, allowed, mask)

    task = "rotate"
    cases = list(settings["angles"])
    for index, angle in enumerate(cases):
        with case_of(index, len(cases)):
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
            _check_mask(task, got_mask, expected_mask, case, allowed, mask)
            nearest = TF.rotate(image, angle, interpolation=TF.InterpolationMode.NEAREST)
            _check_image(task, got_image, expected_image, case, _nearest_hint(got_image, nearest))

    task = "resized_crop"
    cases = list(settings["crops"])
    for index, (top, left, height, width, size) in enumerate(cases):
        with case_of(index, len(cases)):
            case = f"top={top}, left={left}, height={height}, width={width}, size={size}"
            got_image, got_mask = _apply(task, resized_crop, image, mask, top, left, height, width, size, case=case)
            expected_image = TF.resized_crop(image, top, left, height, width, [size, size])
            expected_mask = _crop_mask_like(got_mask, mask, (top, left, height, width, size))
            _check_mask(task, got_mask, expected_mask, case, allowed, mask)
            nearest = TF.resized_crop(
                image, top, left, height, width, [size, size], interpolation=TF.InterpolationMode.NEAREST
            )
            _check_image(
                task,
                got_image,
                expected_image,
                case,
                _nearest_hint(got_image, nearest) or "bilinear interpolation with align_corners=False",
            )


def _nearest_hint(image: torch.Tensor, nearest: torch.Tensor) -> str:
    """``NEAREST_IMAGE`` when the image equals the one resampled with nearest interpolation; else ""."""
    if image.shape == nearest.shape and float((image.float() - nearest).abs().max()) <= 1e-4:
        return NEAREST_IMAGE
    return ""


def _crop_mask_like(got: torch.Tensor, mask: torch.Tensor, crop: tuple[int, int, int, int, int]) -> torch.Tensor:
    """torchvision's crop-and-resize of the mask with nearest interpolation: ``F.interpolate``'s ``mode="nearest"``,
    or its ``"nearest-exact"`` when the student's mask is that one (both resample the mask by nearest neighbours,
    keeping its classes; they pick different source pixels where the scale is not a whole number)."""
    top, left, height, width, size = crop
    window = TF.crop(tv_tensors.Mask(mask), top, left, height, width)
    candidates = [
        TF.resized_crop(tv_tensors.Mask(mask), top, left, height, width, [size, size]),
        TF.resize(window, [size, size], interpolation=TF.InterpolationMode.NEAREST_EXACT),
    ]
    candidates = [c.as_subclass(torch.Tensor) for c in candidates]
    for candidate in candidates:
        if got.shape == candidate.shape and float((got != candidate).float().mean()) <= 0.005:
            return candidate
    return candidates[0]


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
    seeds = grader_only("architectures").RANDOM_AUGMENT_SEEDS if hidden else range(8)
    shares = []
    cases = list(seeds)
    for index, seed in enumerate(cases):
        with case_of(index, len(cases)):
            _, mask = sample(seed, height=32, width=32)
            image = painted(mask)
            case = f"seed={seed}"
            state = torch.random.get_rng_state()
            got_image, got_mask = _pair(task, call_student(task, random_augment, image, mask, seed), case)
            changed = not torch.equal(torch.random.get_rng_state(), state)
            again_image, again_mask = _pair(task, call_student(task, random_augment, image, mask, seed), case)
            if not (torch.equal(got_image, again_image) and torch.equal(got_mask, again_mask)):
                raise CheckFailed(
                    task,
                    f"two calls with {case} gave different results: draw every random number from "
                    "a torch.Generator seeded with seed",
                )
            if changed:
                raise CheckFailed(
                    task,
                    f"the call with {case} changed torch's global random state.\nLikely mistake: "
                    "torch.manual_seed(seed) and draws from the global random state (or a draw without "
                    "generator=...); make g = torch.Generator().manual_seed(seed) and draw every parameter from g: "
                    "reseeding the global state in an augmentation makes every later random draw of the program "
                    "depend on the last image augmented",
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
    parameter_seeds = grader_only("architectures").RANDOM_AUGMENT_PARAMETER_SEEDS if hidden else range(1000, 1024)
    _check_parameters(task, random_augment, parameter_seeds)
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


#: The transforms random_augment applies, in order, and the arguments (after image and mask) each is called with.
TRANSFORMS = ("hflip", "rotate", "resized_crop", "cutout", "adjust_brightness", "add_noise")


@contextlib.contextmanager
def _recording(random_augment: Callable) -> Iterator[list[tuple[str, tuple]]]:
    """Record the calls ``random_augment`` makes to the notebook's own transforms (found in its globals)."""
    calls: list[tuple[str, tuple]] = []
    namespace = getattr(random_augment, "__globals__", {})
    originals = {name: namespace[name] for name in TRANSFORMS if callable(namespace.get(name))}

    def recorder(name: str, fn: Callable) -> Callable:
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None

        def wrapped(*args, **kwargs):
            calls.append((name, _parameters(signature, args, kwargs)))
            return fn(*args, **kwargs)

        return wrapped

    try:
        namespace.update({name: recorder(name, fn) for name, fn in originals.items()})
        yield calls
    finally:
        namespace.update(originals)


def _parameters(signature: inspect.Signature | None, args: tuple, kwargs: dict) -> tuple:
    """The arguments of one call of a transform after its image and mask, in the order of the transform's own
    parameters, however the call passed them (by position or by name, in any order, or left to their defaults)."""
    if signature is not None:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            pass
        else:
            bound.apply_defaults()
            return tuple(bound.arguments.values())[2:]
    return args[2:] + tuple(kwargs.values())


def _number(value: object) -> float | None:
    """A Python number or a one-element tensor as a float; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        return float(value.detach())
    return None


class _InlineTransforms(TorchFunctionMode):
    """What one call of random_augment does with torch itself, read where it writes one of the transforms inline
    instead of calling the notebook's function: whether it flips along the width, the numbers it multiplies the
    image by (a brightness factor), the scale of the Gaussian noise it draws from a generator, the squares of the
    image it sets to 0 (a cut-out, by slicing or by a 0/1 mask), and the names of the torch functions it calls
    (``grid_sample`` for a rotation, ``interpolate`` for a crop-and-resize). Reading never changes what the code
    computes, and a value it cannot read is left out."""

    def __init__(self, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.image_shape = image_shape
        self.flipped = False
        self.factors: list[float] = []
        self.stds: list[float] = []
        self.cuts: list[tuple[int, int, int]] = []
        self.names: set[str] = set()
        self._noise: list[torch.Tensor] = []  # drawn noise, kept alive so that identities stay unique

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        self.names.add(name)
        try:
            self._read(name, args, kwargs, out)
        except Exception:  # noqa: BLE001 - reading is best effort and must never break the student's call
            pass
        return out

    def _image_like(self, value: object) -> bool:
        return isinstance(value, torch.Tensor) and value.dim() >= 3 and tuple(value.shape[-3:]) == self.image_shape

    def _read(self, name: str, args: tuple, kwargs: dict, out: object) -> None:
        if name == "flip" and args and isinstance(args[0], torch.Tensor):
            dims = args[1] if len(args) > 1 else kwargs.get("dims", ())
            dims = [dims] if isinstance(dims, int) else list(dims)
            self.flipped |= any(d in (-1, args[0].dim() - 1) for d in dims)
        elif name in ("randn", "normal", "normal_") and kwargs.get("generator") is not None and self._image_like(out):
            self._noise.append(out)
            std = args[2] if name == "normal_" and len(args) > 2 else kwargs.get("std")
            if name == "normal" and len(args) > 1:
                std = args[1]
            if _number(std) is not None:
                self.stds.append(_number(std))
        elif name in ("mul", "mul_", "multiply", "__mul__", "__rmul__", "__imul__") and len(args) == 2:
            for tensor, other in (args, args[::-1]):
                if self._image_like(tensor):
                    self._read_product(tensor, other)
                    break
        elif name == "__setitem__" and len(args) == 3 and self._image_like(args[0]) and _number(args[2]) == 0:
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            if len(index) >= 2 and all(isinstance(i, slice) and i.step in (None, 1) for i in index[-2:]):
                (top, bottom, _), (left, right, _) = (i.indices(n) for i, n in zip(index[-2:], self.image_shape[1:]))
                if bottom - top == right - left > 0:
                    self.cuts.append((top, left, bottom - top))

    def _read_product(self, tensor: torch.Tensor, other: object) -> None:
        factor = _number(other)
        if factor is not None:
            noise = any(tensor is n for n in self._noise)
            (self.stds if noise else self.factors).append(factor)
            return
        if not isinstance(other, torch.Tensor) or tuple(other.shape[-2:]) != self.image_shape[1:]:
            return
        keep = other.detach().reshape(-1, *self.image_shape[1:])[0]
        holes = keep == 0
        if not bool(((keep == 0) | (keep == 1)).all()) or not bool(holes.any()):
            return
        rows, cols = holes.any(1).nonzero().flatten(), holes.any(0).nonzero().flatten()
        top, left = int(rows[0]), int(cols[0])
        side = int(rows[-1]) - top + 1
        if side == int(cols[-1]) - left + 1 and int(holes.sum()) == side * side:
            self.cuts.append((top, left, side))


def _inline_readings(seen: dict[str, list[tuple]], inline: list[_InlineTransforms]) -> set[str]:
    """Fill in, from what the torch calls show, the transforms random_augment never called through the notebook's
    functions (written inline); return those of them whose presence alone can be checked (rotation, crop)."""
    presence_only = set()
    if not seen["hflip"]:
        seen["hflip"] = [() for ops in inline if ops.flipped]
    if not seen["cutout"]:
        seen["cutout"] = [ops.cuts[0] for ops in inline if ops.cuts]
    if not seen["adjust_brightness"]:
        seen["adjust_brightness"] = [(min(ops.factors, key=lambda f: abs(f - 1)),) for ops in inline if ops.factors]
    if not seen["add_noise"]:
        seen["add_noise"] = [(ops.stds[0],) for ops in inline if ops.stds]
    for name, function in (("rotate", "grid_sample"), ("resized_crop", "interpolate")):
        if not seen[name] and all(function in ops.names for ops in inline):
            presence_only.add(name)
    return presence_only


def _check_parameters(task: str, random_augment: Callable, seeds: range) -> None:
    """When random_augment applies the notebook's own transforms (the usual way), their parameters must follow
    the task: one call each per seed, in the order flip (sometimes), rotation in [-30, 30] degrees, a square-ish
    crop of 0.6-1 of each side inside the image resized to the height, a cut-out of side 1 to H/4, brightness in
    [0.8, 1.2], noise of std 0.03. A transform it never calls but writes inline is read from its torch calls
    (``_InlineTransforms``; a rotation or a crop only for its presence). Written without any of those functions,
    it is judged by its outputs alone."""
    seen: dict[str, list[tuple]] = {name: [] for name in TRANSFORMS}
    inline: list[_InlineTransforms] = []
    h = w = 32
    for seed in seeds:
        _, mask = sample(seed, height=h, width=w)
        with _recording(random_augment) as calls, _InlineTransforms((len(CLASSES), h, w)) as ops:
            call_student(task, random_augment, painted(mask), mask, seed)
        if not calls:
            return
        inline.append(ops)
        order = [name for name, _ in calls]
        expected = [name for name in TRANSFORMS if name in order]
        if order != expected or any(order.count(name) > 1 for name in order):
            raise CheckFailed(
                task,
                f"for seed={seed} the transforms ran in the order {order}; apply each at most once, in the order "
                "flip, rotation, crop-and-resize, cut-out, brightness, noise",
            )
        for name, args in calls:
            seen[name].append(args)
    presence_only = _inline_readings(seen, inline)
    problems = []
    flips = len(seen["hflip"])
    if not 0 < flips < len(seeds):
        problems.append(f"the flip ran for {flips} of {len(seeds)} seeds: flip with probability 0.5")
    angles = [float(a[0]) for a in seen["rotate"]]
    if "rotate" in presence_only:
        pass
    elif not angles:
        problems.append("no rotation found: rotate by an angle drawn uniformly from [-30, 30] every time (rotate)")
    elif len(angles) != len(seeds) or not all(-30 <= a <= 30 for a in angles) or max(angles) - min(angles) < 20:
        problems.append(f"rotation angles {[round(a, 1) for a in angles][:6]}...: draw each uniformly from [-30, 30]")
    for top, left, height, width, size in (tuple(int(v) for v in a[:5]) for a in seen["resized_crop"]):
        if not (0.6 * h - 1 <= height <= h and 0.6 * w - 1 <= width <= w and 0 <= top <= h - height
                and 0 <= left <= w - width and size == h and abs(height - width) <= 1):  # fmt: skip
            problems.append(
                f"a crop (top={top}, left={left}, height={height}, width={width}, size={size}): a square-ish window "
                "of 0.6 to 1 of each side, inside the image, resized to the image's height"
            )
            break
    if len(seen["resized_crop"]) != len(seeds) and "resized_crop" not in presence_only:
        problems.append("the crop-and-resize must run for every seed")
    sides = [int(a[2]) for a in seen["cutout"]]
    if not sides:
        problems.append("no cut-out found: set a square of random side between 1 and H/4 to 0 every time (cutout)")
    elif len(sides) != len(seeds) or not all(1 <= k <= h // 4 for k in sides) or len(set(sides)) < 2:
        problems.append(f"cut-out sides {sides[:6]}...: a random side between 1 and H/4")
    for top, left, k in (tuple(int(v) for v in a[:3]) for a in seen["cutout"]):
        if not (0 <= top <= h - k and 0 <= left <= w - k):
            problems.append(f"a cut-out at (top={top}, left={left}) of side {k} leaves the image: draw it inside")
            break
    factors = [float(a[0]) for a in seen["adjust_brightness"]]
    if not factors:
        problems.append(
            "no brightness change found: multiply by a factor drawn from [0.8, 1.2] every time (adjust_brightness)"
        )
    elif len(factors) != len(seeds) or not all(0.8 <= f <= 1.2 for f in factors) or max(factors) - min(factors) < 0.1:
        problems.append(f"brightness factors {[round(f, 2) for f in factors][:6]}...: draw each from [0.8, 1.2]")
    stds = [float(a[0]) for a in seen["add_noise"]]
    if not stds:
        problems.append("no noise found: add Gaussian noise with std=0.03 drawn from the generator (add_noise)")
    elif len(stds) != len(seeds) or not all(abs(s - 0.03) < 1e-9 for s in stds):
        problems.append(f"noise std {sorted(set(stds))[:3]}: Gaussian noise with std=0.03, every time")
    if problems:
        raise CheckFailed(task, "the random parameters do not follow the task:\n- " + "\n- ".join(problems))
