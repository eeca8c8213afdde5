"""Assignment 1's mutation configuration: hand-written student mistakes and the equivalent mutants."""

from __future__ import annotations

from .core import Config, Handwritten

H = Handwritten

_POOL_CEIL = """def max_pool2d(x, kernel_size, stride):
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    n, c, h, w = x.shape
    ho, wo = int(np.ceil((h - kh) / sh)) + 1, int(np.ceil((w - kw) / sw)) + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].max(axis=(2, 3))
    return out
"""

_AVG_CEIL = """def avg_pool2d(x, kernel_size, stride):
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    n, c, h, w = x.shape
    ho, wo = -(-(h - kh) // sh) + 1, -(-(w - kw) // sw) + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].mean(axis=(2, 3))
    return out
"""

_IM2COL_ORDER = """def conv2d(x, w, b, stride=1, padding=0, dilation=1):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ho = conv_output_size(h, kh, stride, padding, dilation)
    wo = conv_output_size(wd, kw, stride, padding, dilation)
    cols = im2col(x, kh, kw, stride, padding, dilation, ho, wo)  # (N, C, kh, kw, Ho, Wo)
    cols = cols.transpose(0, 4, 5, 2, 3, 1).reshape(n * ho * wo, kh * kw * c)  # taps first, channels last
    out = cols @ w.reshape(f, -1).T  # weights flattened channels first
    return out.reshape(n, ho, wo, f).transpose(0, 3, 1, 2) + b[None, :, None, None]
"""

_CALLS_NAIVE = """def conv2d(x, w, b, stride=1, padding=0, dilation=1):
    return conv2d_naive(x, w, b, stride, padding, dilation)
"""

_DX_FANCY = """def conv2d_backward(dout, x, w, b, stride=1, padding=0, dilation=1):
    _, _, h, wd = x.shape
    _, _, kh, kw = w.shape
    _, _, ho, wo = dout.shape
    cols = im2col(x, kh, kw, stride, padding, dilation, ho, wo)
    db = dout.sum(axis=(0, 2, 3))
    dw = np.tensordot(dout, cols, axes=([0, 2, 3], [0, 4, 5]))
    dcols = np.tensordot(w, dout, axes=([0], [1]))  # (C, kh, kw, N, Ho, Wo)
    dxp = np.zeros((x.shape[0], x.shape[1], h + 2 * padding, wd + 2 * padding))
    ii, jj, aa, cc = np.meshgrid(np.arange(ho), np.arange(wo), np.arange(kh), np.arange(kw), indexing="ij")
    rows, columns = ii * stride + aa * dilation, jj * stride + cc * dilation
    dxp[:, :, rows, columns] += dcols.transpose(3, 0, 4, 5, 1, 2)  # repeated (row, column) pairs add only once
    return dxp[:, :, padding : padding + h, padding : padding + wd], dw, db
"""

_TRANSPOSE_FANCY = """def conv_transpose2d(x, w, b, stride=1, padding=0):
    _, _, h, wd = x.shape
    _, c_out, kh, kw = w.shape
    full_h, full_w = (h - 1) * stride + kh, (wd - 1) * stride + kw
    out = np.zeros((x.shape[0], c_out, full_h, full_w))
    contrib = np.tensordot(x, w, axes=([1], [0]))  # (N, H, W, C_out, kh, kw)
    ii, jj, aa, cc = np.meshgrid(np.arange(h), np.arange(wd), np.arange(kh), np.arange(kw), indexing="ij")
    out[:, :, ii * stride + aa, jj * stride + cc] += contrib.transpose(0, 3, 1, 2, 4, 5)
    out = out[:, :, padding : full_h - padding, padding : full_w - padding]
    return out + b[None, :, None, None]
"""

_POOL_SCALAR = (
    "kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size\n"
    "    sh, sw = (stride, stride) if np.isscalar(stride) else stride\n"
    "    n, c, h, wd = x.shape"
)

HANDWRITTEN = [
    H(
        "pool_ceil_mode",
        "max pooling counts a last, partial window (ceil mode)",
        (("pooling", "def max_pool2d", _POOL_CEIL),),
    ),
    H(
        "avg_pool_ceil_mode",
        "average pooling counts a last, partial window (ceil mode)",
        (("pooling", "def avg_pool2d", _AVG_CEIL),),
    ),
    H(
        "pool_square_only",
        "kernel_size and stride taken as ints only, (h, w) pairs not handled",
        (
            (
                "pooling",
                _POOL_SCALAR,
                "kh = kw = int(np.ravel(kernel_size)[0])\n"
                "    sh = sw = int(np.ravel(stride)[0])\n"
                "    n, c, h, wd = x.shape",
            ),
        ),
    ),
    H(
        "im2col_order",
        "im2col columns flattened taps-first, the weights channels-first",
        (("conv2d", "def conv2d", _IM2COL_ORDER),),
    ),
    H(
        "bias_per_tap",
        "the bias added inside the sum, once per input channel and kernel tap",
        (("conv2d_naive", "np.sum(patch * w[f]) + b[f]", "np.sum(patch * w[f] + b[f])"),),
    ),
    H(
        "bias_per_input_channel",
        "the bias vector indexed by input channel (in a one-channel case they agree)",
        (("conv2d_naive", "np.sum(patch * w[f]) + b[f]", "np.sum(patch * w[f]) + b[min(f, x.shape[1] - 1)]"),),
    ),
    H(
        "dx_fancy_index_add",
        "col2im with fancy-index += that drops repeated indices (not np.add.at)",
        (("conv2d_backward", "def conv2d_backward", _DX_FANCY),),
    ),
    H(
        "transpose_fancy_index_add",
        "transposed-convolution stamps added with fancy-index +=",
        (("conv_transpose2d", "def conv_transpose2d", _TRANSPOSE_FANCY),),
    ),
    H(
        "dilation_not_in_size",
        "conv2d's output size computed without the dilation",
        (
            (
                "conv2d",
                "ho = conv_output_size(h, kh, stride, padding, dilation)\n    wo",
                "ho = conv_output_size(h, kh, stride, padding)\n    wo",
            ),
            (
                "conv2d",
                "wo = conv_output_size(wd, kw, stride, padding, dilation)\n    cols",
                "wo = conv_output_size(wd, kw, stride, padding)\n    cols",
            ),
        ),
    ),
    H(
        "pad_one_side",
        "padding added on the top and left only",
        (("conv2d_naive", "(padding, padding), (padding, padding)", "(padding, 0), (padding, 0)"),),
    ),
    H(
        "rf_jump_after",
        "the field grows with the jump after the layer",
        (
            (
                "receptive_field",
                "field += d * (k - 1) * jump\n        jump *= s",
                "jump *= s\n        field += d * (k - 1) * jump",
            ),
        ),
    ),
    H(
        "rf_ignores_strides",
        "the receptive field adds d(k-1) per layer, ignoring the strides",
        (("receptive_field", "field += d * (k - 1) * jump", "field += d * (k - 1)"),),
    ),
    H(
        "size_rounds",
        "the output size rounded instead of floored",
        (
            (
                "conv_output_size",
                "return (i + 2 * p - d * (k - 1) - 1) // s + 1",
                "return round((i + 2 * p - d * (k - 1) - 1) / s) + 1",
            ),
        ),
    ),
    H(
        "conv1d_flipped",
        "the 1-D matrix holds the kernel reversed (a true convolution)",
        (("conv1d_matrix", "m[i, i : i + k] = w", "m[i, i : i + k] = w[::-1]"),),
    ),
    H(
        "db_mean",
        "db averaged over the batch and positions",
        (("conv2d_backward", "db = dout.sum(axis=(0, 2, 3))", "db = dout.mean(axis=(0, 2, 3))"),),
    ),
    H(
        "dx_crop_negative",
        "the padding cropped with negative indices (empty when padding is 0)",
        (
            (
                "conv2d_backward",
                "dx = dxp[:, :, padding : padding + h, padding : padding + wd]",
                "dx = dxp[:, :, padding:-padding, padding:-padding]",
            ),
        ),
    ),
    H(
        "dx_not_cropped",
        "dx returned with the padding still around it",
        (("conv2d_backward", "dx = dxp[:, :, padding : padding + h, padding : padding + wd]", "dx = dxp"),),
    ),
    H(
        "maxpool_backward_assign",
        "max-pool gradient written with = instead of +=",
        (("pooling", "] += routed", "] = routed"),),
    ),
    H(
        "avgpool_backward_assign",
        "average-pool gradient written with = instead of +=",
        (("pooling", "+= dout / (kh * kw)", "= dout / (kh * kw)"),),
    ),
    H(
        "conv_matrix_no_padding",
        "conv_matrix ignores the padding offset",
        (("conv_matrix", "i * stride - padding + a, j * stride - padding + b", "i * stride + a, j * stride + b"),),
    ),
    H(
        "conv_matrix_transposed",
        "conv_matrix returns M transposed",
        (
            (
                "conv_matrix",
                "return m.reshape(n_filters * ho * wo, c_in * h * wd)",
                "return m.reshape(n_filters * ho * wo, c_in * h * wd).T",
            ),
        ),
    ),
    H(
        "transpose_crop_negative",
        "the transposed convolution crops with negative indices",
        (
            (
                "conv_transpose2d",
                "out[:, :, padding : full_h - padding, padding : full_w - padding]",
                "out[:, :, padding:-padding, padding:-padding]",
            ),
        ),
    ),
    H(
        "transpose_no_bias",
        "the transposed convolution forgets its bias",
        (("conv_transpose2d", "return out + b[None, :, None, None]", "return out"),),
    ),
    H(
        "conv2d_calls_naive",
        "the 'vectorized' conv2d just calls conv2d_naive",
        (("conv2d", "def conv2d", _CALLS_NAIVE),),
    ),
    H(
        "kernel_effects_swapped",
        "the Sobel kernels' directions swapped",
        (
            (
                "kernel_effects",
                '"sobel_x": "vertical edges", "sobel_y": "horizontal edges"',
                '"sobel_x": "horizontal edges", "sobel_y": "vertical edges"',
            ),
        ),
    ),
    H(
        "conv_params_no_bias",
        "the parameter count without the biases",
        (("size_answers", '"conv_params": 73856', '"conv_params": 73728'),),
    ),
]

_AS_STRIDED = "the view is only read, so whether as_strided marks it writeable does not matter"
_CONTIGUOUS = "as_strided uses the array's own strides, so a non-contiguous x gives the same windows"
_FLOAT = "x is float64 by the task's contract, so zeros_like(x) is already float"
_BUFFER = "a larger padded buffer for dx: the crop [padding : padding + h] takes the same entries"

EQUIVALENT: dict[str, str] = {
    "conv2d_naive:5:24:number:1": "np.pad's (0, 1) on the batch axis adds an image after the batch that is never read",
    "conv2d_naive:8:10:name_swap:1": "every entry of out is assigned in the loop, so its initial value does not matter",
    "conv2d:17:11:drop_keyword:3": _AS_STRIDED,
    "conv2d:21:18:bool:1": _AS_STRIDED,
    "conv2d_backward:10:48:number:1": _BUFFER,
    "conv2d_backward:10:66:binop:2": _BUFFER,
    "conv2d_backward:10:66:number:1": _BUFFER,
    "pooling:8:11:drop_keyword:3": _AS_STRIDED,
    "pooling:9:95:bool:1": _AS_STRIDED,
    "pooling:15:24:drop_call:1": _CONTIGUOUS,
    "pooling:20:23:drop_call:1": _CONTIGUOUS,
    "pooling:34:24:drop_call:1": _CONTIGUOUS,
    "pooling:24:9:drop_keyword:1": _FLOAT,
    "pooling:42:9:drop_keyword:1": _FLOAT,
}

CONFIG = Config(
    assignment="01_layers",
    handwritten=HANDWRITTEN,
    equivalent=EQUIVALENT,
    skip=frozenset({"figure_1d", "figure_kernels", "figure_matrix"}),
    timeout=60.0,
)
