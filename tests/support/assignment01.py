"""Typical mistakes in Assignment 1, each made from the instructor's solution by one edit.

For each: the solution-cell edits, the graded cells that must lose their points (worked out by hand from
what each test checks), and a phrase the feedback must contain to name the mistake.
"""

from __future__ import annotations

from .nbcourse import Mistake, Mutation

ASSIGNMENT = NOTEBOOK = "01_layers"


_SIZES = """    ho = conv_output_size(h, kh, stride, padding, dilation)
    wo = conv_output_size(wd, kw, stride, padding, dilation)
    cols = im2col(x, kh, kw, stride, padding, dilation, ho, wo)  # (N, C, kh, kw, Ho, Wo)"""

MISTAKES = [
    Mistake(
        "padding_ignored",
        (Mutation("conv2d", _SIZES, _SIZES.replace("stride, padding, dilation", "stride, 0, dilation")),),
        frozenset({"test_conv2d", "test_conv2d_hidden", "test_conv2d_vectorized", "test_adjoint"}),
        "padding was ignored",
    ),
    Mistake(
        "flipped_kernel",
        (Mutation("conv2d", "np.tensordot(w, cols,", "np.tensordot(w[:, :, ::-1, ::-1], cols,"),),
        frozenset({"test_conv2d", "test_conv2d_hidden", "test_conv2d_vectorized", "test_adjoint"}),
        "the kernel is flipped",
    ),
    Mistake(
        "stride_on_input",
        (
            Mutation(
                "conv2d_naive",
                "xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))\n"
                "    ho = conv_output_size(h, kh, stride, padding, dilation)\n"
                "    wo = conv_output_size(wd, kw, stride, padding, dilation)",
                "x = x[:, :, ::stride, ::stride]\n"
                "    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))\n"
                "    ho = conv_output_size(x.shape[2], kh, 1, padding, dilation)\n"
                "    wo = conv_output_size(x.shape[3], kw, 1, padding, dilation)",
            ),
            Mutation("conv2d_naive", "r, c = i * stride, j * stride", "r, c = i, j"),
        ),
        frozenset({"test_conv2d_naive", "test_conv2d_naive_hidden"}),
        "stride was applied to the input",
    ),
    Mistake(
        "dw_batch_mean",
        (Mutation("conv2d_backward", "axes=([0, 2, 3], [0, 4, 5]))", "axes=([0, 2, 3], [0, 4, 5])) / x.shape[0]"),),
        frozenset({"test_conv2d_backward_dw", "test_conv2d_backward_dw_hidden", "test_conv2d_backward_numerical"}),
        "factor of the batch size",
    ),
    Mistake(
        "db_wrong_axes",
        (Mutation("conv2d_backward", "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(2, 3))"),),
        frozenset({"test_conv2d_backward_db", "test_conv2d_backward_db_hidden"}),
        "db summed over axes (2, 3)",
    ),
    Mistake(
        "maxpool_grad_everywhere",
        (Mutation("pooling", "routed = np.where(argmax == a * kw + b, dout, 0.0)", "routed = dout"),),
        frozenset({"test_max_pool2d_backward", "test_max_pool2d_backward_hidden"}),
        "routed to every position of the window",
    ),
    Mistake(
        "avgpool_not_divided",
        (Mutation("pooling", "+= dout / (kh * kw)", "+= dout"),),
        frozenset({"test_avg_pool2d_backward", "test_avg_pool2d_backward_hidden"}),
        "not divided by the window area",
    ),
    Mistake(
        "library_shortcut",
        (
            Mutation(
                "conv2d",
                "    _, _, h, wd = x.shape\n    _, _, kh, kw = w.shape\n",
                '    lib = __import__("importlib").import_module("torch.nn.functional")\n'
                '    t = __import__("torch")\n'
                "    return lib.conv2d(t.from_numpy(x), t.from_numpy(w), t.from_numpy(b), stride=stride,\n"
                "                      padding=padding, dilation=dilation).numpy()\n",
            ),
        ),
        frozenset({"test_conv2d", "test_conv2d_hidden", "test_conv2d_vectorized", "test_adjoint"}),
        "uses a library",
    ),
    Mistake(
        "receptive_field_no_jump",
        (Mutation("receptive_field", "field += d * (k - 1) * jump", "field += d * (k - 1)"),),
        frozenset({"test_receptive_field", "test_receptive_field_hidden"}),
        "strides ignored",
    ),
    Mistake(
        "not_vectorized",
        (
            Mutation(
                "conv2d",
                "    _, _, h, wd = x.shape\n    _, _, kh, kw = w.shape\n",
                "    return conv2d_naive(x, w, b, stride, padding, dilation)\n",
            ),
        ),
        frozenset({"test_conv2d_vectorized"}),
        "at least 4 times faster",
    ),
    Mistake(
        "transpose_bias_missing",
        (Mutation("conv_transpose2d", "return out + b[None, :, None, None]", "return out"),),
        frozenset({"test_conv_transpose2d", "test_conv_transpose2d_hidden"}),
        "the bias b was not added",
    ),
]
