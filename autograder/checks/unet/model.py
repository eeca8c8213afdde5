"""Checks of Assignment 2's network: ``DoubleConv`` and ``UNet``.

The notebook fixes the interface the checks rely on: ``UNet(in_channels, num_classes, depth=4,
base_channels=16, up="transpose"|"bilinear")`` with the attributes ``encoder`` (one ``DoubleConv`` per level),
``bottleneck``, ``decoder`` and ``head`` (the final 1x1 convolution), returning logits of the input's height
and width. The checks build the student's class with several settings, run it in eval mode on the grading
device, and name the likely mistake: concatenation on the wrong axis (seen by watching ``torch.cat``), skip
connections that are missing or unused (an encoder feature is perturbed while the bottleneck is held fixed),
no final 1x1 convolution, probabilities instead of logits, sizes not divisible by ``2**depth``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.device import get_device

from ..common import CheckFailed, call_student, case_of, grader_only
from ..probes import record_calls, wrong_cat_axis

CAT_AXIS = (
    "concatenation on the wrong axis: skip connections are joined along the channel axis, "
    "torch.cat([upsampled, skip], dim=1) for tensors of shape (N, C, H, W)"
)
SKIPS_REVERSED = (
    "the skip connections are taken in the wrong order: the first decoder level (the deepest) joins the deepest "
    "encoder level's features, the last one the first level's (zip the decoder with reversed(skips), or pop())"
)
NOT_DIVISIBLE = (
    "output size wrong for sizes not divisible by 2**depth: pad the input up to a multiple of 2**depth and crop "
    "the logits back to the input's height and width"
)


@dataclass(frozen=True)
class NetCase:
    """One way to build and call the student's ``UNet``."""

    in_channels: int
    num_classes: int
    depth: int
    base_channels: int
    up: str
    height: int
    width: int
    batch: int = 2

    def build(self, UNet: Callable) -> nn.Module:  # noqa: N803 (the student's class)
        torch.manual_seed(0)
        return call_student(
            "UNet",
            UNet,
            self.in_channels,
            self.num_classes,
            depth=self.depth,
            base_channels=self.base_channels,
            up=self.up,
        )

    def describe(self) -> str:
        return (
            f"UNet({self.in_channels}, {self.num_classes}, depth={self.depth}, base_channels={self.base_channels}, "
            f"up={self.up!r}) on input ({self.batch}, {self.in_channels}, {self.height}, {self.width})"
        )

    @property
    def divisible(self) -> bool:
        m = 2**self.depth
        return self.height % m == 0 and self.width % m == 0


SHAPE_CASES_VISIBLE = [
    NetCase(3, 5, 3, 8, "transpose", 64, 64),
    NetCase(1, 2, 2, 4, "transpose", 32, 48),
    NetCase(3, 5, 3, 8, "bilinear", 64, 64),
    NetCase(3, 4, 4, 4, "transpose", 37, 50),
    NetCase(3, 5, 3, 4, "bilinear", 45, 45),
]


def _device() -> torch.device:
    return get_device()


def run_case(UNet: Callable, case: NetCase, task: str) -> torch.Tensor:  # noqa: N803
    """Build the student's net for ``case``, run it in eval mode on the grading device, return the output."""
    model = case.build(UNet)
    if not isinstance(model, nn.Module):
        raise CheckFailed(task, f"UNet(...) must build an nn.Module, got {type(model).__name__}")
    device = _device()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(case.batch, case.in_channels, case.height, case.width, generator=g).to(device)
    with record_calls() as log:
        try:
            model = model.to(device).eval()
            with torch.no_grad():
                out = model(x)
        except NotImplementedError as err:
            raise CheckFailed(task, "not implemented yet (the class raises NotImplementedError)") from err
        except Exception as err:
            hint = f"\nLikely mistake: {CAT_AXIS}" if wrong_cat_axis(log) else ""
            if not hint and not case.divisible and "size" in str(err).lower():
                hint = f"\nLikely mistake: {NOT_DIVISIBLE}"
            elif not hint and case.divisible and case.depth > 1 and "size" in str(err).lower() and log.cat_dims:
                hint = f"\nLikely mistake: {SKIPS_REVERSED}"
            raise CheckFailed(task, f"{case.describe()} raised {type(err).__name__}: {err}{hint}") from err
    if wrong_cat_axis(log):
        raise CheckFailed(task, f"{case.describe()}: {CAT_AXIS}")
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(task, f"forward must return a tensor of logits, got {type(out).__name__}")
    return out


def _padded_by_one(conv: nn.Conv2d) -> bool:
    """Whether a 3x3 convolution pads by one pixel: ``padding=1``, or ``padding="same"``, which for a 3x3 kernel
    with stride 1 and no dilation is the same padding."""
    return conv.padding == (1, 1) or (conv.padding == "same" and conv.dilation == (1, 1))


def check_double_conv(DoubleConv: Callable) -> None:  # noqa: N803
    """``DoubleConv(in_ch, out_ch)``: (3x3 conv, padding 1 -> BatchNorm -> ReLU) twice, same height and width."""
    task = "DoubleConv"
    torch.manual_seed(0)
    block = call_student(task, DoubleConv, 3, 8)
    if not isinstance(block, nn.Module):
        raise CheckFailed(task, f"DoubleConv(3, 8) must be an nn.Module, got {type(block).__name__}")
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != 2 or any(c.kernel_size != (3, 3) or not _padded_by_one(c) for c in convs):
        found = [(c.kernel_size, c.padding) for c in convs]
        raise CheckFailed(task, f"expected two 3x3 convolutions with padding 1, found (kernel, padding) {found}")
    if [c.in_channels for c in convs] != [3, 8] or [c.out_channels for c in convs] != [8, 8]:
        raise CheckFailed(task, "DoubleConv(3, 8): the first conv maps 3 -> 8 channels, the second 8 -> 8")
    if len(norms) != 2:
        raise CheckFailed(task, f"expected a BatchNorm2d after each convolution, found {len(norms)}")
    if any(c.bias is not None for c in convs):
        raise CheckFailed(
            task, "the convolutions have a bias: use bias=False (the BatchNorm after each one makes a bias redundant)"
        )
    x = torch.randn(2, 3, 10, 12, generator=torch.Generator().manual_seed(0))
    out = call_student(task, block.train(), x)
    if tuple(out.shape) != (2, 8, 10, 12):
        raise CheckFailed(task, f"output shape {tuple(out.shape)}, expected (2, 8, 10, 12): keep height and width")
    if not out.min() >= 0:  # NaN fails too
        raise CheckFailed(task, "the block must end with a ReLU (its output has negative values)")
    _check_double_conv_values(task, block, convs, norms)


def _check_double_conv_values(task: str, block: nn.Module, convs: list[nn.Conv2d], norms: list[nn.Module]) -> None:
    """The block computes ReLU(BN(conv(ReLU(BN(conv(x)))))) with its own layers (in eval mode, each BatchNorm given
    statistics and an affine map far from the defaults, so that every layer and its place show in the output)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for norm in norms:
            n = norm.num_features
            norm.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
            norm.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            if norm.affine:
                norm.weight.copy_(torch.rand(n, generator=g) + 0.5)
                norm.bias.copy_(torch.rand(n, generator=g) - 0.5)
        x = torch.randn(2, 3, 9, 11, generator=g)
        out = call_student(task, block.eval(), x.clone())
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 8, 9, 11):
            raise CheckFailed(task, "in eval mode, DoubleConv(3, 8) must return a tensor of shape (2, 8, 9, 11)")
        first, second = sorted(convs, key=lambda c: c.in_channels != 3)
        relu = torch.relu
        for n1, n2 in (norms, norms[::-1]):
            if torch.allclose(out, relu(n2(second(relu(n1(first(x)))))), rtol=1e-4, atol=1e-5):
                return
        n1, n2 = norms
        mistakes = [
            (relu(n2(second(n1(first(x))))), "the ReLU between the two convolutions is missing"),
            (n2(relu(second(n1(relu(first(x)))))).clamp(min=0), "ReLU comes before BatchNorm"),
            (relu(n2(relu(n1(first(x))))), "the second convolution is never applied"),
            (relu(n2(second(relu(n1(first(x)))))) * 0, "the output does not depend on the input"),
        ]
    hint = next((words for value, words in mistakes if torch.allclose(out, value, rtol=1e-4, atol=1e-5)), "")
    raise CheckFailed(
        task,
        "DoubleConv(3, 8)'s output is not ReLU(BatchNorm(conv(ReLU(BatchNorm(conv(x)))))) computed with its own "
        "layers (checked in eval mode)." + (f"\nLikely mistake: {hint}." if hint else ""),
    )


def check_unet_shapes(UNet: Callable, hidden: bool = False) -> None:  # noqa: N803
    """Logits of shape (N, num_classes, H, W) for many settings, including sizes not divisible by ``2**depth``."""
    task = "UNet output shape"
    cases = list(grader_only("unet").SHAPE_CASES if hidden else SHAPE_CASES_VISIBLE)
    for index, case in enumerate(cases):
        with case_of(index, len(cases)):
            out = run_case(UNet, case, task)
            expected = (case.batch, case.num_classes, case.height, case.width)
            if tuple(out.shape) != expected:
                hint = f"\nLikely mistake: {NOT_DIVISIBLE}" if not case.divisible else ""
                raise CheckFailed(
                    task, f"{case.describe()} returned shape {tuple(out.shape)}, expected {expected}{hint}"
                )
            if not out.dtype.is_floating_point or not torch.isfinite(out).all():
                raise CheckFailed(task, f"{case.describe()} must return finite floating-point logits")
    if not hidden:
        _check_rejects_unknown_up(task, UNet)


def _check_rejects_unknown_up(task: str, UNet: Callable) -> None:  # noqa: N803
    """``up`` is 'transpose' or 'bilinear': anything else raises ValueError (the template's first lines)."""
    try:
        call_student(task, UNet, 3, 2, depth=2, base_channels=4, up="nearest")
    except CheckFailed as failed:  # call_student names the student's exception and keeps it as the cause
        err = failed.__cause__
        if isinstance(err, ValueError):
            return
        if err is None:
            raise
        raise CheckFailed(
            task, f"UNet(..., up='nearest') raised {type(err).__name__}: {err}; it must raise ValueError"
        ) from err
    raise CheckFailed(
        task,
        "UNet(..., up='nearest') built a network: up must be 'transpose' or 'bilinear', anything else raises "
        "ValueError (keep the check the template starts __init__ with).",
    )


def _parts(model: nn.Module, task: str) -> tuple[nn.ModuleList, nn.Module]:
    for name in ("encoder", "bottleneck", "decoder", "head"):
        if not hasattr(model, name):
            raise CheckFailed(task, f"the UNet has no attribute {name!r}; keep the names the notebook asks for")
    return model.encoder, model.bottleneck


SKIP_CASES = [NetCase(3, 5, 3, 8, "transpose", 32, 32), NetCase(3, 5, 3, 8, "bilinear", 32, 32)]


def check_unet_skips(UNet: Callable) -> None:  # noqa: N803
    """Every encoder level reaches the output through its own skip connection, joined by concatenation.

    For each level, the features of that level are perturbed while the outputs of every deeper encoder level and of
    the bottleneck are held at their unperturbed values: the only way left from that level to the output is its
    skip connection, so the output must change. The joins are watched: one ``torch.cat`` along the channels per
    level (an addition is not a concatenation), and the up-sampling the ``up`` argument asks for is the one used.
    """
    task = "UNet skip connections"
    cases = list(SKIP_CASES)
    for index, case in enumerate(cases):
        with case_of(index, len(cases)):
            _check_skips(task, UNet, case)


def _check_skips(task: str, UNet: Callable, case: NetCase) -> None:  # noqa: N803
    model = case.build(UNet)
    encoder, bottleneck = _parts(model, task)
    if len(encoder) != case.depth:
        raise CheckFailed(task, f"UNet(depth={case.depth}) should have {case.depth} encoder blocks, has {len(encoder)}")
    model.eval()
    x = torch.randn(2, 3, case.height, case.width, generator=torch.Generator().manual_seed(2))
    saved: dict[int, torch.Tensor] = {}
    blocks = [*encoder, bottleneck]

    def remember(index: int):
        def hook(module, inputs, output):
            saved[index] = output.detach().clone()

        return hook

    with torch.no_grad():
        handles = [b.register_forward_hook(remember(k)) for k, b in enumerate(blocks)]
        try:
            with record_calls() as log:
                reference = call_student(task, model, x)
        finally:
            for h in handles:
                h.remove()
        if wrong_cat_axis(log):
            raise CheckFailed(task, f"{case.describe()}: {CAT_AXIS}")
        _check_joins(task, case, log)
        unused = []
        for level in range(case.depth):

            def perturb(module, inputs, output, level=level):  # this level's feature map only
                g = torch.Generator().manual_seed(10 + level)
                return output + torch.randn(output.shape, generator=g).to(output.device)

            def hold(index: int):
                return lambda module, inputs, output: saved[index]

            handles = [blocks[level].register_forward_hook(perturb)]
            handles += [blocks[k].register_forward_hook(hold(k)) for k in range(level + 1, len(blocks))]
            try:
                out = call_student(task, model, x)
            finally:
                for h in handles:
                    h.remove()
            if torch.allclose(out, reference, atol=1e-6):
                unused.append(level)
        other = call_student(task, model, torch.randn(x.shape, generator=torch.Generator().manual_seed(3)))
    if unused:
        levels = ", ".join(map(str, unused))
        raise CheckFailed(
            task,
            f"{case.describe()}: with every deeper encoder level and the bottleneck held fixed, perturbing the "
            f"features of encoder level(s) {levels} does not change the output: those skip connections are missing "
            "or unused. Each decoder level must concatenate the encoder features of the same resolution with the "
            "upsampled features (torch.cat(..., dim=1)).",
        )
    if torch.equal(other, reference):  # exactly: an untrained net with few skips may depend on x only faintly
        raise CheckFailed(
            task,
            f"{case.describe()}: two different inputs gave the same output: forward must compute the logits from "
            "its input x (through the encoder, the bottleneck and the decoder).",
        )


def _check_joins(task: str, case: NetCase, log) -> None:
    """One concatenation of 4-D feature maps per level, and the up-sampling ``case.up`` asks for."""
    joins = sum(1 for dim, ndim in log.cat_dims if ndim == 4)
    if joins < case.depth:
        raise CheckFailed(
            task,
            f"{case.describe()}: {joins} concatenation(s) of feature maps for {case.depth} levels.\nLikely mistake: "
            "the skip connections are added (or left out) instead of concatenated; U-Net joins the upsampled "
            "features and the skip with torch.cat([...], dim=1), so the decoder sees both",
        )
    transposed = "conv_transpose2d" in log.names
    interpolated = bool(log.names & {"interpolate", "upsample", "upsample_bilinear2d", "upsample_nearest2d"})
    if case.up == "bilinear" and interpolated and not transposed and "bilinear" not in log.interpolate_modes:
        raise CheckFailed(
            task,
            f"{case.describe()}: up='bilinear' upsampled with mode {sorted(set(log.interpolate_modes))}.\nLikely "
            "mistake: nn.Upsample's mode defaults to 'nearest'; pass mode='bilinear'",
        )
    if case.up == "bilinear" and (transposed or not interpolated):
        raise CheckFailed(
            task,
            f"{case.describe()}: up='bilinear' must upsample with nn.Upsample(scale_factor=2, mode='bilinear') "
            "(then a 1x1 convolution), "
            + ("but a transposed convolution ran." if transposed else "but no interpolation ran.")
            + "\nLikely mistake: the up argument is ignored",
        )
    pooled_max = any("max_pool" in name for name in log.names)
    if not pooled_max and any("avg_pool" in name for name in log.names):
        raise CheckFailed(
            task,
            f"{case.describe()}: the encoder downsamples with average pooling.\nLikely mistake: U-Net halves the "
            "resolution with 2x2 max pooling (F.max_pool2d(x, 2) or nn.MaxPool2d(2)), which keeps the strongest "
            "response of each window",
        )
    if case.up == "transpose" and not transposed:
        raise CheckFailed(
            task,
            f"{case.describe()}: up='transpose' must upsample with nn.ConvTranspose2d(c, c // 2, kernel_size=2, "
            "stride=2), but no transposed convolution ran.\nLikely mistake: the up argument is ignored",
        )


def _head_conv(head: nn.Module, num_classes: int) -> nn.Conv2d | None:
    """The final 1x1 convolution: the head itself, or the one convolution inside a small wrapping module."""
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) == 1 and convs[0].kernel_size == (1, 1):
        return convs[0]
    return None


def check_unet_head(UNet: Callable) -> None:  # noqa: N803
    """The output is the final 1x1 convolution's output: logits, not probabilities."""
    task = "UNet final layer"
    case = NetCase(3, 5, 2, 8, "transpose", 32, 32)
    model = case.build(UNet)
    _parts(model, task)
    head = _head_conv(model.head, case.num_classes) if isinstance(model.head, nn.Module) else None
    if head is None:
        convs = (
            [m for m in model.head.modules() if isinstance(m, nn.Conv2d)] if isinstance(model.head, nn.Module) else []
        )
        kind = type(model.head).__name__ + (
            f" with convolutions of kernel {[c.kernel_size for c in convs]}" if convs else " without a convolution"
        )
        raise CheckFailed(
            task, f"no final 1x1 convolution: head is a {kind}. It maps base_channels to num_classes per pixel."
        )
    if head.out_channels != case.num_classes:
        raise CheckFailed(
            task, f"the head has {head.out_channels} output channels, expected {case.num_classes} (classes)"
        )
    seen: list[torch.Tensor] = []
    h = head.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    try:
        model.eval()
        with torch.no_grad():
            out = call_student(task, model, torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3)))
    finally:
        h.remove()
    if not seen:
        raise CheckFailed(task, "the head (final 1x1 convolution) is never called in forward")
    logits = seen[-1][..., : out.shape[-2], : out.shape[-1]]
    if out.shape == logits.shape and torch.allclose(out, logits, atol=1e-6):
        return
    sums = out.sum(dim=1)
    if out.min() >= 0 and (torch.allclose(sums, torch.ones_like(sums), atol=1e-4) or out.max() <= 1):
        raise CheckFailed(
            task,
            "the network returns probabilities (softmax or sigmoid applied in forward): return the head's logits. "
            "nn.functional.cross_entropy applies log-softmax itself, and argmax needs no softmax.",
        )
    raise CheckFailed(task, "the network's output is not the output of its head (the final 1x1 convolution)")


#: Parameters of UNet(3, 5) with the defaults (depth 4, base 16, transposed convolutions), and the range accepted.
PARAMS_RANGE = (1_500_000, 2_400_000)


def check_unet_params(UNet: Callable) -> None:  # noqa: N803
    """``UNet(3, 5)`` with the default settings has a parameter count in ``PARAMS_RANGE``."""
    task = "UNet size"
    model = NetCase(3, 5, 4, 16, "transpose", 64, 64).build(UNet)
    n = sum(p.numel() for p in model.parameters())
    default = sum(p.numel() for p in call_student(task, UNet, 3, 5).parameters())
    if default != n:
        raise CheckFailed(
            task,
            f"UNet(3, 5) has {default:,} parameters and UNet(3, 5, depth=4, base_channels=16, up='transpose') {n:,}: "
            "the defaults must be depth=4, base_channels=16 and up='transpose'",
        )
    lo, hi = PARAMS_RANGE
    if not lo <= n <= hi:
        raise CheckFailed(
            task,
            f"UNet(3, 5) has {n:,} parameters; with depth=4, base_channels=16 and the blocks described in the "
            f"notebook it has between {lo:,} and {hi:,}. Check the channel widths (base_channels * 2**level).",
        )


def check_unet_device_and_eval(UNet: Callable) -> None:  # noqa: N803
    """The model runs on the grading device, and in eval mode each image's output is independent of the batch."""
    task = "UNet on the device, in eval mode"
    device = _device()
    case = NetCase(3, 5, 3, 8, "bilinear", 40, 40, batch=4)
    model = case.build(UNet).to(device)
    x = torch.randn(4, 3, 40, 40, generator=torch.Generator().manual_seed(4)).to(device)
    model.train()
    with torch.no_grad():
        call_student(task, model, x)  # one training-mode pass updates BatchNorm's running statistics
    model.eval()
    if any(m.training for m in model.modules()):
        raise CheckFailed(task, "after model.eval() some submodules are still in training mode")
    with torch.no_grad():
        out = call_student(task, model, x)
        alone = call_student(task, model, x[:1])
    if out.device.type != device.type:
        raise CheckFailed(task, f"the output is on {out.device}, the model and input on {device}")
    if not torch.allclose(out[:1], alone, atol=1e-4):
        raise CheckFailed(
            task,
            "in eval mode the output for an image depends on the other images in the batch: BatchNorm must use "
            "its running statistics (do not override train()/eval(), do not call F.batch_norm with training=True)",
        )
