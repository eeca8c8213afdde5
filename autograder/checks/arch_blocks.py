"""Checks of Assignment 3's building blocks: residual blocks, Inception modules, dense blocks and transitions.

The notebook fixes the interfaces and the conventions the checks rely on (a convolution followed by batch
norm has no bias; the convolutions of an Inception module have biases; the ReLU of a residual block comes
after the addition). Each block is built with several settings and checked by what it must do, not by how
its attributes are named:

* its output shape, and its parameter count against the formula the notebook derives — a projection
  shortcut missing when the stride is 2, one added where the identity suffices, or a bias before BatchNorm
  change the count in a way the message names;
* its behaviour in eval mode (fresh BatchNorm statistics): with every BatchNorm's scale and shift set to 0,
  the residual function is 0 and an identity block must return ``ReLU(x)``; with the 3x3 convolutions
  zeroed, a projection block is ``ReLU`` of a linear function of ``x``, which is non-zero only if the
  shortcut is used; a dense block's output starts with its input; a transition is
  BN → ReLU → 1x1 conv → 2x2 average pooling, checked against a reference made from its own weights;
* that it is the student's own module, not torchvision's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .common import CheckFailed, call_student

RELU_AFTER_ADD = (
    "ReLU placed before the addition: the block's output is y = ReLU(F(x) + shortcut(x)), with the last "
    "ReLU after the sum (a ReLU before it lets the block only add to x, never subtract)"
)


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def build(task: str, cls: Callable, *args: object, **kwargs: object) -> nn.Module:
    """Build the student's module (seeded), in eval mode, and require an ``nn.Module`` of their own."""
    torch.manual_seed(0)
    module = call_student(task, cls, *args, **kwargs)
    if not isinstance(module, nn.Module):
        raise CheckFailed(
            task, f"{task}(...) must create an nn.Module (subclass nn.Module), got {type(module).__name__}"
        )
    library = sorted(
        {
            type(m).__module__ + "." + type(m).__name__
            for m in module.modules()
            if type(m).__module__.startswith("torchvision.")
        }
    )
    if library:
        raise CheckFailed(
            task,
            f"uses torchvision's implementation ({', '.join(library)}): write the block yourself "
            "from nn.Conv2d, nn.BatchNorm2d and the other layers of torch.nn",
        )
    return module.eval()


def forward(task: str, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run the module without gradients; require a tensor."""
    with torch.no_grad():
        out = call_student(task, module, x)
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(task, f"forward must return a tensor, got {type(out).__name__}")
    return out


def require_shape(task: str, out: torch.Tensor, expected: tuple[int, ...], case: str, hint: str = "") -> None:
    if tuple(out.shape) != expected:
        raise CheckFailed(
            task,
            f"output has shape {tuple(out.shape)}, expected {expected} for {case}."
            + (f"\nLikely mistake: {hint}" if hint else ""),
        )


def zero_batchnorm_affine(module: nn.Module) -> None:
    """Set every BatchNorm's scale and shift to 0: in eval mode each then outputs 0."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                m.weight.zero_()
                m.bias.zero_()


def zero_convs(module: nn.Module, kernel: tuple[int, int]) -> None:
    """Set the weights (and biases) of every convolution with this kernel size to 0."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == kernel:
                m.weight.zero_()
                if m.bias is not None:
                    m.bias.zero_()


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return a.shape == b.shape and float((a - b).abs().max()) / scale < tol


# ----------------------------------------------------------------------------------------------------------
# residual blocks


@dataclass(frozen=True)
class BlockCase:
    """One way to build and call a residual block."""

    in_ch: int
    ch: int  # out_ch of BasicBlock, mid_ch of Bottleneck
    stride: int
    height: int
    width: int

    def describe(self, name: str) -> str:
        shape = (2, self.in_ch, self.height, self.width)
        return f"{name}({self.in_ch}, {self.ch}, stride={self.stride}) on input {shape}"

    def input(self) -> torch.Tensor:
        return torch.randn(2, self.in_ch, self.height, self.width, generator=torch.Generator().manual_seed(3))


BASIC_VISIBLE = [
    BlockCase(16, 16, 1, 8, 8),
    BlockCase(8, 16, 1, 8, 8),
    BlockCase(16, 16, 2, 9, 9),
    BlockCase(8, 32, 2, 8, 8),
]
BASIC_HIDDEN = [
    BlockCase(4, 4, 1, 7, 5),
    BlockCase(6, 12, 2, 10, 7),
    BlockCase(12, 12, 2, 6, 6),
    BlockCase(5, 3, 1, 6, 9),
]
BOTTLENECK_VISIBLE = [
    BlockCase(32, 8, 1, 8, 8),
    BlockCase(16, 8, 1, 8, 8),
    BlockCase(32, 8, 2, 9, 9),
    BlockCase(8, 16, 2, 8, 8),
]
BOTTLENECK_HIDDEN = [
    BlockCase(12, 3, 1, 7, 5),
    BlockCase(12, 4, 2, 10, 7),
    BlockCase(24, 6, 2, 6, 6),
    BlockCase(5, 2, 1, 6, 9),
]


def basic_block_params(in_ch: int, out_ch: int, stride: int) -> tuple[int, int]:
    """(parameters of the residual function F, parameters of the projection shortcut or 0)."""
    body = 9 * in_ch * out_ch + 9 * out_ch * out_ch + 2 * (2 * out_ch)
    projection = in_ch * out_ch + 2 * out_ch if (stride != 1 or in_ch != out_ch) else 0
    return body, projection


def bottleneck_params(in_ch: int, mid_ch: int, stride: int, expansion: int = 4) -> tuple[int, int]:
    """(parameters of the residual function F, parameters of the projection shortcut or 0)."""
    out_ch = expansion * mid_ch
    body = in_ch * mid_ch + 9 * mid_ch * mid_ch + mid_ch * out_ch + 2 * (mid_ch + mid_ch + out_ch)
    projection = in_ch * out_ch + 2 * out_ch if (stride != 1 or in_ch != out_ch) else 0
    return body, projection


def _check_param_count(
    task: str, got: int, body: int, projection: int, case: BlockCase, out_ch: int, conv_outputs: int
) -> None:
    """Compare with the formula; ``conv_outputs``: the output channels of all the block's convolutions."""
    expected = body + projection
    if got == expected:
        return
    head = f"{got} parameters, expected {expected} for {case.describe(task)}."
    if projection and got == body:
        if case.stride != 1 and case.in_ch == out_ch:
            why = (
                "no shortcut projection when the stride is 2: F(x) then has half the height and width of x, so "
                "the shortcut needs a 1x1 convolution with stride 2 (and BatchNorm) even when the channels agree"
            )
        else:
            why = "no projection shortcut although the channels change: use a 1x1 convolution and BatchNorm"
        raise CheckFailed(task, f"{head}\nLikely mistake: {why}")
    if not projection and got == body + case.in_ch * out_ch + 2 * out_ch:
        raise CheckFailed(
            task,
            f"{head}\nLikely mistake: a projection shortcut where the identity suffices "
            "(same channels and stride 1: the shortcut is x itself)",
        )
    if got == expected + conv_outputs:
        raise CheckFailed(
            task,
            f"{head}\nLikely mistake: convolutions followed by BatchNorm have a bias; use "
            "bias=False (BatchNorm's shift makes it redundant)",
        )
    raise CheckFailed(task, f"{head} F has {body} by the formula and the projection {projection}.")


def _check_residual(task: str, module_factory: Callable[[], nn.Module], case: BlockCase, out_ch: int) -> None:
    """Shape, ReLU after the addition, and a shortcut that is there and used."""
    needs_projection = case.stride != 1 or case.in_ch != out_ch
    module = module_factory()
    x = case.input()
    try:
        out = forward(task, module, x)
    except CheckFailed as err:
        if needs_projection and "size" in err.message:
            raise CheckFailed(
                task,
                f"{err.message}\nLikely mistake: the shortcut does not project x to the shape "
                "of F(x) (a 1x1 convolution with the block's stride, then BatchNorm)",
            ) from err
        raise
    expected = (2, out_ch, math.ceil(case.height / case.stride), math.ceil(case.width / case.stride))
    require_shape(
        task,
        out,
        expected,
        case.describe(task),
        "the stride belongs to the first 3x3 convolution (padding 1) and to the projection shortcut",
    )
    if float(out.min()) < 0:
        raise CheckFailed(
            task, f"the output has negative values for {case.describe(task)}.\nLikely mistake: {RELU_AFTER_ADD}"
        )
    if not needs_projection:
        zero_batchnorm_affine(module)
        out = forward(task, module, x)
        if close(out, torch.relu(x)):
            return
        if float(out.abs().max()) == 0:
            why = "the shortcut is missing: with F(x) = 0 an identity block must return ReLU(x), got all zeros"
        elif close(out, x):
            why = RELU_AFTER_ADD
        else:
            why = "with F(x) = 0 (every BatchNorm scaled to 0) the block must return ReLU(x + 0) = ReLU(x)"
        raise CheckFailed(task, f"wrong output for {case.describe(task)}.\nLikely mistake: {why}")
    zero_convs(module, (3, 3))
    g = torch.Generator().manual_seed(4)
    x1, x2 = torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g)

    def odd_part(v: torch.Tensor) -> torch.Tensor:  # ReLU(z) - ReLU(-z) = z for the linear shortcut z
        return forward(task, module, v) - forward(task, module, -v)

    s1, s2, s12 = odd_part(x1), odd_part(x2), odd_part(x1 + x2)
    if float(s12.abs().max()) == 0:
        raise CheckFailed(
            task,
            f"the shortcut is not used for {case.describe(task)}: with the 3x3 convolutions "
            "set to 0 the output is 0 whatever x is; add the projected x to F(x)",
        )
    if not close(s12, s1 + s2, 1e-4):
        raise CheckFailed(
            task,
            f"the shortcut of {case.describe(task)} is not a projection: with F(x) = 0 the "
            "block must return ReLU(BN(conv1x1(x))), a ReLU of a linear function of x",
        )


def check_basic_block(BasicBlock: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``BasicBlock(in_ch, out_ch, stride=1)``: conv3x3(stride)-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU."""
    task = "BasicBlock"
    for case in BASIC_HIDDEN if hidden else BASIC_VISIBLE:
        module = build(task, BasicBlock, case.in_ch, case.ch, stride=case.stride)
        body, projection = basic_block_params(case.in_ch, case.ch, case.stride)
        biases = 2 * case.ch + (case.ch if projection else 0)
        _check_param_count(task, count_params(module), body, projection, case, case.ch, biases)
        _check_residual(task, lambda c=case: build(task, BasicBlock, c.in_ch, c.ch, stride=c.stride), case, case.ch)


def check_bottleneck(Bottleneck: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``Bottleneck(in_ch, mid_ch, stride=1)``: 1x1-BN-ReLU, 3x3(stride)-BN-ReLU, 1x1 to 4*mid_ch-BN, shortcut, ReLU."""
    task = "Bottleneck"
    for case in BOTTLENECK_HIDDEN if hidden else BOTTLENECK_VISIBLE:
        module = build(task, Bottleneck, case.in_ch, case.ch, stride=case.stride)
        out_ch = 4 * case.ch
        body, projection = bottleneck_params(case.in_ch, case.ch, case.stride)
        biases = 2 * case.ch + out_ch + (out_ch if projection else 0)
        _check_param_count(task, count_params(module), body, projection, case, out_ch, biases)
        _check_residual(task, lambda c=case: build(task, Bottleneck, c.in_ch, c.ch, stride=c.stride), case, out_ch)


# ----------------------------------------------------------------------------------------------------------
# Inception


@dataclass(frozen=True)
class InceptionCase:
    in_ch: int
    c1: int
    c3r: int
    c3: int
    c5r: int
    c5: int
    pool_proj: int
    naive: bool = False

    @property
    def args(self) -> tuple[int, ...]:
        return (self.in_ch, self.c1, self.c3r, self.c3, self.c5r, self.c5, self.pool_proj)

    def describe(self, name: str) -> str:
        return f"{name}{self.args + ()}" + (", naive=True" if self.naive else "")

    @property
    def out_channels(self) -> int:
        return self.c1 + self.c3 + self.c5 + (self.in_ch if self.naive else self.pool_proj)


def inception_reference_params(
    in_ch: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int, naive: bool = False
) -> int:
    """Parameters (weights and biases) of an Inception module: naive, or with 1x1 reductions."""
    if naive:
        return in_ch * c1 + c1 + 9 * in_ch * c3 + c3 + 25 * in_ch * c5 + c5
    return (
        in_ch * c1
        + c1
        + in_ch * c3r
        + c3r
        + 9 * c3r * c3
        + c3
        + in_ch * c5r
        + c5r
        + 25 * c5r * c5
        + c5
        + in_ch * pool_proj
        + pool_proj
    )


def _without_biases(case: InceptionCase) -> int:
    if case.naive:
        return case.in_ch * case.c1 + 9 * case.in_ch * case.c3 + 25 * case.in_ch * case.c5
    return (
        case.in_ch * case.c1
        + case.in_ch * case.c3r
        + 9 * case.c3r * case.c3
        + case.in_ch * case.c5r
        + 25 * case.c5r * case.c5
        + case.in_ch * case.pool_proj
    )


INCEPTION_VISIBLE = [
    InceptionCase(192, 64, 96, 128, 16, 32, 32),
    InceptionCase(192, 64, 96, 128, 16, 32, 32, True),
    InceptionCase(8, 4, 2, 6, 2, 3, 5),
    InceptionCase(8, 4, 2, 6, 2, 3, 5, True),
]
INCEPTION_HIDDEN = [
    InceptionCase(256, 128, 128, 192, 32, 96, 64),
    InceptionCase(480, 192, 96, 208, 16, 48, 64, True),
    InceptionCase(5, 3, 4, 7, 1, 2, 6),
    InceptionCase(6, 1, 3, 2, 5, 4, 3, True),
]


def check_inception_params(inception_params: Callable, hidden: bool = False) -> None:
    """``inception_params(in_ch, c1, c3r, c3, c5r, c5, pool_proj, naive=False)``: the count by the formula."""
    task = "inception_params"
    for case in INCEPTION_HIDDEN if hidden else INCEPTION_VISIBLE:
        got = call_student(task, inception_params, *case.args, naive=case.naive)
        expected = inception_reference_params(*case.args, naive=case.naive)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or got != expected:
            hint = ""
            if got == _without_biases(case):
                hint = "\nLikely mistake: biases not counted (each convolution has one bias per output channel)"
            elif case.naive and got == inception_reference_params(*case.args):
                hint = "\nLikely mistake: the naive module has no 1x1 reductions and no projection after pooling"
            raise CheckFailed(task, f"returned {got!r}, expected {expected} for {case.describe(task)}{hint}")


def check_inception(Inception: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``Inception(in_ch, c1, c3r, c3, c5r, c5, pool_proj, naive=False)``: four branches concatenated on channels."""
    task = "Inception"
    g = torch.Generator().manual_seed(5)
    for case in INCEPTION_HIDDEN if hidden else INCEPTION_VISIBLE:
        module = build(task, Inception, *case.args, naive=case.naive)
        expected_params = inception_reference_params(*case.args, naive=case.naive)
        got_params = count_params(module)
        if got_params != expected_params:
            hint = ""
            if got_params == _without_biases(case):
                hint = "\nLikely mistake: convolutions without bias (the module has no BatchNorm; keep the biases)"
            elif case.naive and got_params == inception_reference_params(*case.args):
                hint = "\nLikely mistake: naive=True must leave out the 1x1 reductions and the pooling projection"
            raise CheckFailed(
                task, f"{got_params} parameters, expected {expected_params} for {case.describe(task)}{hint}"
            )
        h, w = (7, 9) if case.in_ch < 100 else (5, 5)
        x = torch.randn(2, case.in_ch, h, w, generator=g)
        out = forward(task, module, x)
        require_shape(
            task,
            out,
            (2, case.out_channels, h, w),
            case.describe(task),
            "the branches keep the height and width (padding k // 2; pooling 3x3, stride 1, padding 1) "
            "and are concatenated along the channels, dim=1",
        )
        if case.naive:
            pooled = F.max_pool2d(x, 3, stride=1, padding=1)
            if not close(out[:, -case.in_ch :], pooled):
                raise CheckFailed(
                    task,
                    f"the last {case.in_ch} channels of {case.describe(task)} must be the "
                    "3x3 max-pooled input (branches in the order 1x1, 3x3, 5x5, pool)",
                )
        elif float(out.min()) < 0:
            raise CheckFailed(
                task,
                f"negative outputs for {case.describe(task)}: every convolution of the module is followed by a ReLU",
            )


# ----------------------------------------------------------------------------------------------------------
# DenseNet


def dense_block_params(in_ch: int, growth: int, n_layers: int) -> int:
    """Parameters of a dense block of BN-ReLU-conv3x3 (no bias) layers."""
    return sum(2 * (in_ch + i * growth) + 9 * (in_ch + i * growth) * growth for i in range(n_layers))


DENSE_VISIBLE = [(8, 4, 3, 6, 6), (16, 12, 4, 8, 8), (3, 2, 1, 5, 7)]
DENSE_HIDDEN = [(5, 3, 5, 7, 6), (24, 12, 2, 4, 4), (2, 7, 3, 9, 5)]


def check_dense_block(DenseBlock: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``DenseBlock(in_ch, growth, n_layers)``: x_l = H_l([x_0, ..., x_{l-1}]), output [x_0, ..., x_L]."""
    task = "DenseBlock"
    g = torch.Generator().manual_seed(6)
    for in_ch, growth, n_layers, h, w in DENSE_HIDDEN if hidden else DENSE_VISIBLE:
        case = f"DenseBlock({in_ch}, growth={growth}, n_layers={n_layers}) on input (2, {in_ch}, {h}, {w})"
        module = build(task, DenseBlock, in_ch, growth, n_layers)
        out_ch = in_ch + n_layers * growth
        if getattr(module, "out_channels", None) != out_ch:
            raise CheckFailed(
                task,
                f"out_channels is {getattr(module, 'out_channels', None)!r}, expected "
                f"in_ch + n_layers * growth = {out_ch} for {case}",
            )
        x = torch.randn(2, in_ch, h, w, generator=g)
        out = forward(task, module, x)
        if tuple(out.shape) == (2, growth, h, w):
            raise CheckFailed(
                task,
                f"output has {growth} channels for {case}, expected {out_ch}.\nLikely mistake: "
                "each layer's new features replace its input instead of being concatenated to it",
            )
        require_shape(task, out, (2, out_ch, h, w), case, "each layer adds growth channels: torch.cat([x, new], dim=1)")
        if not close(out[:, :in_ch], x):
            hint = (
                "concatenated in the wrong order: torch.cat([x, new], dim=1) keeps x first"
                if close(out[:, -in_ch:], x)
                else "the block's output must start with its input x, unchanged"
            )
            raise CheckFailed(
                task, f"the first {in_ch} output channels are not the input for {case}.\nLikely mistake: {hint}"
            )
        expected = dense_block_params(in_ch, growth, n_layers)
        got = count_params(module)
        if got != expected:
            hint = ""
            if got == sum(
                2 * (in_ch if i == 0 else growth) + 9 * (in_ch if i == 0 else growth) * growth for i in range(n_layers)
            ):
                hint = "\nLikely mistake: each layer sees only the previous layer's features, not all earlier ones"
            elif got == expected + n_layers * growth:
                hint = "\nLikely mistake: the convolutions have a bias (use bias=False; BatchNorm comes first here)"
            raise CheckFailed(task, f"{got} parameters, expected {expected} for {case}{hint}")


TRANSITION_VISIBLE = [(8, 4, 8, 8), (12, 6, 6, 10)]
TRANSITION_HIDDEN = [(10, 5, 9, 7), (6, 6, 4, 4)]


def check_transition(Transition: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``Transition(in_ch, out_ch)``: BN -> ReLU -> 1x1 conv (no bias) -> 2x2 average pooling."""
    task = "Transition"
    g = torch.Generator().manual_seed(7)
    for in_ch, out_ch, h, w in TRANSITION_HIDDEN if hidden else TRANSITION_VISIBLE:
        case = f"Transition({in_ch}, {out_ch}) on input (2, {in_ch}, {h}, {w})"
        module = build(task, Transition, in_ch, out_ch)
        expected = 2 * in_ch + in_ch * out_ch
        got = count_params(module)
        if got != expected:
            hint = (
                "\nLikely mistake: the 1x1 convolution has a bias (use bias=False)" if got == expected + out_ch else ""
            )
            raise CheckFailed(
                task,
                f"{got} parameters, expected {expected} (BatchNorm 2*in_ch, 1x1 conv in_ch*out_ch) for {case}{hint}",
            )
        norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        if len(norms) != 1 or len(convs) != 1:
            raise CheckFailed(task, f"expected one BatchNorm2d and one 1x1 Conv2d in {case}")
        with torch.no_grad():  # statistics and affine far from the defaults, so the order of the layers shows
            norms[0].running_mean.uniform_(-1, 1, generator=g)
            norms[0].running_var.uniform_(0.5, 2, generator=g)
            norms[0].weight.uniform_(0.5, 1.5, generator=g)
            norms[0].bias.uniform_(-0.5, 0.5, generator=g)
        x = torch.randn(2, in_ch, h, w, generator=g)
        out = forward(task, module, x)
        with torch.no_grad():
            features = convs[0](torch.relu(norms[0](x)))
        require_shape(
            task,
            out,
            (2, out_ch, h // 2, w // 2),
            case,
            "2x2 pooling with stride 2 halves the height and width (rounding down)",
        )
        if close(out, F.max_pool2d(features, 2)):
            raise CheckFailed(
                task,
                f"wrong output for {case}.\nLikely mistake: max pooling; DenseNet's transition "
                "uses 2x2 average pooling",
            )
        if not close(out, F.avg_pool2d(features, 2)):
            raise CheckFailed(
                task, f"wrong output for {case}: expected BN -> ReLU -> 1x1 conv -> 2x2 average pooling, in that order"
            )
