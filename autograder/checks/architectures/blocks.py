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

Layers are found by what they are, however they are written: a convolution's padding may be given as a number or
as ``"same"``/``"valid"``, and a weight the block registers as a parameter and applies with ``F.conv2d`` counts as a
convolution too (its output must then match the reference computed from it like any other). A number a function
returns (a parameter count, an accuracy) may be a Python, NumPy or one-element torch number (``as_number``).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..common import CheckFailed, as_number, call_student, case_of, grader_only
from ..expected import expect
from ..references import grader_reference


def _hidden():
    """The hidden cases (grader only)."""
    return grader_only("architectures")


RELU_AFTER_ADD = (
    "ReLU placed before the addition: the block's output is y = ReLU(F(x) + shortcut(x)), with the last "
    "ReLU after the sum (a ReLU before it lets the block only add to x, never subtract)"
)
BN_AFTER_ADD = (
    "BatchNorm placed after the addition: the last BatchNorm belongs to F, before the sum, "
    "y = ReLU(BN(conv(...)) + shortcut(x)); normalising the sum rescales the shortcut too, so the block can no "
    "longer pass x through unchanged"
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
            base.__module__ + "." + base.__name__
            for m in module.modules()
            for base in type(m).__mro__
            if (getattr(base, "__module__", "") or "").startswith("torchvision.")
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
    """Run the module without gradients on a copy of ``x`` (a forward that wrote into its input would change what
    the check computes its expectation from); require a tensor."""
    with torch.no_grad():
        out = call_student(task, module, x.clone())
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
    """Set the weights (and biases) of every convolution with this kernel size to 0, modules and weights applied
    with ``F.conv2d`` alike."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == kernel:
                m.weight.zero_()
                if m.bias is not None:
                    m.bias.zero_()
        for weight, bias in _functional_weights(module):
            if tuple(weight.shape[-2:]) == kernel:
                weight.zero_()
                if bias is not None:
                    bias.zero_()


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    """Same shape and relative error below ``tol``; NaN or infinity is never close."""
    if a.shape != b.shape or not bool(torch.isfinite(a).all()) or not bool(torch.isfinite(b).all()):
        return False
    if a.numel() == 0:
        return True
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return float((a - b).abs().max()) / scale < tol


def randomise_batchnorm(module: nn.Module, seed: int) -> None:
    """Give every BatchNorm running statistics and an affine map far from the defaults (seeded), so that in eval
    mode each one changes its input and the order of the layers shows in the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                if m.running_mean is not None:
                    m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
                    m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(n, generator=g) - 0.5)


def _functional_weights(module: nn.Module) -> list[tuple[nn.Parameter, nn.Parameter | None]]:
    """The convolution weights a module registers as parameters of its own and applies with ``F.conv2d``: every 4-D
    parameter with a square kernel of odd size that is no convolution module's weight, each with its bias when the
    module registers one named like it (``bias`` for ``weight``, ``b`` for a leading ``w``) of one value per output
    channel, else None."""
    owned = {id(m.weight) for m in module.modules() if isinstance(m, nn.modules.conv._ConvNd)}
    params = dict(module.named_parameters())
    found = []
    for name, weight in params.items():
        if (
            weight.dim() != 4
            or id(weight) in owned
            or weight.shape[-1] != weight.shape[-2]
            or weight.shape[-1] % 2 == 0
        ):
            continue
        prefix, _, leaf = name.rpartition(".")
        if "weight" in leaf:
            bias_leaf = leaf.replace("weight", "bias")
        elif leaf.startswith("w"):
            bias_leaf = "b" + leaf[1:]
        else:
            bias_leaf = ""
        bias = params.get(f"{prefix}.{bias_leaf}" if prefix else bias_leaf) if bias_leaf else None
        if bias is not None and tuple(bias.shape) != (weight.shape[0],):
            bias = None
        found.append((weight, bias))
    return found


def convs_of(module: nn.Module, strides: Sequence[int] = (1,)) -> list[nn.Conv2d]:
    """The module's convolutions: its ``nn.Conv2d`` layers, and for each weight it applies with ``F.conv2d``
    (``_functional_weights``) a ``Conv2d`` sharing that weight (and bias), padded by k // 2, once for each of
    ``strides`` (the function's stride is not stored anywhere). The checks match them to the roles a block needs like
    any other convolution; a functional convolution called with another stride or padding then shows in the output."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    for weight, bias in _functional_weights(module):
        out_ch, in_ch, k, _ = weight.shape
        for stride in dict.fromkeys(strides):
            conv = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2, bias=False, device="meta")
            conv.weight = weight  # shared: zeroing or reading it reads the student's parameter
            if bias is not None:
                conv.bias = bias
            convs.append(conv)
    return convs


def norms_of(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def assignments(slots: Sequence[Callable[[nn.Module], bool]], pool: Sequence[nn.Module]) -> Iterator[list[nn.Module]]:
    """Every way to fill the slots (each a predicate) with distinct modules of ``pool`` (few: the checks' blocks
    have at most a handful of layers of the same shape). The checks try each, so a block passes whatever its
    layers are called and in whatever order it registers them."""
    for chosen in itertools.permutations(pool, len(slots)):
        weights = [id(m.weight) for m in chosen if isinstance(m, nn.Conv2d)]
        if len(set(weights)) == len(weights) and all(fits(m) for fits, m in zip(slots, chosen)):
            yield list(chosen)


def padding_of(m: nn.Conv2d) -> tuple[int, ...]:
    """The zeros a convolution adds before each spatial axis: its ``padding`` as numbers, ``"valid"`` meaning none and
    ``"same"`` (stride 1 only) half of what the dilated kernel spans, the rest going after."""
    if m.padding == "valid":
        return (0,) * len(m.kernel_size)
    if m.padding == "same":
        return tuple(d * (k - 1) // 2 for d, k in zip(m.dilation, m.kernel_size))
    return tuple(m.padding)


def conv_shape(in_ch: int, out_ch: int, k: int, stride: int = 1, bias: bool | None = None) -> Callable:
    """A predicate: a k x k convolution from in_ch to out_ch channels with this stride, padding k // 2 (given as a
    number or as ``"same"``/``"valid"``) and, unless ``bias`` is None, with or without a bias."""

    def fits(m: nn.Module) -> bool:
        return (
            isinstance(m, nn.Conv2d)
            and (m.in_channels, m.out_channels, tuple(m.kernel_size), tuple(m.stride))
            == (in_ch, out_ch, (k, k), (stride, stride))
            and padding_of(m) == (k // 2, k // 2)
            and (bias is None or (m.bias is not None) == bias)
        )

    return fits


def norm_of(features: int) -> Callable:
    return lambda m: isinstance(m, nn.modules.batchnorm._BatchNorm) and m.num_features == features


def first_match(out: torch.Tensor, candidates: Sequence[tuple[str, Callable[[], torch.Tensor]]]) -> str | None:
    """The name of the first candidate output (built lazily) that ``out`` equals, or None."""
    for name, make in candidates:
        try:
            value = make()
        except RuntimeError:
            continue
        if close(out, value, 1e-4):
            return name
    return None


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
BOTTLENECK_VISIBLE = [
    BlockCase(32, 8, 1, 8, 8),
    BlockCase(16, 8, 1, 8, 8),
    BlockCase(32, 8, 2, 9, 9),
    BlockCase(8, 16, 2, 8, 8),
]


@grader_reference
def basic_block_params(in_ch: int, out_ch: int, stride: int) -> tuple[int, int]:
    """(parameters of the residual function F, parameters of the projection shortcut or 0)."""
    body = 9 * in_ch * out_ch + 9 * out_ch * out_ch + 2 * (2 * out_ch)
    projection = in_ch * out_ch + 2 * out_ch if (stride != 1 or in_ch != out_ch) else 0
    return body, projection


@grader_reference
def bottleneck_params(in_ch: int, mid_ch: int, stride: int, expansion: int = 4) -> tuple[int, int]:
    """(parameters of the residual function F, parameters of the projection shortcut or 0)."""
    out_ch = expansion * mid_ch
    body = in_ch * mid_ch + 9 * mid_ch * mid_ch + mid_ch * out_ch + 2 * (mid_ch + mid_ch + out_ch)
    projection = in_ch * out_ch + 2 * out_ch if (stride != 1 or in_ch != out_ch) else 0
    return body, projection


def _check_param_count(
    task: str,
    got: int,
    body: int,
    projection: int,
    case: BlockCase,
    out_ch: int,
    conv_outputs: int,
    module: nn.Module | None = None,
) -> None:
    """Compare with the formula; ``conv_outputs``: the output channels of all the block's convolutions; ``module``:
    the block, run to see where a missing BatchNorm is."""
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
    if projection and got == expected - 2 * out_ch and module is not None:
        if _projection_feeds_a_norm(task, module, case, out_ch) is False:
            why = (
                "the projection shortcut has no BatchNorm: it is BN(W_s * x), a 1x1 convolution with the block's "
                "stride (no bias), then BatchNorm"
            )
        else:
            why = (
                f"a BatchNorm of {out_ch} channels is missing: each convolution of F is followed by BatchNorm, and so "
                "is the 1x1 convolution of the projection shortcut"
            )
        raise CheckFailed(task, f"{head}\nLikely mistake: {why}")
    raise CheckFailed(task, f"{head} F has {body} by the formula and the projection {projection}.")


def _projection_feeds_a_norm(task: str, module: nn.Module, case: BlockCase, out_ch: int) -> bool | None:
    """Whether the 1x1 convolution that projects the block's input to ``out_ch`` channels hands its output to a
    BatchNorm (followed through one forward pass by hooks); None when no such convolution runs."""
    x = case.input()
    projected: list[torch.Tensor] = []
    normalised: list[torch.Tensor] = []

    def on_conv(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if tuple(m.kernel_size) == (1, 1) and m.out_channels == out_ch and args and args[0] is x:
            projected.append(out)

    def on_norm(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if args:
            normalised.append(args[0])

    hooks = [m.register_forward_hook(on_conv) for m in module.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(on_norm) for m in norms_of(module)]
    try:
        with torch.no_grad():
            call_student(task, module, x)
    except CheckFailed:
        return None
    finally:
        for hook in hooks:
            hook.remove()
    if not projected:
        return None
    return any(inp is out for out in projected for inp in normalised)


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
        if float(out.abs().max()) == 0 and _norm_after_sum(task, module_factory(), x):
            why = BN_AFTER_ADD
        elif float(out.abs().max()) == 0:
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


def _norm_after_sum(task: str, module: nn.Module, x: torch.Tensor) -> bool:
    """Whether an identity block whose output vanishes with every BatchNorm scaled to 0 has its shortcut after all:
    with its 3x3 convolutions zeroed instead (BatchNorm fresh: about the identity in eval mode) it returns about
    ReLU(x), so x went through a BatchNorm: the last one sits after the addition."""
    zero_convs(module, (3, 3))
    zero_convs(module, (1, 1))
    out = forward(task, module, x)
    return close(out, torch.relu(x), 1e-2)


def _residual_candidates(
    body: Callable[..., torch.Tensor],
    shortcut: Callable[[torch.Tensor], torch.Tensor],
    bare: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
) -> tuple[torch.Tensor, list[tuple[str, Callable[[], torch.Tensor]]]]:
    """The right output and typical wrong ones, from ``body(x, variant)`` (F(x) built from the block's own layers,
    right or with one typical change; ``body(x, "norm after sum", s)`` is the last BatchNorm applied to F's last
    convolution plus ``s``), ``shortcut(x)`` and ``bare(x)`` (the projection without its BatchNorm)."""
    relu = torch.relu
    right = relu(body(x, "") + shortcut(x))
    wrong = [
        (RELU_AFTER_ADD, lambda: relu(relu(body(x, "")) + shortcut(x))),
        (BN_AFTER_ADD, lambda: relu(body(x, "norm after sum", shortcut(x)))),
        ("no ReLU after the addition: y = ReLU(F(x) + shortcut(x))", lambda: body(x, "") + shortcut(x)),
        ("the shortcut is not added: y = ReLU(F(x) + shortcut(x))", lambda: relu(body(x, ""))),
        (
            "a ReLU inside F is missing: each convolution's BatchNorm is followed by a ReLU, except the last one, "
            "whose ReLU comes after the addition",
            lambda: relu(body(x, "no inner relu") + shortcut(x)),
        ),
        (
            "BatchNorm and ReLU in the wrong order: conv -> BN -> ReLU",
            lambda: relu(body(x, "relu before bn") + shortcut(x)),
        ),
        ("the shortcut's projection has no BatchNorm", lambda: relu(body(x, "") + bare(x))),
    ]
    return right, wrong


def _check_values(
    task: str,
    module: nn.Module,
    case: BlockCase,
    conv_slots: list[Callable],
    norm_slots: list[Callable],
    make_body: Callable[[list[nn.Module], list[nn.Module]], Callable[..., torch.Tensor]],
    projection: bool,
    stride_hint: Callable[[list[ConvCall]], str],
) -> None:
    """The block's output equals ReLU(F(x) + shortcut(x)) computed from its own layers (BatchNorm statistics and
    scales set far from the defaults), for some way of matching its layers to the roles they must play.
    ``stride_hint`` names a stride put on the wrong convolution, from the convolutions the block calls."""
    randomise_batchnorm(module, 11)
    x = case.input()
    out = forward(task, module, x)
    conv_ways = list(assignments(conv_slots, convs_of(module, (1, case.stride))))
    norm_ways = list(assignments(norm_slots, norms_of(module)))
    if not conv_ways or not norm_ways:
        hint = stride_hint(_conv_calls(task, module, x))
        raise CheckFailed(
            task,
            f"cannot find the layers the block needs in {case.describe(task)}: expected {len(conv_slots)} "
            f"convolutions without bias and {len(norm_slots)} BatchNorm layers of the sizes the notebook gives"
            + (f".\nLikely mistake: {hint}" if hint else ""),
        )
    mistakes = []
    with torch.no_grad():
        for convs in conv_ways:
            for norms in norm_ways:
                body = make_body(convs, norms)
                if projection:
                    proj_conv, proj_norm = convs[-1], norms[-1]

                    def shortcut(v: torch.Tensor, c=proj_conv, n=proj_norm) -> torch.Tensor:
                        return n(c(v))

                    def bare(v: torch.Tensor, c=proj_conv) -> torch.Tensor:
                        return c(v)
                else:

                    def shortcut(v: torch.Tensor) -> torch.Tensor:
                        return v

                    def bare(v: torch.Tensor) -> torch.Tensor:
                        raise RuntimeError("no projection")

                right, wrong = _residual_candidates(body, shortcut, bare, x)
                if close(out, right, 1e-4):
                    return
                mistakes.append(wrong)
        why = stride_hint(_conv_calls(task, module, x))
        for wrong in mistakes:  # every matching of the layers: a role taken by another layer of the same size
            why = why or first_match(out, wrong)
    if why:
        raise CheckFailed(task, f"wrong output for {case.describe(task)}.\nLikely mistake: {why}")
    raise CheckFailed(
        task,
        f"wrong output for {case.describe(task)}: it is not ReLU(F(x) + shortcut(x)) computed from the block's "
        "own layers (in eval mode, with BatchNorm statistics set away from the defaults)",
    )


@dataclass(frozen=True)
class ConvCall:
    """One call of one of a block's ``nn.Conv2d`` layers in a forward pass: its kernel size, stride, output channels,
    and whether it was applied to the block's input itself."""

    kernel: int
    stride: int
    out_channels: int
    on_input: bool


def _conv_calls(task: str, module: nn.Module, x: torch.Tensor) -> list[ConvCall]:
    """The block's convolution layers in the order one forward pass calls them (empty if the pass fails)."""
    calls: list[ConvCall] = []
    x = x.clone()

    def on_conv(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        calls.append(ConvCall(m.kernel_size[0], m.stride[0], m.out_channels, bool(args) and args[0] is x))

    hooks = [m.register_forward_hook(on_conv) for m in module.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            call_student(task, module, x)
    except CheckFailed:
        return []
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def _basic_stride_hint(calls: list[ConvCall]) -> str:
    """Names the stride of a BasicBlock put on its second 3x3 convolution."""
    threes = [c for c in calls if c.kernel == 3]
    if len(threes) == 2 and threes[0].stride == 1 and threes[1].stride != 1:
        return (
            "the stride is on the second 3x3 convolution; it belongs to the first one (W_1, with padding 1), so that "
            "F works at the reduced size from its first layer on, and to the projection shortcut"
        )
    return ""


def _bottleneck_stride_hint(out_ch: int) -> Callable[[list[ConvCall]], str]:
    """Names the stride of a Bottleneck put on one of the 1x1 convolutions of F instead of the 3x3 one."""

    def hint(calls: list[ConvCall]) -> str:
        threes = [c for c in calls if c.kernel == 3]
        body_ones = [c for c in calls if c.kernel == 1 and not (c.on_input and c.out_channels == out_ch)]
        if threes and all(c.stride == 1 for c in threes) and any(c.stride != 1 for c in body_ones):
            return (
                "the stride is on a 1x1 convolution of F (the original ResNet put it on the first one); the notebook "
                "puts it on the 3x3 convolution, as torchvision's ResNet v1.5 does"
            )
        return ""

    return hint


@grader_reference
def _basic_body(convs: list[nn.Module], norms: list[nn.Module]) -> Callable[..., torch.Tensor]:
    conv1, conv2 = convs[0], convs[1]
    bn1, bn2 = norms[0], norms[1]

    def body(x: torch.Tensor, variant: str, added: torch.Tensor | None = None) -> torch.Tensor:
        if variant == "norm after sum":
            return bn2(conv2(torch.relu(bn1(conv1(x)))) + added)
        if variant == "no inner relu":
            return bn2(conv2(bn1(conv1(x))))
        if variant == "relu before bn":
            return bn2(conv2(bn1(torch.relu(conv1(x)))))
        return bn2(conv2(torch.relu(bn1(conv1(x)))))

    return body


@grader_reference
def _bottleneck_body(convs: list[nn.Module], norms: list[nn.Module]) -> Callable[..., torch.Tensor]:
    conv1, conv2, conv3 = convs[:3]
    bn1, bn2, bn3 = norms[:3]

    def body(x: torch.Tensor, variant: str, added: torch.Tensor | None = None) -> torch.Tensor:
        if variant == "norm after sum":
            return bn3(conv3(torch.relu(bn2(conv2(torch.relu(bn1(conv1(x))))))) + added)
        if variant == "no inner relu":
            return bn3(conv3(bn2(conv2(bn1(conv1(x))))))
        if variant == "relu before bn":
            return bn3(conv3(bn2(torch.relu(conv2(bn1(torch.relu(conv1(x))))))))
        return bn3(conv3(torch.relu(bn2(conv2(torch.relu(bn1(conv1(x))))))))

    return body


def check_basic_block(BasicBlock: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``BasicBlock(in_ch, out_ch, stride=1)``: conv3x3(stride)-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU."""
    task = "BasicBlock"
    cases = list(_hidden().BASIC if hidden else BASIC_VISIBLE)
    for index, case in enumerate(cases):
        with case_of(index, len(cases)):
            module = build(task, BasicBlock, case.in_ch, case.ch, stride=case.stride)
            body, projection = basic_block_params(case.in_ch, case.ch, case.stride)
            biases = 2 * case.ch + (case.ch if projection else 0)
            _check_param_count(task, count_params(module), body, projection, case, case.ch, biases, module)
            _check_residual(task, lambda c=case: build(task, BasicBlock, c.in_ch, c.ch, stride=c.stride), case, case.ch)
            i, o, st = case.in_ch, case.ch, case.stride
            convs = [conv_shape(i, o, 3, st, False), conv_shape(o, o, 3, 1, False)]
            norms = [norm_of(o), norm_of(o)]
            if projection:
                convs.append(conv_shape(i, o, 1, st, False))
                norms.append(norm_of(o))
            _check_values(task, module, case, convs, norms, _basic_body, bool(projection), _basic_stride_hint)


def check_bottleneck(Bottleneck: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``Bottleneck(in_ch, mid_ch, stride=1)``: 1x1-BN-ReLU, 3x3(stride)-BN-ReLU, 1x1 to 4*mid_ch-BN, shortcut, ReLU."""
    task = "Bottleneck"
    cases = list(_hidden().BOTTLENECK if hidden else BOTTLENECK_VISIBLE)
    for index, case in enumerate(cases):
        with case_of(index, len(cases)):
            module = build(task, Bottleneck, case.in_ch, case.ch, stride=case.stride)
            out_ch = 4 * case.ch
            body, projection = bottleneck_params(case.in_ch, case.ch, case.stride)
            biases = 2 * case.ch + out_ch + (out_ch if projection else 0)
            _check_param_count(task, count_params(module), body, projection, case, out_ch, biases, module)
            _check_residual(task, lambda c=case: build(task, Bottleneck, c.in_ch, c.ch, stride=c.stride), case, out_ch)
            i, m, st = case.in_ch, case.ch, case.stride
            convs = [conv_shape(i, m, 1, 1, False), conv_shape(m, m, 3, st, False), conv_shape(m, out_ch, 1, 1, False)]
            norms = [norm_of(m), norm_of(m), norm_of(out_ch)]
            if projection:
                convs.append(conv_shape(i, out_ch, 1, st, False))
                norms.append(norm_of(out_ch))
            _check_values(
                task, module, case, convs, norms, _bottleneck_body, bool(projection), _bottleneck_stride_hint(out_ch)
            )


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


INCEPTION_VISIBLE = [
    InceptionCase(192, 64, 96, 128, 16, 32, 32),
    InceptionCase(192, 64, 96, 128, 16, 32, 32, True),
    InceptionCase(8, 4, 2, 6, 2, 3, 5),
    InceptionCase(8, 4, 2, 6, 2, 3, 5, True),
]


def _inception_cases(hidden: bool) -> list[InceptionCase]:
    return list(_hidden().INCEPTION if hidden else INCEPTION_VISIBLE)


def check_inception_params(inception_params: Callable, hidden: bool = False) -> None:
    """``inception_params(in_ch, c1, c3r, c3, c5r, c5, pool_proj, naive=False)``: the count by the formula."""
    task = "inception_params"
    cases = _inception_cases(hidden)
    for index, case in enumerate(cases):
        with case_of(index, len(cases)):
            counts = expect("architectures", "inception_params", case.describe("Inception"), case)
            got = call_student(task, inception_params, *case.args, naive=case.naive)
            expected = counts["expected"]
            number = as_number(got)
            got = got if number is None else number
            if number is None or number != expected:
                hint = ""
                if got == counts["without_biases"]:
                    hint = "\nLikely mistake: biases not counted (each convolution has one bias per output channel)"
                elif case.naive and got == counts["with_reductions"]:
                    hint = "\nLikely mistake: the naive module has no 1x1 reductions and no projection after pooling"
                raise CheckFailed(task, f"returned {got!r}, expected {expected} for {case.describe(task)}{hint}")


def check_inception(Inception: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``Inception(in_ch, c1, c3r, c3, c5r, c5, pool_proj, naive=False)``: four branches concatenated on channels."""
    task = "Inception"
    g = torch.Generator().manual_seed(5)
    cases = _inception_cases(hidden)
    for index, case in enumerate(cases):
        with case_of(index, len(cases)):
            counts = expect("architectures", "inception_params", case.describe("Inception"), case)
            module = build(task, Inception, *case.args, naive=case.naive)
            expected_params = counts["expected"]
            got_params = count_params(module)
            if got_params != expected_params:
                hint = ""
                if got_params == counts["without_biases"]:
                    hint = "\nLikely mistake: convolutions without bias (the module has no BatchNorm; keep the biases)"
                elif case.naive and got_params == counts["with_reductions"]:
                    hint = "\nLikely mistake: naive=True must leave out the 1x1 reductions and the pooling projection"
                raise CheckFailed(
                    task, f"{got_params} parameters, expected {expected_params} for {case.describe(task)}{hint}"
                )
            h, w = (7, 9) if case.in_ch < 100 else (5, 5)
            x = torch.randn(2, case.in_ch, h, w, generator=g)
            try:
                out = forward(task, module, x)
            except CheckFailed as err:
                hint = _concatenation_hint(err.message)
                if not hint:
                    raise
                raise CheckFailed(task, f"{err.message}\nLikely mistake: {hint}") from err
            require_shape(
                task,
                out,
                (2, case.out_channels, h, w),
                case.describe(task),
                "the branches keep the height and width (padding k // 2; pooling 3x3, stride 1, padding 1) "
                "and are concatenated along the channels, dim=1",
            )
            _check_inception_values(task, module, case, x, out)


def _concatenation_hint(message: str) -> str:
    """What PyTorch's complaint about concatenating the branches says: joined along another axis than the channels
    (their channel counts differ), or along the channels with different heights and widths."""
    found = re.search(r"Sizes of tensors must match except in dimension (-?\d+)", message)
    if not found:
        return ""
    if int(found.group(1)) in (1, -3):
        return (
            "the branches have different heights or widths: every convolution is padded by k // 2 and the pooling "
            "is 3x3 with stride 1 and padding 1, so that each branch keeps the input's size"
        )
    return (
        f"the branches are concatenated along dimension {found.group(1)}; they differ in channels and agree in "
        "everything else: torch.cat(branches, dim=1)"
    )


def _inception_slots(case: InceptionCase) -> list[Callable]:
    """The convolutions an Inception module needs, each with a bias, in the order the reference uses them."""
    i = case.in_ch
    if case.naive:
        return [
            conv_shape(i, case.c1, 1, bias=True),
            conv_shape(i, case.c3, 3, bias=True),
            conv_shape(i, case.c5, 5, bias=True),
        ]
    return [
        conv_shape(i, case.c1, 1, bias=True),
        conv_shape(i, case.c3r, 1, bias=True),
        conv_shape(case.c3r, case.c3, 3, bias=True),
        conv_shape(i, case.c5r, 1, bias=True),
        conv_shape(case.c5r, case.c5, 5, bias=True),
        conv_shape(i, case.pool_proj, 1, bias=True),
    ]


@grader_reference
def _inception_reference(
    case: InceptionCase, convs: list[nn.Module], x: torch.Tensor, variant: str = ""
) -> torch.Tensor:
    """The module's output from its own convolutions: right, or with one typical change (``variant``)."""
    relu = torch.relu
    after = (lambda v: v) if variant == "no relu after reductions" else relu
    pool = (
        F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        if variant == "average pooling"
        else F.max_pool2d(x, 3, stride=1, padding=1)
    )
    if case.naive:
        b1, b3, b5 = convs
        branches = [relu(b1(x)), relu(b3(x)), relu(b5(x)), pool]
    else:
        b1, r3, b3, r5, b5, pp = convs
        last = (lambda v: v) if variant == "no relu after the pool projection" else relu
        branches = [relu(b1(x)), relu(b3(after(r3(x)))), relu(b5(after(r5(x)))), last(pp(pool))]
    if variant == "no relu on the branches":
        if case.naive:
            branches = [b1(x), b3(x), b5(x), pool]
        else:
            branches = [b1(x), b3(after(r3(x))), b5(after(r5(x))), pp(pool)]
    return torch.cat(branches, dim=1) if variant != "branches" else branches


INCEPTION_MISTAKES = {
    "no relu after reductions": "the 1x1 reductions are not followed by a ReLU (every convolution of the module is)",
    "average pooling": "the pooling branch uses average pooling; Inception's is 3x3 max-pooling (stride 1, padding 1)",
    "no relu after the pool projection": "the 1x1 projection after the pooling is not followed by a ReLU",
    "no relu on the branches": "the branch convolutions are not followed by a ReLU",
}


def _check_inception_values(
    task: str, module: nn.Module, case: InceptionCase, x: torch.Tensor, out: torch.Tensor
) -> None:
    """The output equals the four branches computed from the module's own convolutions, concatenated in the order
    1x1, 3x3, 5x5, pool (for some matching of its convolutions to the roles they play)."""
    ways = list(assignments(_inception_slots(case), convs_of(module)))
    if not ways:
        raise CheckFailed(
            task,
            f"cannot find the convolutions an Inception module needs in {case.describe(task)} (kernel sizes 1, 3, 5 "
            "with padding k // 2, stride 1, with biases, and the channel counts of the arguments)",
        )
    with torch.no_grad():
        for convs in ways:
            if close(out, _inception_reference(case, convs, x), 1e-4):
                return
        convs = ways[0]
        for variant, message in INCEPTION_MISTAKES.items():
            if close(out, _inception_reference(case, convs, x, variant), 1e-4):
                raise CheckFailed(task, f"wrong output for {case.describe(task)}.\nLikely mistake: {message}")
        right = _inception_reference(case, convs, x)
        branches = _inception_reference(case, convs, x, "branches")
        for order in itertools.permutations(range(4)):
            if order != (0, 1, 2, 3) and close(out, torch.cat([branches[k] for k in order], dim=1), 1e-4):
                names = ["1x1", "3x3", "5x5", "pool"]
                raise CheckFailed(
                    task,
                    f"wrong output for {case.describe(task)}.\nLikely mistake: the branches are concatenated in the "
                    f"order {', '.join(names[k] for k in order)}; concatenate the branches in the order 1x1, 3x3, "
                    "5x5, pool",
                )
    sizes = [case.c1, case.c3, case.c5, case.in_ch if case.naive else case.pool_proj]
    names = ["1x1", "3x3", "5x5", "pool"]
    bounds = [sum(sizes[:k]) for k in range(5)]
    wrong = [
        names[k]
        for k in range(4)
        if not close(out[:, bounds[k] : bounds[k + 1]], right[:, bounds[k] : bounds[k + 1]], 1e-4)
    ]
    raise CheckFailed(
        task,
        f"wrong output for {case.describe(task)}: the channels of the branch(es) {', '.join(wrong)} differ from "
        "that branch computed from the module's own layers (branches concatenated in the order 1x1, 3x3, 5x5, pool; "
        "each convolution followed by a ReLU; 3x3 max-pooling with stride 1 and padding 1)",
    )


# ----------------------------------------------------------------------------------------------------------
# DenseNet


@grader_reference
def dense_block_params(in_ch: int, growth: int, n_layers: int) -> int:
    """Parameters of a dense block of BN-ReLU-conv3x3 (no bias) layers."""
    return sum(2 * (in_ch + i * growth) + 9 * (in_ch + i * growth) * growth for i in range(n_layers))


DENSE_VISIBLE = [(8, 4, 3, 6, 6), (16, 12, 4, 8, 8), (3, 2, 1, 5, 7)]


def check_dense_block(DenseBlock: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``DenseBlock(in_ch, growth, n_layers)``: x_l = H_l([x_0, ..., x_{l-1}]), output [x_0, ..., x_L]."""
    task = "DenseBlock"
    g = torch.Generator().manual_seed(6)
    cases = list(_hidden().DENSE if hidden else DENSE_VISIBLE)
    for index, (in_ch, growth, n_layers, h, w) in enumerate(cases):
        with case_of(index, len(cases)):
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
            if tuple(out.shape) == (2, n_layers * growth, h, w):
                raise CheckFailed(
                    task,
                    f"output has {n_layers * growth} channels for {case}, expected {out_ch}.\nLikely mistake: the "
                    "block returns only the new features [x_1, ..., x_L]; it returns [x_0, x_1, ..., x_L], its input "
                    "x_0 first",
                )
            require_shape(
                task, out, (2, out_ch, h, w), case, "each layer adds growth channels: torch.cat([x, new], dim=1)"
            )
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
                    2 * (in_ch if i == 0 else growth) + 9 * (in_ch if i == 0 else growth) * growth
                    for i in range(n_layers)
                ):
                    hint = "\nLikely mistake: each layer sees only the previous layer's features, not all earlier ones"
                elif got == expected + n_layers * growth:
                    hint = "\nLikely mistake: the convolutions have a bias (use bias=False; BatchNorm comes first here)"
                raise CheckFailed(task, f"{got} parameters, expected {expected} for {case}{hint}")
            _check_dense_values(task, module, in_ch, growth, n_layers, case, g, (h, w))


def _check_dense_values(
    task: str, module: nn.Module, in_ch: int, growth: int, n_layers: int, case: str, g: torch.Generator, size
) -> None:
    """The new channels equal the layers BN -> ReLU -> conv3x3 computed from the block's own layers, each layer on
    the concatenation of the input and all earlier layers' outputs (BatchNorm set away from its defaults)."""
    convs = [conv_shape(in_ch + i * growth, growth, 3, 1, False) for i in range(n_layers)]
    norms = [norm_of(in_ch + i * growth) for i in range(n_layers)]
    conv_way = next(assignments(convs, convs_of(module)), None)
    norm_way = next(assignments(norms, norms_of(module)), None)
    if conv_way is None or norm_way is None:
        raise CheckFailed(
            task,
            f"cannot find the layers the block needs in {case}: layer l is a BatchNorm of in_ch + l * growth "
            "channels and a 3x3 convolution (padding 1, stride 1, no bias) from them to growth channels",
        )
    randomise_batchnorm(module, 12)
    x = torch.randn(2, in_ch, *size, generator=g)
    out = forward(task, module, x)

    def reference(variant: str = "") -> torch.Tensor:
        features = x
        for conv, norm in zip(conv_way, norm_way):
            z = norm(features)
            new = conv(z if variant == "no relu" else torch.relu(z))
            features = torch.cat([features, new], dim=1)
        return features

    with torch.no_grad():
        if close(out, reference(), 1e-4):
            return
        if close(out, reference("no relu"), 1e-4):
            raise CheckFailed(
                task,
                f"wrong output for {case}.\nLikely mistake: the ReLU between BatchNorm and the convolution is missing",
            )
    raise CheckFailed(
        task,
        f"wrong output for {case}: layer l's new features must be conv3x3(ReLU(BN([x_0, ..., x_(l-1)]))), computed "
        "from the block's own layers on the concatenation of the input and all earlier layers' outputs",
    )


TRANSITION_VISIBLE = [(8, 4, 8, 8), (12, 6, 6, 10)]


def check_transition(Transition: Callable, hidden: bool = False) -> None:  # noqa: N803 (the student's class)
    """``Transition(in_ch, out_ch)``: BN -> ReLU -> 1x1 conv (no bias) -> 2x2 average pooling."""
    task = "Transition"
    g = torch.Generator().manual_seed(7)
    cases = list(_hidden().TRANSITION if hidden else TRANSITION_VISIBLE)
    for index, (in_ch, out_ch, h, w) in enumerate(cases):
        with case_of(index, len(cases)):
            case = f"Transition({in_ch}, {out_ch}) on input (2, {in_ch}, {h}, {w})"
            module = build(task, Transition, in_ch, out_ch)
            expected = 2 * in_ch + in_ch * out_ch
            got = count_params(module)
            if got != expected:
                hint = (
                    "\nLikely mistake: the 1x1 convolution has a bias (use bias=False)"
                    if got == expected + out_ch
                    else ""
                )
                raise CheckFailed(
                    task,
                    f"{got} parameters, expected {expected} (BatchNorm 2*in_ch, 1x1 conv "
                    f"in_ch*out_ch) for {case}{hint}",
                )
            norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
            convs = convs_of(module)
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
                    task,
                    f"wrong output for {case}: expected BN -> ReLU -> 1x1 conv -> 2x2 average pooling, in that order",
                )
