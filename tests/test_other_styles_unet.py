"""Assignment 2 (U-Net) written in the styles of well-known public code and of common student habits.

Correct code keeps every visible and hidden point; each typical mistake below loses its points, and its message
names it. Covered here, for the parts that need no long training:

- metrics: torchvision's ``ConfusionMatrix`` (``torch.bincount(n * target + pred)``), per-class boolean loops, sums
  of ``F.one_hot``, NumPy's ``bincount`` and ``histogram2d``, int32 and uint8 casts, a mask of present classes
  instead of ``nanmean``; NumPy scalars (``float32`` too) and one-element arrays as results;
- losses: segmentation_models_pytorch's and MONAI's soft Dice (``scatter_``, reductions in other orders), float32
  arithmetic, a one-element result; cross-entropy as ``log_softmax`` + ``nll_loss``, ``gather`` or a one-hot sum;
- joint augmentation: transforms v2 with colour jitter (hue, saturation, contrast), grayscale, a permutation of the
  channels, random crops and affine maps always applied, elastic warps; v1's functional API; flips and ``rot90`` by
  hand with one draw for image and mask; the mask stacked as a fourth channel; a dict of tv_tensors;
- the network: ``padding="same"``, a pooling module, centred padding and cropping, functional or
  ``UpsamplingBilinear2d`` up-sampling, ``torch.concat`` on ``dim=-3``, ``ceil_mode`` pooling resized to the skip;
- ``evaluate`` and ``train``: ``inference_mode``, ``DataLoader`` or slicing, predictions kept on the device,
  a confusion matrix summed over batches, batches moved with ``.to(parameter)``; seeded generators, index
  permutations, augmentation inside a ``Dataset``, ``AdamW`` with clipping, channels-last and fused Adam.

Mistakes named: NaN for a class missing from the target only, absent classes counted as 1 (smoothing) or 0, a mean
that is NaN, per-image (or per-batch) averaging; a soft Dice without the background, with squared terms, with a
reshaped or transposed one-hot target, masking classes absent from the target, without its smoothing or with it in
the denominator only; ``dice_weight`` on the wrong term, the cross-entropy left out, float targets; an augmentation
that moves only the image or only the mask, draws its flip twice, adds noise but no brightness change, or flips
vertically under an affine map.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from autograder.checks import unet as checks
from tests.support.failing import fails

# ------------------------------------------------------------------------------------------------------ metrics


def _kept(pred, target, ignore_index):
    pred, target = pred.reshape(-1), target.reshape(-1)
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    return pred, target


def _confusion(pred, target, n):
    """torchvision's references/segmentation ConfusionMatrix.update: targets outside [0, n) (ignored) drop out."""
    a, b = target.flatten(), pred.flatten()
    k = (a >= 0) & (a < n)
    inds = n * a[k].to(torch.int64) + b[k]
    return torch.bincount(inds, minlength=n**2).reshape(n, n)


def iou_torchvision(pred, target, num_classes, ignore_index=None):
    h = _confusion(pred, target, num_classes).float()
    return torch.diag(h) / (h.sum(1) + h.sum(0) - torch.diag(h))


def mean_iou_torchvision(pred, target, num_classes, ignore_index=None):
    return iou_torchvision(pred, target, num_classes, ignore_index).nanmean().item()


def dice_torchvision(pred, target, num_classes, ignore_index=None):
    h = _confusion(pred, target, num_classes).double()
    return torch.nanmean(2 * torch.diag(h) / (h.sum(0) + h.sum(1)))  # a 0-d tensor


def accuracy_torchvision(pred, target, ignore_index=None):
    keep = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    return (pred[keep] == target[keep]).sum() / keep.sum()


def iou_int32(pred, target, num_classes, ignore_index=None):
    pred, target = _kept(pred.int(), target.int(), ignore_index)
    cm = torch.bincount((target * num_classes + pred).long(), minlength=num_classes**2).view(num_classes, num_classes)
    tp = cm.diagonal()
    return (tp.double() / (cm.sum(0) + cm.sum(1) - tp).double()).float()


def iou_uint8_loop(pred, target, num_classes, ignore_index=None):
    pred, target = pred.to(torch.uint8), target.to(torch.uint8)
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    ious = []
    for c in range(num_classes):
        p, t = (pred == c) & valid, (target == c) & valid
        union = (p | t).sum().item()
        ious.append((p & t).sum().item() / union if union else float("nan"))
    return torch.tensor(ious)


def iou_one_hot(pred, target, num_classes, ignore_index=None):
    pred, target = _kept(pred, target, ignore_index)
    p, t = F.one_hot(pred, num_classes).bool(), F.one_hot(target, num_classes).bool()
    inter, union = (p & t).sum(0).float(), (p | t).sum(0).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.tensor(float("nan")))


def mean_iou_present_mask(pred, target, num_classes, ignore_index=None):
    pred, target = _kept(pred, target, ignore_index)
    p, t = F.one_hot(pred, num_classes), F.one_hot(target, num_classes)
    inter = (p * t).sum(0)
    union = p.sum(0) + t.sum(0) - inter
    present = union > 0
    return (inter[present] / union[present]).mean().item()


def dice_one_hot(pred, target, num_classes, ignore_index=None):
    pred, target = _kept(pred, target, ignore_index)
    p, t = F.one_hot(pred, num_classes).float(), F.one_hot(target, num_classes).float()
    total = p.sum(0) + t.sum(0)
    return float((2 * (p * t).sum(0) / total)[total > 0].mean())


def dice_from_iou(pred, target, num_classes, ignore_index=None):
    iou = iou_one_hot(pred, target, num_classes, ignore_index)
    return float(torch.nanmean(2 * iou / (1 + iou)))


def _numpy_hist(pred, target, num_classes, ignore_index, histogram2d=False):
    p, t = pred.cpu().numpy().ravel(), target.cpu().numpy().ravel()
    if ignore_index is not None:
        p, t = p[t != ignore_index], t[t != ignore_index]
    if histogram2d:
        bins = [[0, num_classes], [0, num_classes]]
        return np.histogram2d(t, p, bins=num_classes, range=bins)[0]
    return np.bincount(num_classes * t.astype(int) + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_numpy(pred, target, num_classes, ignore_index=None):
    hist = _numpy_hist(pred, target, num_classes, ignore_index)
    with np.errstate(divide="ignore", invalid="ignore"):
        return torch.from_numpy(np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist)))


def mean_iou_numpy(pred, target, num_classes, ignore_index=None):
    return np.nanmean(iou_numpy(pred, target, num_classes, ignore_index).numpy())  # numpy.float64


def mean_iou_numpy_float32(pred, target, num_classes, ignore_index=None):
    return np.nanmean(iou_numpy(pred, target, num_classes, ignore_index).numpy().astype(np.float32))


def iou_histogram2d(pred, target, num_classes, ignore_index=None):
    hist = _numpy_hist(pred, target, num_classes, ignore_index, histogram2d=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return torch.tensor(np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist)), dtype=torch.float32)


def dice_histogram2d(pred, target, num_classes, ignore_index=None):
    hist = _numpy_hist(pred, target, num_classes, ignore_index, histogram2d=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nanmean(2 * np.diag(hist) / (hist.sum(1) + hist.sum(0)))


def accuracy_numpy(pred, target, ignore_index=None):
    p, t = pred.cpu().numpy(), target.cpu().numpy()
    keep = t != ignore_index if ignore_index is not None else np.ones_like(t, dtype=bool)
    return np.mean(p[keep] == t[keep])


def accuracy_numpy_array(pred, target, ignore_index=None):
    p, t = pred.cpu().numpy(), target.cpu().numpy()
    keep = t != ignore_index if ignore_index is not None else np.ones_like(t, dtype=bool)
    return np.array([(p[keep] == t[keep]).sum() / keep.sum()], dtype=np.float32)


def accuracy_items(pred, target, ignore_index=None):
    valid = target != ignore_index if ignore_index is not None else torch.ones_like(target).bool()
    return ((pred == target) & valid).sum().item() / valid.sum().item()


def iou_classic_loop(pred, target, num_classes, ignore_index=None):
    """The per-class loop of many repositories, with the guard on the union."""
    pred, target = pred.view(-1), target.view(-1)
    ious = []
    for cls in range(num_classes):
        pred_inds, target_inds = pred == cls, target == cls
        if ignore_index is not None:
            pred_inds = pred_inds & (target != ignore_index)
        intersection = pred_inds[target_inds].long().sum().item()
        union = pred_inds.long().sum().item() + target_inds.long().sum().item() - intersection
        ious.append(float("nan") if union == 0 else intersection / union)
    return torch.tensor(ious)


METRIC_STYLES = [
    (checks.check_iou_per_class, f)
    for f in (iou_torchvision, iou_int32, iou_uint8_loop, iou_one_hot, iou_numpy, iou_histogram2d, iou_classic_loop)
]
METRIC_STYLES += [
    (checks.check_mean_iou, f)
    for f in (mean_iou_torchvision, mean_iou_present_mask, mean_iou_numpy, mean_iou_numpy_float32)
]
METRIC_STYLES += [(checks.check_dice, f) for f in (dice_torchvision, dice_one_hot, dice_from_iou, dice_histogram2d)]
METRIC_STYLES += [
    (checks.check_pixel_accuracy, f)
    for f in (accuracy_torchvision, accuracy_numpy, accuracy_numpy_array, accuracy_items)
]


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("check, metric", METRIC_STYLES, ids=lambda v: getattr(v, "__name__", ""))
def test_metrics_in_other_styles_keep_full_marks(check, metric, hidden):
    check(metric, hidden=hidden)


def test_the_background_trap_accepts_numpy_numbers():
    masks = torch.zeros(4, 8, 8, dtype=torch.int64)
    masks[:, :2] = 3
    background = torch.zeros_like(masks)
    checks.check_accuracy_trap(accuracy_numpy(background, masks), mean_iou_numpy_float32(background, masks, 5), masks)


# ------------------------------------------------------------------------------------------------------- losses


def dice_smp(logits, target, eps=1.0):
    """segmentation_models_pytorch's multiclass DiceLoss, without its mask of the classes in the target."""
    bs, num_classes = logits.size(0), logits.size(1)
    y_pred = logits.log_softmax(dim=1).exp().view(bs, num_classes, -1)
    y_true = F.one_hot(target.view(bs, -1), num_classes).permute(0, 2, 1)
    inter = torch.sum(y_pred * y_true, dim=(0, 2))
    card = torch.sum(y_pred + y_true, dim=(0, 2))
    return (1.0 - (2.0 * inter + eps) / (card + eps).clamp_min(1e-7)).mean()


def dice_monai(logits, target, eps=1.0):
    """MONAI's DiceLoss(softmax=True, to_onehot_y=True, batch=True, smooth_nr=eps, smooth_dr=eps)."""
    probs = torch.softmax(logits, 1)
    one_hot = torch.zeros_like(probs).scatter_(1, target.unsqueeze(1), 1)
    axes = [0, *range(2, probs.dim())]
    intersection = torch.sum(one_hot * probs, dim=axes)
    denominator = torch.sum(one_hot, dim=axes) + torch.sum(probs, dim=axes)
    return torch.mean(1.0 - (2.0 * intersection + eps) / (denominator + eps))


def dice_float32(logits, target, eps=1.0):
    probs = F.softmax(logits.float(), dim=1)
    one_hot = F.one_hot(target, num_classes=logits.shape[1]).permute(0, 3, 1, 2).float()
    inter = (probs * one_hot).sum(dim=(2, 3)).sum(0)
    card = (probs + one_hot).sum(dim=(3, 2, 0))
    return 1 - torch.mean((2 * inter + eps) / (card + eps))


def dice_one_element(logits, target, eps=1.0):
    c = logits.shape[1]
    p = logits.softmax(1).transpose(0, 1).reshape(c, -1)
    t = F.one_hot(target.reshape(-1), c).T.to(p)
    return (1 - ((2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)).mean()).reshape(1)


def dice_class_loop(logits, target, eps=1.0):
    probs = torch.softmax(logits, dim=1)
    total = 0
    for c in range(logits.shape[1]):
        p, t = probs[:, c], (target == c).to(probs.dtype)
        total = total + (2 * (p * t).sum() + eps) / (p.sum() + t.sum() + eps)
    return 1 - total / logits.shape[1]


def dice_einsum(logits, target, eps=1.0):
    p = logits.softmax(1)
    t = F.one_hot(target, p.shape[1]).to(p.dtype)
    inter = torch.einsum("nchw,nhwc->c", p, t)
    return 1 - ((2 * inter + eps) / (p.sum((0, 2, 3)) + t.sum((0, 1, 2)) + eps)).mean()


soft_dice_loss = dice_monai


def loss_nll(logits, target, weight_map=None, dice_weight=1.0):
    ce = F.nll_loss(F.log_softmax(logits, dim=1), target, reduction="none")
    if weight_map is not None:
        ce = weight_map * ce
    return ce.mean() + dice_weight * soft_dice_loss(logits, target)


def loss_gather(logits, target, weight_map=None, dice_weight=1.0):
    ce = -logits.log_softmax(1).gather(1, target.unsqueeze(1)).squeeze(1)
    weights = torch.ones_like(ce) if weight_map is None else weight_map
    return (weights * ce).sum() / ce.numel() + dice_weight * soft_dice_loss(logits, target)


def loss_branches(logits, target, weight_map=None, dice_weight=1.0):
    if weight_map is None:
        loss = F.cross_entropy(logits, target)
    else:
        loss = (F.cross_entropy(logits, target, reduction="none") * weight_map).mean()
    if dice_weight:
        loss = loss + dice_weight * soft_dice_loss(logits, target)
    return loss


def loss_float32(logits, target, weight_map=None, dice_weight=1.0):
    ce = F.cross_entropy(logits.float(), target, reduction="none")
    if weight_map is not None:
        ce = ce * weight_map.float()
    return torch.mean(ce) + dice_weight * dice_float32(logits, target)


def loss_one_hot_sum(logits, target, weight_map=None, dice_weight=1.0):
    one_hot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(logits.dtype)
    ce = -(one_hot * F.log_softmax(logits, 1)).sum(1)
    if weight_map is not None:
        ce = ce * weight_map
    return (ce.mean() + dice_weight * soft_dice_loss(logits, target)).view(1)


def segmentation_loss(logits, target, weight_map=None, dice_weight=1.0):
    """The loss the training loops below use (any of the styles above would do)."""
    return loss_nll(logits, target, weight_map, dice_weight)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_losses_in_other_styles_keep_full_marks(hidden):
    for dice in (dice_smp, dice_monai, dice_float32, dice_one_element, dice_class_loop, dice_einsum):
        checks.check_soft_dice_loss(dice, hidden=hidden)
    for loss in (loss_nll, loss_gather, loss_branches, loss_float32, loss_one_hot_sum):
        checks.check_segmentation_loss(loss, hidden=hidden)


# ------------------------------------------------------------------------------------------------- augmentation


def _v2(*transforms):
    compose = v2.Compose(list(transforms))

    def augment(image, mask):
        image, mask = compose(tv_tensors.Image(image), tv_tensors.Mask(mask))
        return image.as_subclass(torch.Tensor).clamp(0, 1), mask.as_subclass(torch.Tensor)

    return augment


def _noisy(image, sigma=0.02):
    return (image + sigma * torch.randn_like(image)).clamp(0, 1)


def augment_v1_functional(image, mask):
    import torchvision.transforms as T
    import torchvision.transforms.functional as TF1

    if torch.rand(1) < 0.5:
        image, mask = TF1.hflip(image), TF1.hflip(mask)
    angle = T.RandomRotation.get_params([-20, 20])
    image = TF1.rotate(image, angle, interpolation=T.InterpolationMode.BILINEAR, fill=0)
    mask = TF1.rotate(mask.unsqueeze(0), angle, interpolation=T.InterpolationMode.NEAREST, fill=0).squeeze(0)
    return _noisy(TF1.adjust_brightness(image, float(torch.empty(1).uniform_(0.8, 1.2)))), mask


def augment_flip_rot90(image, mask):
    if torch.rand(()) < 0.5:
        image, mask = torch.flip(image, dims=[-1]), torch.flip(mask, dims=[-1])
    k = int(torch.randint(0, 4, ()))
    image, mask = torch.rot90(image, k, dims=(-2, -1)), torch.rot90(mask, k, dims=(-2, -1))
    return _noisy(image * torch.empty(()).uniform_(0.75, 1.25)), mask


def augment_stacked_channel(image, mask):
    both = torch.cat([image, mask[None].float()])
    if torch.rand(1).item() < 0.5:
        both = both.flip(-1)
    angle = float(torch.empty(1).uniform_(-30, 30))
    both = TF.rotate(both, angle, interpolation=v2.InterpolationMode.NEAREST, fill=0)
    image, mask = both[:3], both[3].round().long()
    return _noisy(TF.adjust_brightness(image, float(torch.empty(1).uniform_(0.7, 1.3))), 0.03), mask


def augment_dict(image, mask):
    compose = v2.Compose(
        [v2.RandomHorizontalFlip(), v2.RandomRotation(30), v2.ColorJitter(brightness=0.3), v2.GaussianNoise()]
    )
    out = compose({"image": tv_tensors.Image(image), "mask": tv_tensors.Mask(mask)})
    return out["image"].as_subclass(torch.Tensor), out["mask"].as_subclass(torch.Tensor)


_FLIP, _TURN = v2.RandomHorizontalFlip(), v2.RandomRotation(20)
_BRIGHT, _NOISE = v2.ColorJitter(brightness=0.2), v2.GaussianNoise()  # v2's default noise: sigma=0.1
AUGMENT_STYLES = {
    "colour jitter with hue": _v2(_FLIP, _TURN, v2.ColorJitter(0.4, 0.4, 0.4, 0.1), _NOISE),
    "strong hue": _v2(_FLIP, _TURN, v2.ColorJitter(0.4, 0.4, 0.4, 0.5), _NOISE),
    "grayscale": _v2(_FLIP, _TURN, _BRIGHT, v2.RandomGrayscale(p=0.5), _NOISE),
    "channel permutation": _v2(_FLIP, _TURN, v2.RandomChannelPermutation(), _BRIGHT, _NOISE),
    "contrast and blur": _v2(
        _FLIP, _TURN, v2.ColorJitter(brightness=0.2, contrast=0.3), v2.RandomApply([v2.GaussianBlur(3)], p=0.3), _NOISE
    ),
    "random resized crop": _v2(v2.RandomResizedCrop(48, scale=(0.3, 1.0)), _FLIP, _TURN, _BRIGHT, _NOISE),
    "affine with scale and shift": _v2(_FLIP, v2.RandomAffine(25, (0.1, 0.1), (0.85, 1.15)), _BRIGHT, _NOISE),
    "affine with shear": _v2(_FLIP, v2.RandomAffine(30, (0.15, 0.15), (0.8, 1.2), shear=10), _BRIGHT, _NOISE),
    "padded random crop": _v2(v2.RandomCrop(48, padding=4), _FLIP, _TURN, _BRIGHT, _NOISE),
    "elastic": _v2(_FLIP, _TURN, v2.ElasticTransform(alpha=20.0), _BRIGHT, _NOISE),
    "v1 functional": augment_v1_functional,
    "flip and rot90 by hand": augment_flip_rot90,
    "mask stacked as a channel": augment_stacked_channel,
    "dict of tv_tensors": augment_dict,
}


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("style", sorted(AUGMENT_STYLES))
def test_augmentation_in_other_styles_keeps_full_marks(style, hidden):
    checks.check_augmentation(AUGMENT_STYLES[style], hidden=hidden)


# ------------------------------------------------------------------------------------------------------ network


class SameDoubleConv(nn.Module):
    """``padding="same"``, conv1/bn1 names and functional ReLUs."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, kernel_size=(3, 3), padding="same", bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, kernel_size=3, padding="same", bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class SequentialDoubleConv(nn.Sequential):
    """A subclass of nn.Sequential without a forward of its own."""

    def __init__(self, in_ch, out_ch):
        layers = []
        for a, b in ((in_ch, out_ch), (out_ch, out_ch)):
            layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        super().__init__(*layers)


def styled_unet(block=SequentialDoubleConv, padding="right", upsampling="module", concat="cat"):
    """A U-Net to the notebook's interface: ``padding`` "right" (the notebook's), "centre" (F.pad on both sides,
    TF.center_crop back) or "ceil" (no padding: ceil_mode pooling, then the up-sampled map resized to the skip);
    ``upsampling`` "module" (nn.Upsample), "legacy" (nn.UpsamplingBilinear2d) or "functional" (F.interpolate in
    forward); ``concat`` "cat" (up-sampled first, dim=1) or "concat" (torch.concat, skip first, dim=-3)."""

    class UNet(nn.Module):
        def __init__(self, in_channels, num_classes, depth=4, base_channels=16, up="transpose"):
            super().__init__()
            if up not in ("transpose", "bilinear"):
                raise ValueError(f"unknown up {up!r}")
            self.depth, self.up = depth, up
            widths = [base_channels * 2**i for i in range(depth + 1)]
            self.encoder = nn.ModuleList(block(a, b) for a, b in zip([in_channels, *widths[:-2]], widths[:-1]))
            self.pool = nn.MaxPool2d(2, 2, ceil_mode=padding == "ceil")
            self.bottleneck = block(widths[-2], widths[-1])
            self.upsample, self.decoder = nn.ModuleList(), nn.ModuleList()
            for wide, narrow in zip(widths[:0:-1], widths[-2::-1]):
                if up == "transpose":
                    self.upsample.append(nn.ConvTranspose2d(wide, narrow, 2, stride=2))
                elif upsampling == "functional":
                    self.upsample.append(nn.Conv2d(wide, narrow, 1))
                elif upsampling == "legacy":
                    self.upsample.append(
                        nn.Sequential(nn.UpsamplingBilinear2d(scale_factor=2), nn.Conv2d(wide, narrow, 1))
                    )
                else:
                    self.upsample.append(
                        nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(wide, narrow, 1))
                    )
                self.decoder.append(block(wide, narrow))
            self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)

        def forward(self, x):
            height, width = x.shape[-2:]
            m = 2**self.depth
            ph, pw = (m - height % m) % m, (m - width % m) % m
            if padding == "centre":
                x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
            elif padding == "right":
                x = F.pad(x, [0, pw, 0, ph], mode="constant", value=0.0)
            features = {}
            for level, encode in enumerate(self.encoder):
                x = encode(x)
                features[level] = x
                x = self.pool(x)
            x = self.bottleneck(x)
            for k, (upsample, decode) in enumerate(zip(self.upsample, self.decoder)):
                skip = features[self.depth - 1 - k]
                if self.up == "bilinear" and upsampling == "functional":
                    x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
                x = upsample(x)
                if x.shape[-2:] != skip.shape[-2:]:
                    x = F.interpolate(x, size=skip.shape[-2:])
                x = decode(torch.concat((skip, x), dim=-3) if concat == "concat" else torch.cat([x, skip], 1))
            logits = self.head(x)
            return TF.center_crop(logits, [height, width]) if padding == "centre" else logits[:, :, :height, :width]

    return UNet


UNET_STYLES = {
    "padding='same' blocks": styled_unet(SameDoubleConv),
    "centred padding and crop": styled_unet(padding="centre"),
    "ceil_mode pooling resized to the skip": styled_unet(padding="ceil"),
    "functional interpolation": styled_unet(upsampling="functional"),
    "UpsamplingBilinear2d": styled_unet(upsampling="legacy"),
    "torch.concat on dim=-3": styled_unet(concat="concat"),
}


def test_double_conv_in_other_styles_keeps_full_marks():
    checks.check_double_conv(SameDoubleConv)
    checks.check_double_conv(SequentialDoubleConv)


@pytest.mark.parametrize("style", sorted(UNET_STYLES))
def test_unets_in_other_styles_keep_full_marks(style):
    unet = UNET_STYLES[style]
    checks.check_unet_shapes(unet)
    checks.check_unet_shapes(unet, hidden=True)
    checks.check_unet_skips(unet)
    checks.check_unet_head(unet)
    checks.check_unet_params(unet)
    checks.check_unet_device_and_eval(unet)


# -------------------------------------------------------------------------------------------- evaluate and train


def mean_iou(pred, target, num_classes, ignore_index=None):
    """The metric the evaluation styles below call."""
    return mean_iou_torchvision(pred, target, num_classes, ignore_index)


def evaluate_inference_mode_loader(model, images, masks, num_classes, batch_size=32):
    device = next(model.parameters()).device
    model.eval()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, masks), batch_size=batch_size)
    preds, targets = [], []
    with torch.inference_mode():
        for x, y in loader:
            preds.append(model(x.to(device)).argmax(1))  # kept on the device
            targets.append(y.to(device))
    return mean_iou(torch.cat(preds), torch.cat(targets), num_classes)


@torch.no_grad()
def evaluate_decorated_split(model, images, masks, num_classes, batch_size=32):
    model.eval()
    device = next(model.parameters()).device
    preds = [torch.max(model(x.to(device)), dim=1)[1].cpu() for x in images.split(batch_size)]
    return torch.tensor(mean_iou(torch.cat(preds), masks, num_classes))


def evaluate_confusion_sum(model, images, masks, num_classes, batch_size=32):
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            x, y = images[s : s + batch_size].to(device), masks[s : s + batch_size].to(device)
            total += _confusion(model(x).argmax(dim=1), y, num_classes)
    model.train(was_training)
    total = total.double()
    return (total.diag() / (total.sum(0) + total.sum(1) - total.diag())).nanmean().item()


def evaluate_train_false(model, images, masks, num_classes, batch_size=32):
    model.train(False)
    device = next(model.parameters()).device
    with torch.no_grad():
        batches = [images[i : i + batch_size].to(device, non_blocking=True) for i in range(0, len(images), batch_size)]
        logits = torch.cat([model(x) for x in batches])
    return mean_iou(logits.argmax(1).cpu(), masks, num_classes)


def evaluate_to_parameter(model, images, masks, num_classes, batch_size=32):
    """Each batch moved with .to(parameter): the parameter's device (and dtype)."""
    model.eval()
    weight = next(model.parameters())
    with torch.no_grad():
        preds = [model(x.to(weight)).argmax(1).cpu() for x in torch.split(images, batch_size)]
    return np.float32(mean_iou(torch.cat(preds), masks, num_classes))


def train_seeded_generator(model, dataset, budget, lr=1e-2, device=None, augment=None, progress=True):
    """A seeded DataLoader cycled by a generator, model.train() once before the loop, zero_grad(set_to_none)."""
    from tqdm.auto import tqdm

    device = device if device is not None else next(model.parameters()).device
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=budget.steps)
    generator = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=budget.batch_size, shuffle=True, drop_last=True, generator=generator
    )

    def batches():
        while True:
            yield from loader

    losses = []
    model.train()
    for _, (x, y) in zip(tqdm(range(budget.steps), disable=not progress), batches()):
        if augment is not None:
            pairs = [augment(a, b) for a, b in zip(x, y)]
            x, y = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
        optimizer.zero_grad(set_to_none=True)
        loss = segmentation_loss(model(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


def train_index_permutations(model, dataset, budget, lr=1e-2, device=None, augment=None, progress=True):
    """Batches drawn from torch.randperm by hand, float(loss.detach().cpu())."""
    device = device or next(model.parameters()).device
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=budget.steps)
    order, position, losses = torch.randperm(len(dataset)), 0, []
    for _ in range(budget.steps):
        if position + budget.batch_size > len(dataset):
            order, position = torch.randperm(len(dataset)), 0
        items = [dataset[int(i)] for i in order[position : position + budget.batch_size]]
        position += budget.batch_size
        if augment:
            items = [augment(a, b) for a, b in items]
        x, y = (torch.stack(t).to(device) for t in zip(*items))
        model.train()
        loss = segmentation_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach().cpu()))
    model.eval()
    return losses


class Augmented(torch.utils.data.Dataset):
    """A dataset that augments each pair as it is loaded."""

    def __init__(self, base, augment):
        self.base, self.augment = base, augment

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        image, mask = self.base[index]
        return self.augment(image, mask) if self.augment else (image, mask)


def train_augmenting_dataset(model, dataset, budget, lr=1e-2, device=None, augment=None, progress=True):
    """Augmentation in a Dataset, AdamW, gradient clipping, autocast on a GPU only."""
    if device is None:
        device = next(model.parameters()).device
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=budget.steps)
    loader = torch.utils.data.DataLoader(
        Augmented(dataset, augment), batch_size=budget.batch_size, shuffle=True, drop_last=True
    )
    kind = torch.device(device).type
    batches, losses = iter(loader), []
    while len(losses) < budget.steps:
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            continue
        model.train()
        with torch.autocast(device_type=kind, enabled=kind == "cuda"):
            logits = model(x.to(device))
        loss = segmentation_loss(logits.float(), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


def train_channels_last(model, dataset, budget, lr=1e-2, device=None, augment=None, progress=True):
    """Channels-last, fused Adam, augmentation mapped over the batch, a return from inside the epoch loop."""
    device = device or next(model.parameters()).device
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=budget.steps)
    loader = torch.utils.data.DataLoader(dataset, batch_size=budget.batch_size, shuffle=True, drop_last=True)
    losses = []
    model.train()
    while True:
        for x, y in loader:
            if augment:
                x, y = (torch.stack(t) for t in zip(*map(augment, x, y)))
            loss = segmentation_loss(model(x.to(device, memory_format=torch.channels_last)), y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if len(losses) == budget.steps:
                model.eval()
                return losses


@pytest.mark.parametrize(
    "evaluate",
    [
        evaluate_inference_mode_loader,
        evaluate_decorated_split,
        evaluate_confusion_sum,
        evaluate_train_false,
        evaluate_to_parameter,
    ],
    ids=lambda f: f.__name__,
)
def test_evaluate_in_other_styles_keeps_full_marks(evaluate):
    checks.check_evaluate(evaluate)


@pytest.mark.parametrize(
    "train",
    [train_seeded_generator, train_index_permutations, train_augmenting_dataset, train_channels_last],
    ids=lambda f: f.__name__,
)
def test_training_loops_in_other_styles_keep_full_marks(train):
    checks.check_train(train)


# ----------------------------------------------------------------------------------------------------- mistakes


def _iou_loop(pred, target, num_classes, ignore_index, absent_if):
    pred, target = _kept(pred, target, ignore_index)
    ious = []
    for c in range(num_classes):
        p, t = pred == c, target == c
        inter, union = (p & t).sum().item(), (p | t).sum().item()
        ious.append(float("nan") if absent_if(p, t, union) else inter / union)
    return torch.tensor(ious)


def iou_nan_unless_in_target(pred, target, num_classes, ignore_index=None):
    """The widespread snippet: NaN when the class is not in the target, even if it is predicted."""
    return _iou_loop(pred, target, num_classes, ignore_index, lambda p, t, union: t.sum() == 0)


def iou_exact(pred, target, num_classes, ignore_index=None):
    return _iou_loop(pred, target, num_classes, ignore_index, lambda p, t, union: union == 0)


def mean_iou_smoothed(pred, target, num_classes, ignore_index=None):
    pred, target = _kept(pred, target, ignore_index)
    smooth = 1e-6
    ious = [
        (((pred == c) & (target == c)).sum() + smooth) / (((pred == c) | (target == c)).sum() + smooth)
        for c in range(num_classes)
    ]
    return float(torch.stack(ious).mean())


def mean_iou_plain_mean(pred, target, num_classes, ignore_index=None):
    return float(iou_exact(pred, target, num_classes, ignore_index).mean())


def mean_iou_per_image(pred, target, num_classes, ignore_index=None):
    scores = [float(iou_exact(p, t, num_classes, ignore_index).nanmean()) for p, t in zip(pred, target)]
    return sum(scores) / len(scores)


def iou_per_image(pred, target, num_classes, ignore_index=None):
    return torch.stack([iou_exact(p, t, num_classes, ignore_index) for p, t in zip(pred, target)]).nanmean(0)


def _dice_scores(pred, target, num_classes, ignore_index):
    pred, target = _kept(pred, target, ignore_index)
    scores = []
    for c in range(num_classes):
        p, t = pred == c, target == c
        total = (p.sum() + t.sum()).item()
        scores.append(2 * (p & t).sum().item() / total if total else float("nan"))
    return torch.tensor(scores)


def dice_absent_as_zero(pred, target, num_classes, ignore_index=None):
    return float(_dice_scores(pred, target, num_classes, ignore_index).nan_to_num().mean())


def dice_per_image(pred, target, num_classes, ignore_index=None):
    scores = [float(_dice_scores(p, t, num_classes, ignore_index).nanmean()) for p, t in zip(pred, target)]
    return sum(scores) / len(scores)


def evaluate_per_batch(model, images, masks, num_classes, batch_size=32):
    model.eval()
    device = next(model.parameters()).device
    scores = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            pred = model(images[i : i + batch_size].to(device)).argmax(1).cpu()
            scores.append(mean_iou(pred, masks[i : i + batch_size], num_classes))
    return sum(scores) / len(scores)


def test_metric_mistakes_are_named():
    for hidden in (False, True):
        fails(checks.check_iou_per_class, iou_nan_unless_in_target, hidden=hidden, phrase="missing from the target")
        fails(checks.check_mean_iou, mean_iou_smoothed, hidden=hidden, phrase="counted as IoU 1")
        fails(checks.check_mean_iou, mean_iou_plain_mean, hidden=hidden, phrase="the mean is NaN")
        fails(checks.check_mean_iou, mean_iou_per_image, hidden=hidden, phrase="computed per image")
        fails(checks.check_iou_per_class, iou_per_image, hidden=hidden, phrase="computed per image")
        fails(checks.check_dice, dice_absent_as_zero, hidden=hidden, phrase="counted as Dice 0")
        fails(checks.check_dice, dice_per_image, hidden=hidden, phrase="computed per image")
    checks.check_iou_per_class(iou_exact)
    fails(checks.check_evaluate, evaluate_per_batch, phrase="averaged over the batches")


def _soft_dice(logits, target, eps=1.0, squared=False, one_hot=None, classes=slice(None), absent="keep", top=None):
    """A soft Dice loss with one mistake at a time: ``top`` the numerator's smoothing (eps unless given), ``squared``
    denominator, a given ``one_hot`` target, a subset of ``classes``, classes absent from the target given loss 0."""
    probs = logits.softmax(1)
    if one_hot is None:
        one_hot = F.one_hot(target, probs.shape[1]).permute(0, 3, 1, 2)
    one_hot = one_hot.to(probs.dtype)
    dims = (0, 2, 3)
    card = (probs**2 + one_hot**2).sum(dims) if squared else (probs + one_hot).sum(dims)
    loss = 1 - (2 * (probs * one_hot).sum(dims) + (eps if top is None else top)) / (card + eps)
    if absent == "zero":  # segmentation_models_pytorch's mask of the classes in the target
        loss = loss * (one_hot.sum(dims) > 0)
    return loss[classes].mean()


def test_soft_dice_mistakes_are_named():
    def without_background(logits, target, eps=1.0):
        return _soft_dice(logits, target, classes=slice(1, None))

    def squared(logits, target, eps=1.0):
        return _soft_dice(logits, target, squared=True)

    def reshaped(logits, target, eps=1.0):
        return _soft_dice(logits, target, one_hot=F.one_hot(target, logits.shape[1]).reshape(logits.shape))

    def transposed(logits, target, eps=1.0):
        return _soft_dice(logits, target, one_hot=F.one_hot(target, logits.shape[1]).permute(0, 3, 2, 1))

    def masked(logits, target, eps=1.0):
        return _soft_dice(logits, target, absent="zero")

    def monai_smoothing(logits, target, eps=1.0):
        return _soft_dice(logits, target, eps=1e-5)

    def eps_below_only(logits, target, eps=1.0):
        return _soft_dice(logits, target, eps=eps, top=0.0)

    fails(checks.check_soft_dice_loss, without_background, phrase="background (class 0) was left out")
    fails(checks.check_soft_dice_loss, squared, phrase="squares the probabilities")
    fails(checks.check_soft_dice_loss, reshaped, phrase="only permute(0, 3, 1, 2)")
    fails(checks.check_soft_dice_loss, transposed, phrase="height and width were swapped")
    fails(checks.check_soft_dice_loss, monai_smoothing, phrase="smoothing term is missing")
    fails(checks.check_soft_dice_loss, eps_below_only, phrase="eps was added to the denominator only")
    checks.check_soft_dice_loss(masked)  # every visible case has each class in its target
    fails(checks.check_soft_dice_loss, masked, hidden=True, phrase="absent from the target were given loss 0")


def test_combined_loss_mistakes_are_named():
    def weight_on_ce(logits, target, weight_map=None, dice_weight=1.0):
        ce = F.cross_entropy(logits, target, reduction="none") * (1 if weight_map is None else weight_map)
        return dice_weight * ce.mean() + soft_dice_loss(logits, target)

    def dice_alone(logits, target, weight_map=None, dice_weight=1.0):
        return dice_weight * soft_dice_loss(logits, target)

    def float_target(logits, target, weight_map=None, dice_weight=1.0):
        ce = F.cross_entropy(logits, target.float(), reduction="none")
        return (ce if weight_map is None else ce * weight_map).mean() + dice_weight * soft_dice_loss(logits, target)

    for hidden in (False, True):
        fails(checks.check_segmentation_loss, weight_on_ce, hidden=hidden, phrase="dice_weight multiplies")
        fails(checks.check_segmentation_loss, dice_alone, hidden=hidden, phrase="cross-entropy term is missing")
        fails(checks.check_segmentation_loss, float_target, hidden=hidden, phrase="converted to floats")


def test_augmentation_mistakes_are_named():
    def image_only(image, mask):
        image, mask = v2.Compose([_FLIP, _TURN, _BRIGHT, _NOISE])(tv_tensors.Image(image), mask)  # a plain mask
        return image.as_subclass(torch.Tensor), mask

    def mask_only(image, mask):
        if torch.rand(1) < 0.5:
            mask = mask.flip(-1)
        mask = TF.rotate(mask[None], float(torch.empty(1).uniform_(-20, 20)))[0]
        return _noisy(image * float(torch.empty(1).uniform_(0.8, 1.2))), mask

    def two_draws(image, mask):
        if torch.rand(1) < 0.5:
            image = image.flip(-1)
        if torch.rand(1) < 0.5:  # a second draw for the mask
            mask = mask.flip(-1)
        angle = float(torch.empty(1).uniform_(-20, 20))
        image, mask = TF.rotate(image, angle), TF.rotate(mask[None], angle)[0]
        return _noisy(image * float(torch.empty(1).uniform_(0.8, 1.2))), mask

    for hidden in (False, True):
        fails(checks.check_augmentation, image_only, hidden=hidden, phrase="the mask came back as it went in")
        fails(checks.check_augmentation, mask_only, hidden=hidden, phrase="the image kept its geometry")
        fails(checks.check_augmentation, two_draws, hidden=hidden, phrase="different random parameters")
    no_brightness = _v2(_FLIP, _TURN, _NOISE)  # sigma=0.1 noise lengthens colour vectors, yet is no brightness change
    fails(checks.check_augmentation, no_brightness, phrase="brightness never changed")
    vertical = _v2(v2.RandomVerticalFlip(), v2.RandomAffine(25, (0.1, 0.1), (0.85, 1.15)), _BRIGHT, _NOISE)
    fails(checks.check_augmentation, vertical, phrase="random horizontal flip")
