# ruff: noqa: E501 (the mistakes are lines of student code, kept whole so that each reads as written)
"""Assignment 3's mutation configuration: hand-written student mistakes and the equivalent mutants.

Mutants that reach the training cell train the small ResNet for the grading budget (600 steps of 32 images) and
are judged by the accuracy tests, as a submission would be.
"""

from __future__ import annotations

from .core import Config, Handwritten

H = Handwritten

_TORCHVISION_BASIC = """from torchvision.models.resnet import BasicBlock as _TorchvisionBasicBlock


class BasicBlock(_TorchvisionBasicBlock):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        down = None
        if stride != 1 or in_ch != out_ch:
            down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))
        super().__init__(in_ch, out_ch, stride, down)
"""

_RANDOM_ROTATE_TWICE = """def random_augment(image, mask, seed):
    g = torch.Generator().manual_seed(seed)

    def uniform(low, high):
        return low + (high - low) * torch.rand((), generator=g).item()

    def randint(low, high):
        return int(torch.randint(low, high + 1, (), generator=g))

    h, w = image.shape[-2:]
    if uniform(0, 1) < 0.5:
        image, mask = hflip(image, mask)
    image = rotate(image, mask, uniform(-30, 30))[0]
    mask = rotate(image, mask, uniform(-30, 30))[1]  # a second angle for the mask
    scale = uniform(0.6, 1.0)
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    image, mask = resized_crop(image, mask, randint(0, h - ch), randint(0, w - cw), ch, cw, h)
    k = randint(1, max(1, h // 4))
    image, mask = cutout(image, mask, randint(0, h - k), randint(0, w - k), k)
    image, mask = adjust_brightness(image, mask, uniform(0.8, 1.2))
    return add_noise(image, mask, 0.03, g)
"""

HANDWRITTEN = [
    H(
        "basic_relu_before_add",
        "BasicBlock: ReLU(ReLU(F(x)) + x)",
        (("basic_block", "return F.relu(out + self.shortcut(x))", "return F.relu(F.relu(out) + self.shortcut(x))"),),
    ),
    H(
        "bottleneck_relu_before_add",
        "Bottleneck: ReLU(ReLU(F(x)) + x)",
        (("bottleneck", "return F.relu(out + self.shortcut(x))", "return F.relu(F.relu(out) + self.shortcut(x))"),),
    ),
    H(
        "basic_subclasses_torchvision",
        "BasicBlock subclasses torchvision's BasicBlock",
        (("basic_block", "class BasicBlock", _TORCHVISION_BASIC),),
    ),
    H(
        "basic_projection_only_for_channels",
        "projection only when the channels change, not for stride 2",
        (("basic_block", "if stride != 1 or in_ch != out_ch:", "if in_ch != out_ch:"),),
    ),
    H(
        "basic_projection_always",
        "a projection shortcut in every block",
        (("basic_block", "if stride != 1 or in_ch != out_ch:", "if True:"),),
    ),
    H(
        "basic_stride_on_second_conv",
        "the stride on the second 3x3 convolution",
        (
            (
                "basic_block",
                "self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)\n        self.bn1 = nn.BatchNorm2d(out_ch)\n        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)",
                "self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)\n        self.bn1 = nn.BatchNorm2d(out_ch)\n        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=stride, padding=1, bias=False)",
            ),
        ),
    ),
    H(
        "basic_no_inner_relu",
        "BasicBlock without the ReLU between its convolutions",
        (("basic_block", "out = F.relu(self.bn1(self.conv1(x)))", "out = self.bn1(self.conv1(x))"),),
    ),
    H(
        "bottleneck_stride_on_first",
        "Bottleneck with the stride on the first 1x1 (ResNet v1) against the notebook's 3x3",
        (
            (
                "bottleneck",
                "self.conv1 = nn.Conv2d(in_ch, mid_ch, 1, bias=False)",
                "self.conv1 = nn.Conv2d(in_ch, mid_ch, 1, stride=stride, bias=False)",
            ),
            (
                "bottleneck",
                "self.conv2 = nn.Conv2d(mid_ch, mid_ch, 3, stride=stride, padding=1, bias=False)",
                "self.conv2 = nn.Conv2d(mid_ch, mid_ch, 3, padding=1, bias=False)",
            ),
        ),
    ),
    H(
        "bottleneck_shortcut_without_bn",
        "the bottleneck's projection has no BatchNorm (and the count is off)",
        (
            (
                "bottleneck",
                "self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))",
                "self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False))",
            ),
        ),
    ),
    H(
        "inception_no_relu_after_reductions",
        "Inception without the ReLUs after its 1x1 reductions",
        (
            (
                "inception",
                "self.branch3 = nn.Sequential(conv_relu(in_ch, c3r, 1), conv_relu(c3r, c3, 3))\n            self.branch5 = nn.Sequential(conv_relu(in_ch, c5r, 1), conv_relu(c5r, c5, 5))",
                "self.branch3 = nn.Sequential(nn.Conv2d(in_ch, c3r, 1), conv_relu(c3r, c3, 3))\n            self.branch5 = nn.Sequential(nn.Conv2d(in_ch, c5r, 1), conv_relu(c5r, c5, 5))",
            ),
        ),
    ),
    H(
        "inception_average_pooling",
        "Inception with average pooling",
        (("inception", "pool = nn.MaxPool2d(3, stride=1, padding=1)", "pool = nn.AvgPool2d(3, stride=1, padding=1)"),),
    ),
    H(
        "inception_branch_order",
        "the pooling branch concatenated first",
        (
            (
                "inception",
                "torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)",
                "torch.cat([self.branch_pool(x), self.branch1(x), self.branch3(x), self.branch5(x)], dim=1)",
            ),
        ),
    ),
    H(
        "inception_params_no_biases",
        "the Inception count without biases",
        (
            (
                "inception_params",
                "return (in_ch * c1 + c1) + (9 * in_ch * c3 + c3) + (25 * in_ch * c5 + c5)",
                "return in_ch * c1 + 9 * in_ch * c3 + 25 * in_ch * c5",
            ),
        ),
    ),
    H(
        "inception_params_naive_with_reductions",
        "the naive count includes the reductions",
        (("inception_params", "    if naive:\n", "    if False:\n"),),
    ),
    H(
        "dense_no_relu",
        "dense layers BN -> conv without the ReLU",
        (
            (
                "dense_block",
                "nn.Sequential(nn.BatchNorm2d(in_ch + i * growth), nn.ReLU(),",
                "nn.Sequential(nn.BatchNorm2d(in_ch + i * growth),",
            ),
        ),
    ),
    H(
        "dense_new_first",
        "each layer's features concatenated before the input",
        (("dense_block", "x = torch.cat([x, layer(x)], dim=1)", "x = torch.cat([layer(x), x], dim=1)"),),
    ),
    H(
        "dense_out_channels_wrong",
        "out_channels counts one layer too few",
        (
            (
                "dense_block",
                "self.out_channels = in_ch + n_layers * growth",
                "self.out_channels = in_ch + (n_layers - 1) * growth",
            ),
        ),
    ),
    H(
        "transition_max_pool",
        "the transition pools with the maximum",
        (("transition", "nn.AvgPool2d(2)", "nn.MaxPool2d(2)"),),
    ),
    H(
        "hflip_vertical",
        "the flip mirrors top-bottom",
        (("geometric", "return image.flip(-1), mask.flip(-1)", "return image.flip(-2), mask.flip(-2)"),),
    ),
    H(
        "rotate_clockwise",
        "the rotation turns clockwise",
        (("geometric", "a = math.radians(angle)", "a = -math.radians(angle)"),),
    ),
    H(
        "rotate_mask_bilinear",
        "the mask rotated with bilinear interpolation and rounded",
        (
            (
                "geometric",
                'mask = F.grid_sample(mask[None, None].float(), grid, mode="nearest"',
                'mask = F.grid_sample(mask[None, None].float(), grid, mode="bilinear"',
            ),
            ("geometric", "return image, mask[0, 0].long()", "return image, mask[0, 0].round().long()"),
        ),
    ),
    H(
        "crop_mask_bilinear",
        "the crop's mask resized bilinearly",
        (
            (
                "geometric",
                'mask = F.interpolate(mask[None, None].float(), size=(size, size), mode="nearest")[0, 0].long()',
                'mask = F.interpolate(mask[None, None].float(), size=(size, size), mode="bilinear")[0, 0].round().long()',
            ),
        ),
    ),
    H(
        "cutout_negative_wraps",
        "cut-out with a negative corner wraps around (no clamp at 0)",
        (
            (
                "photometric",
                "image[:, max(top, 0):top + size, max(left, 0):left + size] = 0.0",
                "image[:, top:top + size, left:left + size] = 0.0",
            ),
        ),
    ),
    H(
        "brightness_not_clamped",
        "brightness without the clamp",
        (("photometric", "return (image * factor).clamp(0.0, 1.0), mask", "return image * factor, mask"),),
    ),
    H(
        "noise_without_generator",
        "noise drawn from the global generator",
        (
            (
                "photometric",
                "noise = torch.randn(image.shape, generator=generator) * std",
                "noise = torch.randn(image.shape) * std",
            ),
        ),
    ),
    H(
        "random_augment_flips_image_only",
        "the flip applied to the image only",
        (("random_augment", "        image, mask = hflip(image, mask)\n", "        image = hflip(image, mask)[0]\n"),),
    ),
    H(
        "random_augment_two_angles",
        "image and mask rotated by different random angles",
        (("random_augment", "def random_augment", _RANDOM_ROTATE_TWICE),),
    ),
    H(
        "resnet_stem_stride_1",
        "the stem convolution without its stride",
        (
            (
                "make_resnet",
                "nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False)",
                "nn.Conv2d(3, width, 3, padding=1, bias=False)",
            ),
        ),
    ),
    H("evaluate_train_mode", "evaluate without model.eval()", (("evaluate", "    model.eval()\n", ""),)),
    H(
        "evaluate_percentage",
        "accuracy returned as a percentage",
        (("evaluate", "return correct / len(images)", "return 100 * correct / len(images)"),),
    ),
]

_BATCH_OF_ONE = "the tensor has a leading axis of size one, so index -1 is index 0"
_DEFAULT = "the keyword only repeats the function's default"
_CPU = "the checks and the grading budget run on the CPU, where the tensor is already on the image's device"
_SYMMETRIC = "max is symmetric in its two arguments"

EQUIVALENT: dict[str, str] = {
    "transition:6:20:swap_args:3": "a 2x2 average pooling and a 1x1 convolution are both linear and commute",
    "geometric:3:37:unary:1": "the mask is 2-D, so flip(1) and flip(-1) are the same axis",
    "geometric:10:12:drop_keyword:1": _CPU,
    "geometric:12:11:drop_keyword:1": _DEFAULT + " (align_corners=False)",
    "geometric:12:42:number:1": "affine_grid only reads the batch, height and width of the size it is given",
    "geometric:13:12:drop_keyword:1": _DEFAULT + " (mode='bilinear')",
    "geometric:13:12:drop_keyword:2": _DEFAULT + " (padding_mode='zeros')",
    "geometric:13:12:drop_keyword:3": _DEFAULT + " (align_corners=False)",
    "geometric:13:105:number:2": _BATCH_OF_ONE,
    "geometric:14:11:drop_keyword:2": _DEFAULT + " (padding_mode='zeros')",
    "geometric:14:11:drop_keyword:3": _DEFAULT + " (align_corners=False)",
    "geometric:15:23:number:2": _BATCH_OF_ONE,
    "geometric:15:26:number:2": _BATCH_OF_ONE,
    "geometric:22:12:drop_keyword:3": _DEFAULT + " (align_corners=False for bilinear interpolation)",
    "geometric:22:96:number:2": _BATCH_OF_ONE,
    "geometric:23:11:drop_keyword:2": _DEFAULT + " (mode='nearest')",
    "geometric:23:86:number:2": _BATCH_OF_ONE,
    "geometric:23:89:number:2": _BATCH_OF_ONE,
    "photometric:4:13:swap_args:1": _SYMMETRIC,
    "photometric:4:37:swap_args:1": _SYMMETRIC,
    "photometric:16:20:drop_method:1": _CPU,
    "random_augment:12:7:compare:1": "u < 0.5 and u <= 0.5 differ only when u is exactly 0.5, which has probability 0",
    "random_augment:12:7:compare:2": "flipping when u > 0.5 instead of u < 0.5 still flips with probability 0.5",
    "random_augment:12:7:swap_args:1": "uniform(1, 0) is 1 - u: the same uniform distribution",
    "random_augment:14:38:swap_args:1": "uniform(30, -30) is the same uniform distribution on [-30, 30]",
    "random_augment:15:12:swap_args:1": "uniform(1.0, 0.6) is the same uniform distribution on [0.6, 1]",
    "random_augment:20:49:swap_args:1": "uniform(1.2, 0.8) is the same uniform distribution on [0.8, 1.2]",
    "random_augment:16:13:swap_args:1": _SYMMETRIC,
    "random_augment:16:39:swap_args:1": _SYMMETRIC,
    "random_augment:18:19:swap_args:1": _SYMMETRIC,
    "random_augment:16:17:number:1": "round(0.6 * H) is at least 2 for the task's images, so max(2, ...) changes nothing",
    "random_augment:16:17:number:2": "round(0.6 * H) is at least 1 for the task's images, so max(0, ...) changes nothing",
    "random_augment:16:43:number:1": "round(0.6 * W) is at least 2 for the task's images, so max(2, ...) changes nothing",
    "random_augment:16:43:number:2": "round(0.6 * W) is at least 1 for the task's images, so max(0, ...) changes nothing",
    "random_augment:18:23:number:1": "H // 4 is at least 2 for the task's images, so max(2, ...) changes nothing",
    "random_augment:18:23:number:2": "H // 4 is at least 1 for the task's images, so max(0, ...) changes nothing",
    "random_augment:17:18:swap_args:3": "the task's images are square: top and left are drawn from the same range",
    "random_augment:17:18:swap_args:5": "the task's images are square: the crop's height and width are equal",
    "random_augment:19:18:swap_args:3": "the task's images are square: the cut-out's top and left are drawn from the same range",
    "evaluate:3:4:drop_statement:1": "the notebook's global device (its first cell) is where the model is, so device stays defined and right",
    "evaluate:9:23:drop_method:1": "the count stays a one-element tensor, and the accuracy comes back as a number the task accepts",
    "evaluate:9:24:drop_method:1": _CPU,
}

CONFIG = Config(
    assignment="03_architectures",
    handwritten=HANDWRITTEN,
    equivalent=EQUIVALENT,
    skip=frozenset({"residual_cost", "inception_cost", "augment_gallery", "cell 53"}),
    timeout=400.0,
)
