# ruff: noqa: E501 (the mistakes are lines of student code, kept whole so that each reads as written)
"""Assignment 4's mutation configuration: hand-written student mistakes and the equivalent mutants."""

from __future__ import annotations

from .core import Config, Handwritten

H = Handwritten

HANDWRITTEN = [
    H(
        "grid_global_scaling",
        "all filters scaled together instead of each on its own",
        (
            (
                "filter_grid",
                "lo = flat.min(dim=1).values.view(shape)\n    hi = flat.max(dim=1).values.view(shape)",
                "lo = flat.min().expand(len(flat)).view(shape)\n    hi = flat.max().expand(len(flat)).view(shape)",
            ),
        ),
    ),
    H(
        "grid_no_padding_between",
        "no padding between tiles",
        (
            (
                "filter_grid",
                "top, left = pad + r * (kh + pad), pad + c * (kw + pad)",
                "top, left = pad + r * kh, pad + c * kw",
            ),
        ),
    ),
    H(
        "grid_black_background",
        "unused tiles and padding black instead of white",
        (("filter_grid", "grid = torch.ones(", "grid = torch.zeros("),),
    ),
    H(
        "grid_column_major",
        "tiles placed column by column",
        (("filter_grid", "r, c = divmod(k, ncols)", "c, r = divmod(k, rows)"),),
    ),
    H(
        "grid_channels_first",
        "RGB tiles left channels-first",
        (
            (
                "filter_grid",
                "tiles = w.permute(0, 2, 3, 1) if w.shape[1] == 3 else w[:, 0]",
                "tiles = w.permute(0, 3, 2, 1) if w.shape[1] == 3 else w[:, 0]",
            ),
        ),
    ),
    H(
        "rf_jump_after",
        "the field grows with the jump after the layer",
        (
            (
                "receptive_field_box",
                "        r += dilation * (k - 1) * j\n        start -= padding * j\n        j *= stride",
                "        j *= stride\n        r += dilation * (k - 1) * j\n        start -= padding * j",
            ),
        ),
    ),
    H(
        "rf_ignores_dilation",
        "dilation ignored",
        (("receptive_field_box", "r += dilation * (k - 1) * j", "r += (k - 1) * j"),),
    ),
    H(
        "rf_ignores_padding",
        "padding ignored: the box starts at 0",
        (("receptive_field_box", "start -= padding * j", "start -= 0"),),
    ),
    H(
        "rf_closed_box",
        "bottom and right inclusive (closed box)",
        (
            (
                "receptive_field_box",
                "return start + j * y, start + j * x, start + j * y + r, start + j * x + r",
                "return start + j * y, start + j * x, start + j * y + r - 1, start + j * x + r - 1",
            ),
        ),
    ),
    H(
        "topk_repeats_images",
        "the k largest positions, not one per image",
        (
            (
                "top_k_patches",
                "value, where = fmap.flatten(1).max(dim=1)  # each image's strongest position\n    order = value.argsort(descending=True)[:k]\n    flat = where[order]",
                "top = fmap.flatten().topk(k).indices\n    order = top // fmap[0].numel()\n    flat = top % fmap[0].numel()",
            ),
        ),
    ),
    H(
        "topk_rows_columns_swapped",
        "positions as (column, row)",
        (
            (
                "top_k_patches",
                "positions = torch.stack([flat // width, flat % width], dim=1)",
                "positions = torch.stack([flat % width, flat // width], dim=1)",
            ),
        ),
    ),
    H(
        "topk_fill_zero",
        "the outside of the image filled with 0, not fill",
        (
            (
                "top_k_patches",
                "patch = torch.full((images.shape[1], bottom - top, right - left), float(fill))",
                "patch = torch.zeros((images.shape[1], bottom - top, right - left))",
            ),
        ),
    ),
    H(
        "topk_weakest",
        "the k weakest images",
        (("top_k_patches", "order = value.argsort(descending=True)[:k]", "order = value.argsort()[:k]"),),
    ),
    H(
        "tv_sum_not_mean",
        "total variation summed instead of averaged",
        (
            (
                "class_maximisation",
                "dh = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))\n    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))",
                "dh = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(dim=(1, 2, 3))\n    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().sum(dim=(1, 2, 3))",
            ),
        ),
    ),
    H(
        "tv_squared",
        "squared differences",
        (
            (
                "class_maximisation",
                "dh = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))",
                "dh = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean(dim=(1, 2, 3))",
            ),
        ),
    ),
    H(
        "objective_penalty_added",
        "the penalty added instead of subtracted",
        (("class_maximisation", "return score - lam * penalty(x)", "return score + lam * penalty(x)"),),
    ),
    H(
        "objective_softmax",
        "the objective is the softmax probability",
        (
            (
                "class_maximisation",
                "score = model(x)[torch.arange(len(x)), targets]",
                "score = model(x).softmax(dim=1)[torch.arange(len(x)), targets]",
            ),
        ),
    ),
    H(
        "maximise_descends",
        "gradient descent on the objective",
        (("class_maximisation", "(-objective.sum()).backward()", "objective.sum().backward()"),),
    ),
    H(
        "maximise_no_clip",
        "no clipping to [0, 1]",
        (("class_maximisation", "        with torch.no_grad():\n            x.clamp_(0, 1)\n", ""),),
    ),
    H(
        "maximise_train_mode",
        "the model left in train mode",
        (
            (
                "class_maximisation",
                "    model.eval()\n    gen = torch.Generator().manual_seed(seed)\n    x = (0.5",
                "    gen = torch.Generator().manual_seed(seed)\n    x = (0.5",
            ),
        ),
    ),
    H(
        "dream_unnormalised",
        "the step not normalised by the mean gradient",
        (
            (
                "deepdream",
                "return (x + lr * grad / (grad.abs().mean() + 1e-8)).clamp(0, 1).detach()",
                "return (x + lr * grad).clamp(0, 1).detach()",
            ),
        ),
    ),
    H(
        "dream_no_roll",
        "jitter ignored",
        (("deepdream", "model.features(torch.roll(x, shifts=tuple(shift), dims=(2, 3)))", "model.features(x)"),),
    ),
    H(
        "dream_octaves_largest_first",
        "octaves from the largest size",
        (
            (
                "deepdream",
                "sizes = [round(side / scale**o) for o in reversed(range(octaves))]",
                "sizes = [round(side / scale**o) for o in range(octaves)]",
            ),
        ),
    ),
    H(
        "dream_detail_dropped",
        "the detail not carried between octaves",
        (("deepdream", "        detail = x - base\n", ""),),
    ),
    H(
        "saliency_no_abs",
        "signed gradient",
        (("saliency", "return x.grad.abs().amax(dim=1)", "return x.grad.amax(dim=1)"),),
    ),
    H(
        "saliency_mean_channels",
        "mean over the colour channels",
        (("saliency", "return x.grad.abs().amax(dim=1)", "return x.grad.abs().mean(dim=1)"),),
    ),
    H(
        "saliency_of_probability",
        "gradient of the softmax probability",
        (("saliency", "logits = model(x)", "logits = model(x).softmax(dim=1)"),),
    ),
    H(
        "occlusion_logit_drop",
        "the drop of the logit, not the probability",
        (
            (
                "occlusion",
                "base = model(image[None]).softmax(dim=1)[0, label]\n        drop = base - model(batch).softmax(dim=1)[:, label]",
                "base = model(image[None])[0, label]\n        drop = base - model(batch)[:, label]",
            ),
        ),
    ),
    H(
        "occlusion_sum_not_mean",
        "drops summed over the squares",
        (("occlusion", "return heat / hits.clamp(min=1)", "return heat"),),
    ),
    H(
        "occlusion_last_position_missed",
        "the last position of each row missed",
        (
            (
                "occlusion",
                "for i in range(0, h - patch + 1, stride) for j in range(0, w - patch + 1, stride)",
                "for i in range(0, h - patch, stride) for j in range(0, w - patch, stride)",
            ),
        ),
    ),
]

_EMPTY = "when the box misses the image, the slices on both sides are empty, so the guarded copy changes nothing"
_DETAIL = "the first octave's detail is zeros, and zeros resized to any size are zeros"
_GUARD = (
    "the checks' network gives mean|g| of 2e-3 to 2e-2, so the guard against dividing by zero changes no step by "
    "1e-5 of itself"
)

EQUIVALENT: dict[str, str] = {
    "filter_grid:3:8:drop_method:1": "the grid is a float32 tensor (torch.ones' default): tiles are converted as they are written",
    "filter_grid:3:8:drop_method:2": "the grid is a CPU tensor: writing a tile into it copies the tile there from any device",
    "filter_grid:3:8:drop_call:1": "the task passes the weight as a tensor (a layer's weight), so as_tensor returns it unchanged",
    "filter_grid:9:28:binop:1": "-1e-8 instead of +1e-8 moves a tile by about 1e-8 of its range, and a constant filter is still 0",
    "filter_grid:9:38:number:1": "1e-7 instead of 1e-8 moves a tile by about 1e-7 of its range, far below the tolerance",
    "top_k_patches:10:37:unary:1": "images are 4-D, so shape[2:] and shape[-2:] are the same height and width",
    "top_k_patches:15:25:swap_args:1": "max is symmetric in its two arguments",
    "top_k_patches:15:38:swap_args:1": "max is symmetric in its two arguments",
    "top_k_patches:15:52:swap_args:1": "min is symmetric in its two arguments",
    "top_k_patches:15:73:swap_args:1": "min is symmetric in its two arguments",
    "top_k_patches:16:8:if_true:1": _EMPTY,
    "top_k_patches:16:11:boolop:1": _EMPTY,
    "top_k_patches:16:11:compare:1": _EMPTY,
    "top_k_patches:16:23:compare:1": _EMPTY,
    "deepdream:12:4:drop_statement:1": "dream_step puts the model in eval mode before every step",
    "deepdream:12:4:name_swap:1": "dream_step puts the model in eval mode before every step",
    "deepdream:14:24:number:1": "the task's images are square, so shape[-2] and shape[-1] agree",
    "deepdream:16:37:number:1": _DETAIL,
    "deepdream:16:37:number:2": _DETAIL,
    "deepdream:16:47:number:1": _DETAIL,
    "deepdream:16:47:number:2": _DETAIL,
    "deepdream:18:15:drop_keyword:3": "align_corners defaults to False for bilinear interpolation",
    "deepdream:19:17:drop_keyword:3": "align_corners defaults to False for bilinear interpolation",
    "deepdream:5:13:name_swap:1": "a sum of squares instead of their mean scales the gradient by a constant, which "
    "the step's normalisation by mean|g| removes",
    "deepdream:7:29:binop:1": _GUARD,
    "deepdream:7:29:drop_operand:1": _GUARD,
    "deepdream:7:49:number:1": _GUARD,
    "deepdream:7:49:number:2": _GUARD,
    "saliency:4:8:drop_method:2": "x.detach() is a new tensor: requires_grad_ on it leaves the caller's x alone",
    "saliency:4:8:drop_method:3": "the task's images do not require grad, so x.clone() is already a leaf of its own",
    "occlusion:10:49:number:2": "the model sees a batch of one image, so row -1 is row 0",
}

CONFIG = Config(
    assignment="04_visualization",
    handwritten=HANDWRITTEN,
    equivalent=EQUIVALENT,
    skip=frozenset({"filters_figure", "receptive_table", "topk_figure", "class_figure", "dream_figure", "maps_figure"}),
    timeout=120.0,
)
