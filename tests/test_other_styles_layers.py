"""Assignment 1 written in the styles of other well-known code keeps full marks, and more typical mistakes are named.

Correct code, every visible and hidden check (``tests/test_other_styles.py`` covers CS231n's im2col/col2im and
pooling loops):

- sizes: ``math.floor`` of a true division, ``np.floor_divide`` (a NumPy int); receptive fields by the backward
  recursion, by Distill's sum with ``np.prod`` (a whole number in a float: ``np.prod([])`` is 1.0) and with
  ``np.cumprod``;
- the 1-D matrix from shifted ``np.eye`` diagonals, from padded rows, and as a reversed ``sliding_window_view``;
- forward convolutions: d2l's ``corr2d`` double loop per channel, summed; ``sliding_window_view`` with
  ``np.einsum`` and with ``np.tensordot`` in float32; an ``as_strided`` im2col with channels last and the batch
  first (a non-contiguous result); a loop over kernel taps with a float32 accumulator;
- the speed test, with a naive version that loops over output positions only (vectorized over images and filters)
  and a vectorized one whose ``einsum`` runs without BLAS;
- backward passes: dx as a full convolution of the stride-dilated dout with the flipped kernel and dw as a
  correlation of x with it; CS231n's naive loops with float32 accumulators, returned as a list; ``np.add.at`` over
  broadcast index grids;
- pooling: CS231n's reshape trick where windows tile (the remainder cropped), ``np.mean`` over
  ``sliding_window_view`` windows, float32 outputs; max-pool gradients by ``x == max`` masks shared among tied
  maxima (CS231n's fast pooling), by a vectorized argmax with ``np.unravel_index`` and ``np.add.at``, and by a loop
  whose ``>=`` picks the last of tied maxima; average-pool gradients by ``np.add.at`` and by ``repeat``;
- the convolution matrix from the images of the unit vectors (a transposed view) and as a sum of Kronecker
  products; transposed convolutions by d2l's stamping loop, as a convolution of the zero-dilated input with the
  flipped kernel, and as M^T; the adjoint identity with float32 convolutions.

Wrong code loses its points and, where the check can tell, the message names the mistake: the input padded on one
side only, an output size whose dilated kernel spans d*k pixels (or d*(k-1)), the stride or the dilation ignored in
the backward pass, dw of one image only, a max-pool gradient given in full to each of tied maxima, an output stored
in an integer array, dx as a transposed convolution not padded back to x's shape, db with keepdims, np.tensordot's
axes not transposed back, a "vectorized" convolution that still loops over output positions, and a whole number
returned as a float where an int is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from autograder.checks import layers
from autograder.checks.common import CheckFailed
from tests.test_other_styles import cs231n_conv2d

Pair = int | tuple[int, int]
Grads = tuple[np.ndarray, np.ndarray, np.ndarray]


# ------------------------------------------------------------------------------------------------- sizes
def floor_output_size(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """``math.floor`` of a true division (an int)."""
    return math.floor((i + 2 * p - d * (k - 1) - 1) / s) + 1


def numpy_output_size(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> np.integer:
    """``np.floor_divide``: a NumPy int."""
    return np.floor_divide(i + 2 * p - d * (k - 1) - 1, s) + 1


def backward_receptive_field(layers_: list[tuple[int, int, int]]) -> int:
    """From the output back to the input: r_{l-1} = s_l r_l + (d_l (k_l - 1) + 1 - s_l)."""
    r = 1
    for k, s, d in reversed(layers_):
        r = s * r + d * (k - 1) + 1 - s
    return r


def distill_receptive_field(layers_: list[tuple[int, int, int]]) -> float:
    """Distill's closed form, sum_l (k_l - 1) prod_{i<l} s_i + 1, with ``np.prod`` (a float: np.prod([]) is 1.0)."""
    spans = [d * (k - 1) + 1 for k, _, d in layers_]
    strides = [s for _, s, _ in layers_]
    return sum((spans[l] - 1) * np.prod(strides[:l]) for l in range(len(layers_))) + 1  # noqa: E741


def cumprod_receptive_field(layers_: list[tuple[int, int, int]]) -> np.integer:
    """The jumps as a cumulative product of the strides (a NumPy int)."""
    k, s, d = np.array(layers_).T
    jumps = np.concatenate([[1], np.cumprod(s)[:-1]])
    return 1 + np.sum(d * (k - 1) * jumps)


# ---------------------------------------------------------------------------------------- 1-D matrix
def eye_conv1d_matrix(w: np.ndarray, n: int) -> np.ndarray:
    """One shifted identity per kernel tap: ``np.eye(rows, n, k=j)``."""
    k = len(w)
    return sum(w[j] * np.eye(n - k + 1, n, k=j) for j in range(k))


def padded_rows_conv1d_matrix(w: np.ndarray, n: int) -> np.ndarray:
    """Each row is w padded with i zeros before it."""
    k = len(w)
    return np.array([np.pad(w, (i, n - k - i)) for i in range(n - k + 1)])


def window_conv1d_matrix(w: np.ndarray, n: int) -> np.ndarray:
    """Windows of length n over zeros, w, zeros, taken in reverse order: a read-only view with a negative stride."""
    k = len(w)
    z = np.concatenate([np.zeros(n - k), w, np.zeros(n - k)])
    return sliding_window_view(z, n)[n - k :: -1]


# ------------------------------------------------------------------------------------ forward convolution
def _pad(x: np.ndarray, p: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def _size(h: int, k: int, s: int, p: int, d: int) -> int:
    return (h + 2 * p - d * (k - 1) - 1) // s + 1


def corr2d(image: np.ndarray, kernel: np.ndarray, s: int = 1, d: int = 1) -> np.ndarray:
    """d2l's ``corr2d`` (a double loop over the output), with a stride and a dilation."""
    kh, kw = kernel.shape
    span_h, span_w = d * (kh - 1) + 1, d * (kw - 1) + 1
    out = np.zeros(((image.shape[0] - span_h) // s + 1, (image.shape[1] - span_w) // s + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (image[i * s : i * s + span_h : d, j * s : j * s + span_w : d] * kernel).sum()
    return out


def d2l_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """d2l's ``corr2d_multi_in_out``: per image and filter, the channels' correlations summed, then stacked."""
    return np.stack(
        [
            np.stack([sum(corr2d(xc, kc, stride, dilation) for xc, kc in zip(image, k)) + bf for k, bf in zip(w, b)])
            for image in _pad(x, padding)
        ]
    )


def _windows(xp: np.ndarray, kh: int, kw: int, stride: int, dilation: int) -> np.ndarray:
    """(N, C, Ho, Wo, kh, kw): ``sliding_window_view`` over the dilated span, subsampled by stride and dilation."""
    span = (dilation * (kh - 1) + 1, dilation * (kw - 1) + 1)
    return sliding_window_view(xp, span, axis=(2, 3))[:, :, ::stride, ::stride, ::dilation, ::dilation]


def einsum_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """``sliding_window_view`` and a plain ``np.einsum`` (no ``optimize``: no BLAS, several times slower)."""
    win = _windows(_pad(x, padding), w.shape[2], w.shape[3], stride, dilation)
    return np.einsum("nchwij,fcij->nfhw", win, w) + b[:, None, None]


def float32_tensordot_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """Everything in float32, as in PyTorch: ``np.tensordot`` over windows, a transposed (non-contiguous) result."""
    x, w, b = x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)
    win = _windows(_pad(x, padding), w.shape[2], w.shape[3], stride, dilation)
    out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, F)
    return out.transpose(0, 3, 1, 2) + b[None, :, None, None]


def channels_last_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """im2col with ``as_strided`` on an NHWC view: rows (N, Ho, Wo), columns (kh, kw, C), w flattened to match."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = _pad(x, padding).transpose(0, 2, 3, 1)
    ho, wo = _size(h, kh, stride, padding, dilation), _size(wd, kw, stride, padding, dilation)
    sn, sh, sw, sc = xp.strides
    strides = (sn, sh * stride, sw * stride, sh * dilation, sw * dilation, sc)
    cols = as_strided(xp, (n, ho, wo, kh, kw, c), strides, writeable=False).reshape(n * ho * wo, kh * kw * c)
    out = cols @ w.transpose(0, 2, 3, 1).reshape(f, -1).T + b
    return out.reshape(n, ho, wo, f).transpose(0, 3, 1, 2)


def float32_taps_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """A loop over the kernel taps, each an ``einsum`` over strided slices, added into a float32 array."""
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = _pad(x, padding)
    ho, wo = _size(h, kh, stride, padding, dilation), _size(wd, kw, stride, padding, dilation)
    out = np.zeros((n, f, ho, wo), dtype=np.float32)
    for a in range(kh):
        for e in range(kw):
            r, q = a * dilation, e * dilation
            patch = xp[:, :, r : r + stride * (ho - 1) + 1 : stride, q : q + stride * (wo - 1) + 1 : stride]
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, a, e])
    return out + b.reshape(1, -1, 1, 1)


def positions_loop_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """A naive version that loops over output positions only, a ``tensordot`` over images and filters at each."""
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = _pad(x, padding)
    ho, wo = _size(h, kh, stride, padding, dilation), _size(wd, kw, stride, padding, dilation)
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            r, q = i * stride, j * stride
            patch = xp[:, :, r : r + dilation * (kh - 1) + 1 : dilation, q : q + dilation * (kw - 1) + 1 : dilation]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def four_loops_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """The naive version the notebook asks for: loops over images, filters and output positions."""
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = _pad(x, padding)
    ho, wo = _size(h, kh, stride, padding, dilation), _size(wd, kw, stride, padding, dilation)
    out = np.zeros((n, f, ho, wo))
    for m in range(n):
        for k in range(f):
            for i in range(ho):
                for j in range(wo):
                    r, q = i * stride, j * stride
                    span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
                    out[m, k, i, j] = (
                        np.sum(xp[m, :, r : r + span_h : dilation, q : q + span_w : dilation] * w[k]) + b[k]
                    )
    return out


FORWARD = [d2l_conv2d, einsum_conv2d, float32_tensordot_conv2d, channels_last_conv2d, float32_taps_conv2d,
           positions_loop_conv2d]  # fmt: skip
VECTORIZED = [einsum_conv2d, float32_tensordot_conv2d, channels_last_conv2d, float32_taps_conv2d, cs231n_conv2d]
NAIVE = [d2l_conv2d, positions_loop_conv2d, four_loops_conv2d]


# --------------------------------------------------------------------------------------------- backward
def _dilate(a: np.ndarray, s: int) -> np.ndarray:
    """``s - 1`` zeros between neighbouring entries of the last two axes."""
    if s == 1:
        return a
    out = np.zeros((*a.shape[:2], (a.shape[2] - 1) * s + 1, (a.shape[3] - 1) * s + 1), dtype=a.dtype)
    out[:, :, ::s, ::s] = a
    return out


def full_convolution_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> Grads:
    """dx: the full convolution of the stride-dilated dout with the flipped, channel-swapped (dilated) kernel, padded
    where no window reached; dw: the correlation of the padded x with the stride-dilated dout, taps d apart."""
    _, _, h, wd = x.shape
    _, _, kh, kw = w.shape
    kernel = _dilate(w, dilation)
    span_h, span_w = kernel.shape[2:]
    spread = _dilate(dout, stride)
    full = np.pad(spread, ((0, 0), (0, 0), (span_h - 1,) * 2, (span_w - 1,) * 2))
    flipped = kernel[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    dxp = np.einsum("nfhwij,cfij->nchw", sliding_window_view(full, (span_h, span_w), axis=(2, 3)), flipped)
    dxp = np.pad(dxp, ((0, 0), (0, 0), (0, h + 2 * padding - dxp.shape[2]), (0, wd + 2 * padding - dxp.shape[3])))
    windows = sliding_window_view(_pad(x, padding), spread.shape[2:], axis=(2, 3))[:, :, ::dilation, ::dilation]
    dw = np.einsum("ncabij,nfij->fcab", windows[:, :, :kh, :kw], spread, optimize=True)
    return dxp[:, :, padding : padding + h, padding : padding + wd], dw, np.sum(dout, axis=(0, 2, 3))


def _loop_backward(
    dout: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    stride: int,
    padding: int,
    dilation: int,
    dtype: type = np.float64,
    assign_dw: bool = False,
) -> Grads:
    """CS231n's naive backward pass: a loop over images and output positions, vectorized over the filters;
    ``assign_dw`` keeps only the last image's dw (``=`` in place of ``+=``: a mistake)."""
    n, _, h, wd = x.shape
    _, _, kh, kw = w.shape
    _, _, ho, wo = dout.shape
    xp = _pad(x, padding)
    dxp, dw = np.zeros(xp.shape, dtype=dtype), np.zeros(w.shape, dtype=dtype)
    for m in range(n):
        dw_m = np.zeros(w.shape, dtype=dtype)
        for i in range(ho):
            for j in range(wo):
                rows = slice(i * stride, i * stride + dilation * (kh - 1) + 1, dilation)
                cols = slice(j * stride, j * stride + dilation * (kw - 1) + 1, dilation)
                dw_m += dout[m, :, i, j][:, None, None, None] * xp[m, :, rows, cols][None]
                dxp[m, :, rows, cols] += np.tensordot(dout[m, :, i, j], w, axes=(0, 0))
        dw = dw_m if assign_dw else dw + dw_m
    return dxp[:, :, padding : padding + h, padding : padding + wd], dw, dout.sum(axis=(0, 2, 3)).astype(dtype)


def float32_list_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> list[np.ndarray]:
    """CS231n's naive loops with float32 accumulators, the gradients returned as a list."""
    return list(_loop_backward(dout, x, w, stride, padding, dilation, dtype=np.float32))


def add_at_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> Grads:
    """Patches gathered with broadcast index grids (N, C, Ho, Wo, kh, kw); dx scattered back with ``np.add.at``
    and cropped with ``shape - padding``."""
    _, _, ho, wo = dout.shape
    _, _, kh, kw = w.shape
    xp = _pad(x, padding)
    rows = (np.arange(ho) * stride)[:, None, None, None] + (np.arange(kh) * dilation)[None, None, :, None]
    cols = (np.arange(wo) * stride)[None, :, None, None] + (np.arange(kw) * dilation)[None, None, None, :]
    dw = np.einsum("nfij,ncijab->fcab", dout, xp[:, :, rows, cols])
    dxp = np.zeros_like(xp)
    np.add.at(dxp, (slice(None), slice(None), rows, cols), np.einsum("nfij,fcab->ncijab", dout, w))
    return dxp[:, :, padding : dxp.shape[2] - padding, padding : dxp.shape[3] - padding], dw, dout.sum((0, 2, 3))


BACKWARD = [full_convolution_backward, float32_list_backward, add_at_backward]


# ---------------------------------------------------------------------------------------------- pooling
def _pair(v: Pair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def reshape_max_pool2d(x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """CS231n's fast pooling: the reshape trick where windows tile (the remainder cropped), else strided windows."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    n, c, h, w = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    if (kh, kw) == (sh, sw):
        return x[:, :, : ho * kh, : wo * kw].reshape(n, c, ho, kh, wo, kw).max(axis=3).max(axis=4)
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw].max(axis=(-2, -1))


def reshape_max_pool2d_backward(dout: np.ndarray, x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """CS231n's ``max_pool_backward_reshape``: a mask ``x == max``, divided by the number of maxima in the window;
    a loop with the same mask where windows do not tile."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    n, c, _, _ = x.shape
    ho, wo = dout.shape[2:]
    dx = np.zeros_like(x)
    if (kh, kw) == (sh, sw):
        xr = x[:, :, : ho * kh, : wo * kw].reshape(n, c, ho, kh, wo, kw)
        mask = xr == xr.max(axis=3).max(axis=4)[:, :, :, None, :, None]
        spread, _ = np.broadcast_arrays(dout[:, :, :, None, :, None], xr)
        dxr = np.zeros_like(xr)
        dxr[mask] = spread[mask]
        dxr /= np.sum(mask, axis=(3, 5), keepdims=True)
        dx[:, :, : ho * kh, : wo * kw] = dxr.reshape(n, c, ho * kh, wo * kw)
        return dx
    for i in range(ho):
        for j in range(wo):
            win = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            mask = win == win.max(axis=(2, 3), keepdims=True)
            share = mask / mask.sum(axis=(2, 3), keepdims=True)
            dx[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += share * dout[:, :, i : i + 1, j : j + 1]
    return dx


def argmax_add_at_max_pool2d_backward(dout: np.ndarray, x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """A vectorized argmax over flattened windows, ``np.unravel_index``, and ``np.add.at`` into dx."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    n, c, _, _ = x.shape
    ho, wo = dout.shape[2:]
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw].reshape(n, c, ho, wo, kh * kw)
    a, e = np.unravel_index(win.argmax(axis=-1), (kh, kw))
    images, channels = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
    index = (images[:, :, None, None], channels[:, :, None, None], np.arange(ho)[:, None] * sh + a,
             np.arange(wo)[None, :] * sw + e)  # fmt: skip
    dx = np.zeros_like(x)
    np.add.at(dx, index, dout)
    return dx


def last_maximum_max_pool2d_backward(dout: np.ndarray, x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """Scalar loops whose ``>=`` keeps the last of tied maxima (PyTorch keeps the first: both are gradients)."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    dx = np.zeros_like(x)
    for m, ch, i, j in np.ndindex(dout.shape):
        best, where = -np.inf, (0, 0)
        for a in range(kh):
            for e in range(kw):
                if x[m, ch, i * sh + a, j * sw + e] >= best:
                    best, where = x[m, ch, i * sh + a, j * sw + e], (i * sh + a, j * sw + e)
        dx[m, ch, where[0], where[1]] += dout[m, ch, i, j]
    return dx


def mean_avg_pool2d(x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """``np.mean`` over ``sliding_window_view`` windows."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    return np.mean(sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw], axis=(-2, -1))


def float32_avg_pool2d(x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """The same in float32."""
    return mean_avg_pool2d(x.astype(np.float32), kernel_size, stride)


def add_at_avg_pool2d_backward(dout: np.ndarray, x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """dout / (kh kw) broadcast over each window and added with ``np.add.at``."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    ho, wo = dout.shape[2:]
    rows = (np.arange(ho) * sh)[:, None, None, None] + np.arange(kh)[None, None, :, None]
    cols = (np.arange(wo) * sw)[None, :, None, None] + np.arange(kw)[None, None, None, :]
    dx = np.zeros(x.shape)
    share = np.broadcast_to(dout[..., None, None] / (kh * kw), (*dout.shape, kh, kw))
    np.add.at(dx, (slice(None), slice(None), rows, cols), share)
    return dx


def repeat_avg_pool2d_backward(dout: np.ndarray, x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """``repeat`` up-sampling where windows tile (zeros in the remainder), a loop over windows elsewhere."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    ho, wo = dout.shape[2:]
    dx = np.zeros_like(x)
    if (kh, kw) == (sh, sw):
        dx[:, :, : ho * kh, : wo * kw] = dout.repeat(kh, axis=2).repeat(kw, axis=3) / (kh * kw)
        return dx
    for i in range(ho):
        for j in range(wo):
            dx[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += dout[:, :, i : i + 1, j : j + 1] / (kh * kw)
    return dx


# ------------------------------------------------------------------- convolution matrix and transposed
def unit_vectors_conv_matrix(
    w: np.ndarray, input_shape: tuple[int, int, int], stride: int = 1, padding: int = 0
) -> np.ndarray:
    """The images of the unit vectors under one's own convolution, as columns: a transposed view."""
    size = math.prod(input_shape)
    images = einsum_conv2d(np.eye(size).reshape(size, *input_shape), w, np.zeros(w.shape[0]), stride, padding)
    return images.reshape(size, -1).T


def _select(n_out: int, n_in: int, offset: int, stride: int) -> np.ndarray:
    """The 0/1 matrix whose row i picks entry offset + i * stride (a row of zeros where that is outside)."""
    index = np.arange(n_out) * stride + offset
    inside = (index >= 0) & (index < n_in)
    out = np.zeros((n_out, n_in))
    out[np.arange(n_out)[inside], index[inside]] = 1.0
    return out


def kronecker_conv_matrix(
    w: np.ndarray, input_shape: tuple[int, int, int], stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Doubly block Toeplitz as a sum over taps of kron(w[:, :, a, b], kron(rows_a, columns_b))."""
    _, h, wd = input_shape
    _, _, kh, kw = w.shape
    ho, wo = _size(h, kh, stride, padding, 1), _size(wd, kw, stride, padding, 1)
    return sum(
        np.kron(w[:, :, a, e], np.kron(_select(ho, h, a - padding, stride), _select(wo, wd, e - padding, stride)))
        for a in range(kh)
        for e in range(kw)
    )


def d2l_conv_transpose2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """d2l's ``trans_conv``: every input pixel stamps the kernel (per channel pair, with ``einsum``), then a crop."""
    n, _, h, wd = x.shape
    _, c_out, kh, kw = w.shape
    out = np.zeros((n, c_out, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i in range(h):
        for j in range(wd):
            stamp = np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
            out[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += stamp
    out = out[:, :, padding : out.shape[2] - padding, padding : out.shape[3] - padding]
    return out + b.reshape(1, -1, 1, 1)


def direct_conv_transpose2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """As a direct convolution (the guide to convolution arithmetic): stride - 1 zeros between input pixels, k - 1 - p
    zeros around, and a correlation with the flipped kernel whose channel axes are swapped."""
    _, _, kh, kw = w.shape
    margin_h, margin_w = kh - 1 - padding, kw - 1 - padding
    xd = np.pad(_dilate(x, stride), ((0, 0), (0, 0), (max(margin_h, 0),) * 2, (max(margin_w, 0),) * 2))
    xd = xd[
        :, :, max(-margin_h, 0) : xd.shape[2] - max(-margin_h, 0), max(-margin_w, 0) : xd.shape[3] - max(-margin_w, 0)
    ]
    return einsum_conv2d(xd, w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), b)


def matrix_conv_transpose2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """M^T y: the convolution matrix from the output's shape to the input's, applied transposed."""
    n, _, h, wd = x.shape
    _, c_out, kh, kw = w.shape
    ho, wo = (h - 1) * stride - 2 * padding + kh, (wd - 1) * stride - 2 * padding + kw
    m = kronecker_conv_matrix(w, (c_out, ho, wo), stride, padding)
    return (x.reshape(n, -1) @ m).reshape(n, c_out, ho, wo) + b[:, None, None]


TRANSPOSED = [d2l_conv_transpose2d, direct_conv_transpose2d, matrix_conv_transpose2d]


# ================================================================================ correct code: full marks
@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_sizes_and_receptive_fields_in_other_styles_keep_full_marks(hidden: bool) -> None:
    for size in (floor_output_size, numpy_output_size):
        layers.check_conv_output_size(size, hidden=hidden)
    for field in (backward_receptive_field, distill_receptive_field, cumprod_receptive_field):
        layers.check_receptive_field(field, hidden=hidden)
    assert isinstance(distill_receptive_field([(3, 1, 1)]), float)  # the style this covers: a whole float


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_one_dimensional_matrices_in_other_styles_keep_full_marks(hidden: bool) -> None:
    assert window_conv1d_matrix(np.ones(3), 6).strides[0] < 0  # a view with a negative stride
    for matrix in (eye_conv1d_matrix, padded_rows_conv1d_matrix, window_conv1d_matrix):
        layers.check_conv1d_matrix(matrix, hidden=hidden)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("conv2d", FORWARD, ids=lambda f: f.__name__)
def test_forward_convolutions_in_other_styles_keep_full_marks(conv2d: Callable, hidden: bool) -> None:
    layers.check_conv2d(conv2d, hidden=hidden)
    layers.check_conv2d(conv2d, hidden=hidden, task="conv2d_naive")


@pytest.mark.parametrize("naive", NAIVE, ids=lambda f: f.__name__)
def test_a_vectorized_convolution_is_fast_enough_whatever_the_naive_version_vectorizes(naive: Callable) -> None:
    """A naive version vectorized over images and filters came within 3 times of a plain ``einsum`` on a case
    with 4 images and 8 filters; on one image with two filters every vectorized style is over 10 times faster."""
    for conv2d in VECTORIZED:
        layers.check_conv2d_is_vectorized(conv2d, naive)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("backward", BACKWARD, ids=lambda f: f.__name__)
def test_backward_passes_in_other_styles_keep_full_marks(backward: Callable, hidden: bool) -> None:
    for part in ("dx", "dw", "db"):
        layers.check_conv2d_backward(backward, part, hidden=hidden)
    if not hidden:  # the numerical-gradient check has no hidden cases
        layers.check_conv2d_backward_numerically(backward)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_pooling_in_other_styles_keeps_full_marks(hidden: bool) -> None:
    layers.check_pool2d(reshape_max_pool2d, "max", hidden=hidden)
    for forward in (mean_avg_pool2d, float32_avg_pool2d):
        layers.check_pool2d(forward, "avg", hidden=hidden)
    for backward in (reshape_max_pool2d_backward, argmax_add_at_max_pool2d_backward, last_maximum_max_pool2d_backward):
        layers.check_pool2d_backward(backward, "max", hidden=hidden)
    for backward in (add_at_avg_pool2d_backward, repeat_avg_pool2d_backward):
        layers.check_pool2d_backward(backward, "avg", hidden=hidden)


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
def test_matrices_and_transposed_convolutions_in_other_styles_keep_full_marks(hidden: bool) -> None:
    for matrix in (unit_vectors_conv_matrix, kronecker_conv_matrix):
        layers.check_conv_matrix(matrix, hidden=hidden)
    for transposed in TRANSPOSED:
        layers.check_conv_transpose2d(transposed, hidden=hidden)


@pytest.mark.parametrize("conv2d", [einsum_conv2d, float32_tensordot_conv2d, float32_taps_conv2d, d2l_conv2d],
                         ids=lambda f: f.__name__)  # fmt: skip
def test_the_adjoint_identity_holds_to_the_assignments_accuracy_in_float32_too(conv2d: Callable) -> None:
    """float32 convolutions are right to the stated accuracy (1e-5), and so is their adjoint identity."""
    for transposed in TRANSPOSED:
        layers.check_adjoint(conv2d, transposed)


# ======================================================================= wrong code: named and failing
def one_side_padded_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """Mistake: the input padded at the top and on the left only."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, 0), (padding, 0)))
    return einsum_conv2d(xp, w, b, stride, 0, dilation)


def bottom_right_padded_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """Mistake: the input padded at the bottom and on the right only."""
    xp = np.pad(x, ((0, 0), (0, 0), (0, padding), (0, padding)))
    return einsum_conv2d(xp, w, b, stride, 0, dilation)


def span_dk_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """Mistake: the output size counts a dilated kernel as d*k pixels wide (windows themselves right)."""
    h = (x.shape[2] + 2 * padding - dilation * w.shape[2]) // stride + 1
    wd = (x.shape[3] + 2 * padding - dilation * w.shape[3]) // stride + 1
    return einsum_conv2d(x, w, b, stride, padding, dilation)[:, :, :h, :wd]


def span_dk_output_size(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Mistake: a dilated kernel taken to span d*k pixels."""
    return (i + 2 * p - d * k) // s + 1


def missing_minus_one_output_size(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Mistake: the kernel's span taken as d*(k-1)."""
    return (i + 2 * p - d * (k - 1)) // s + 1


def no_stride_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> Grads:
    """Mistake: the backward loops read the window at (i, j), not (i * s, j * s)."""
    return _loop_backward(dout, x, w, 1, padding, dilation)


def no_dilation_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> Grads:
    """Mistake: the backward loops take the kernel taps next to each other."""
    return _loop_backward(dout, x, w, stride, padding, 1)


def last_image_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> Grads:
    """Mistake: dw assigned (=) in the loop over the batch: the last image's only."""
    return _loop_backward(dout, x, w, stride, padding, dilation, assign_dw=True)


def every_tie_max_pool2d_backward(dout: np.ndarray, x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """Mistake: the mask ``x == max`` times dout, not divided by the number of maxima."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            mask = win == win.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += mask * dout[:, :, i : i + 1, j : j + 1]
    return dx


def integer_max_pool2d(x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """Mistake: the output array made with ``dtype=int``, so every maximum is truncated."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    n, c, h, w = x.shape
    out = np.zeros((n, c, (h - kh) // sh + 1, (w - kw) // sw + 1), dtype=int)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].max(axis=(2, 3))
    return out


def integer_max_pool2d_backward(dout: np.ndarray, x: np.ndarray, kernel_size: Pair, stride: Pair) -> np.ndarray:
    """Mistake: dx made with ``dtype=int``; each ``dx[...] += dout[...]`` of one entry is truncated as it is stored,
    without an error."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride)
    dx = np.zeros(x.shape, dtype=int)
    for m, ch, i, j in np.ndindex(dout.shape):
        window = x[m, ch, i * sh : i * sh + kh, j * sw : j * sw + kw]
        a, e = np.unravel_index(window.argmax(), window.shape)
        dx[m, ch, i * sh + a, j * sw + e] += dout[m, ch, i, j]
    return dx


def transposed_dx_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> Grads:
    """Mistake (with dilation 1): dx as the transposed convolution of dout, not padded back to x's shape where the
    last rows and columns were read by no window."""
    _, dw, db = full_convolution_backward(dout, x, w, b, stride, padding, dilation)
    return d2l_conv_transpose2d(dout, w, np.zeros(x.shape[1]), stride, padding), dw, db


def keepdims_backward(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> Grads:
    """Mistake: db summed with keepdims=True, shape (1, F, 1, 1)."""
    dx, dw, _ = full_convolution_backward(dout, x, w, b, stride, padding, dilation)
    return dx, dw, dout.sum(axis=(0, 2, 3), keepdims=True)


def untransposed_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0, dilation: int = 1
) -> np.ndarray:
    """Mistake: ``np.tensordot(w, windows)`` is (F, N, Ho, Wo), returned without the transpose back."""
    win = _windows(_pad(x, padding), w.shape[2], w.shape[3], stride, dilation)
    return np.tensordot(w, win, axes=([1, 2, 3], [1, 4, 5])) + b[:, None, None, None]


MISTAKES = {
    "padded at the top and left only": (
        lambda hidden: layers.check_conv2d(one_side_padded_conv2d, hidden=hidden),
        "An input padded on one side only gives these values too",
    ),
    "padded at the bottom and right only": (
        lambda hidden: layers.check_conv2d(bottom_right_padded_conv2d, hidden=hidden),
        "the input was padded on one side only",
    ),
    "conv2d's size with a span of d*k": (
        lambda hidden: layers.check_conv2d(span_dk_conv2d, hidden=hidden),
        "the number of output positions is off",
    ),
    "conv_output_size with a span of d*k": (
        lambda hidden: layers.check_conv_output_size(span_dk_output_size, hidden=hidden),
        "the dilated kernel was taken to span d*k pixels",
    ),
    "stride ignored in dx": (
        lambda hidden: layers.check_conv2d_backward(no_stride_backward, "dx", hidden=hidden),
        "the stride was ignored in the backward pass",
    ),
    "stride ignored in dw": (
        lambda hidden: layers.check_conv2d_backward(no_stride_backward, "dw", hidden=hidden),
        "the stride was ignored in the backward pass",
    ),
    "dilation ignored in dx": (
        lambda hidden: layers.check_conv2d_backward(no_dilation_backward, "dx", hidden=hidden),
        "the dilation was ignored in the backward pass",
    ),
    "dilation ignored in dw": (
        lambda hidden: layers.check_conv2d_backward(no_dilation_backward, "dw", hidden=hidden),
        "the dilation was ignored in the backward pass",
    ),
    "dw of the last image only": (
        lambda hidden: layers.check_conv2d_backward(last_image_backward, "dw", hidden=hidden),
        "dw is the last image's contribution only",
    ),
    "max-pool gradient to each tied maximum": (
        lambda hidden: layers.check_pool2d_backward(every_tie_max_pool2d_backward, "max", hidden=hidden),
        "each of the tied maxima got all of dout",
    ),
    "max pooling into an integer array": (
        lambda hidden: layers.check_pool2d(integer_max_pool2d, "max", hidden=hidden),
        "(integers), so every value was truncated",
    ),
    "max-pool gradient in an integer array": (
        lambda hidden: layers.check_pool2d_backward(integer_max_pool2d_backward, "max", hidden=hidden),
        "(integers), so every value was truncated",
    ),
}


#: Named on the visible cases (the hidden ones may fail them first for another reason).
VISIBLE_MISTAKES = {
    "dx as a transposed convolution, not padded": (
        lambda: layers.check_conv2d_backward(transposed_dx_backward, "dx"),
        "dx has the shape of x. The rows and columns at the bottom or on the right that no window reaches",
    ),
    "dx as a transposed convolution, numerically": (
        lambda: layers.check_conv2d_backward_numerically(transposed_dx_backward),
        "(PyTorch's output_padding)",
    ),
    "db with keepdims": (
        lambda: layers.check_conv2d_backward(keepdims_backward, "db"),
        "the values are right, in the right order, but db must have shape (1,): a reshape is missing",
    ),
    "tensordot's axes not transposed back": (
        lambda: layers.check_conv2d(untransposed_conv2d),
        "the axes are in another order: output.transpose(1, 0, 2, 3) is right",
    ),
}


@pytest.mark.parametrize("mistake", VISIBLE_MISTAKES, ids=list(VISIBLE_MISTAKES))
def test_a_layout_or_size_mistake_is_named(mistake: str) -> None:
    check, phrase = VISIBLE_MISTAKES[mistake]
    with pytest.raises(CheckFailed) as failure:
        check()
    assert phrase in failure.value.message, failure.value.message


@pytest.mark.parametrize("hidden", [False, True], ids=["visible", "hidden"])
@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_typical_mistake_loses_its_points_and_is_named(mistake: str, hidden: bool) -> None:
    check, phrase = MISTAKES[mistake]
    with pytest.raises(CheckFailed) as failure:
        check(hidden)
    assert phrase in failure.value.message, failure.value.message


def test_the_off_by_one_of_the_kernel_span_is_named() -> None:
    with pytest.raises(CheckFailed, match="off by one; the kernel spans d\\*\\(k-1\\)\\+1 pixels"):
        layers.check_conv_output_size(missing_minus_one_output_size)


def test_a_convolution_that_still_loops_over_output_positions_is_not_vectorized() -> None:
    """Vectorized over images and filters but looping over positions: as slow as the naive version on the timing
    case (one image, two filters), where it passed before against a naive version that loops over both."""
    for naive in (four_loops_conv2d, d2l_conv2d):
        with pytest.raises(CheckFailed, match="must be at least 4 times faster"):
            layers.check_conv2d_is_vectorized(positions_loop_conv2d, naive)


def test_a_whole_number_in_a_float_is_named_as_such() -> None:
    with pytest.raises(CheckFailed, match=r"return an int, not a float"):
        layers.check_conv_output_size(lambda i, k, s=1, p=0, d=1: np.floor((i + 2 * p - d * (k - 1) - 1) / s) + 1)
    with pytest.raises(CheckFailed, match=r"a fraction: .* round the number of steps down"):  # stride 3 first
        layers.check_conv_output_size(lambda i, k, s=1, p=0, d=1: (i + 2 * p - d * (k - 1) - 1) / s + 1, hidden=True)
    with pytest.raises(CheckFailed, match=r"112\.0 is the right number as a float: give the answer as an int, 112"):
        layers.check_number("vgg_block", 112.0, 112, "Padding 1 keeps 224; the pool halves it.")
    with pytest.raises(CheckFailed, match=r"224\.0 is not right"):
        layers.check_number("vgg_block", 224.0, 112, "Padding 1 keeps 224; the pool halves it.")
    layers.check_number("vgg_block", np.int64(112), 112, "Padding 1 keeps 224; the pool halves it.")
    with pytest.raises(CheckFailed, match=r"got '5' for layers .* an int"):
        layers.check_receptive_field(lambda layers_: "5")
    with pytest.raises(CheckFailed, match=r"got 4 for layers \[\(3, 1, 1\), \(3, 1, 1\)\], expected 5"):
        layers.check_receptive_field(lambda layers_: 4.0 if len(layers_) == 2 else backward_receptive_field(layers_))
