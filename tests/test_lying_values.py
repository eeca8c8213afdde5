"""A student's value that lies about itself earns nothing.

A subclass of ``numpy.ndarray``, ``torch.Tensor`` or ``float`` defined in a notebook can answer the checks' own
comparisons: a ``__torch_function__`` that makes ``allclose`` true and ``==`` all-equal, ufuncs that return zeros
for any difference, a ``__sub__`` that returns 0. The checks take such values as the plain type holding the same
numbers (``common.plain``): what a student's function returns, and what a student's network outputs when the grader
evaluates it. Each liar below holds wrong numbers and must fail, and the types the course's libraries return
(``nn.Parameter``, torchvision's ``tv_tensors``, NumPy's scalars) are kept as they are.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import tv_tensors

from autograder.checks import layers as a1
from autograder.checks import unet as a2
from autograder.checks.architectures.training import accuracy_of
from autograder.checks.common import plain
from autograder.checks.unet.results import miou_of


class AgreeingTensor(torch.Tensor):
    """Equal to everything, close to everything, and never NaN where that is asked."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal"):
            return True
        out = super().__torch_function__(func, types, args, kwargs or {})
        if name in ("__eq__", "eq"):
            return torch.ones_like(out.as_subclass(torch.Tensor), dtype=torch.bool).as_subclass(cls)
        return out

    def any(self, *args, **kwargs):  # noqa: ARG002
        return False


class ZeroDifferenceArray(np.ndarray):
    """Every ufunc on it gives zeros: ``got - expected`` is 0, so is the relative error."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(np.ndarray.view(self, np.ndarray).shape)


class ZeroDifferenceFloat(float):
    def __sub__(self, other):
        return 0.0

    def __rsub__(self, other):
        return 0.0

    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class ZeroNet(nn.Module):
    """Outputs zeros (class 0 everywhere), dressed as an agreeing tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (len(x), 4) if x.dim() == 4 and x.shape[-1] > 8 else (len(x), 3, *x.shape[-2:])
        return torch.zeros(shape).as_subclass(AgreeingTensor)


def test_assignment_1_an_array_that_zeroes_every_difference_fails():
    def conv2d(x, w, b, stride=1, padding=0, dilation=1):
        out_h = (x.shape[2] + 2 * padding - dilation * (w.shape[2] - 1) - 1) // stride + 1
        out_w = (x.shape[3] + 2 * padding - dilation * (w.shape[3] - 1) - 1) // stride + 1
        return np.zeros((x.shape[0], w.shape[0], out_h, out_w)).view(ZeroDifferenceArray)

    with pytest.raises(AssertionError, match="is wrong for"):
        a1.check_conv2d(conv2d, hidden=True)


def test_assignment_2_a_tensor_that_agrees_with_everything_fails():
    def iou_per_class(pred, target, num_classes, ignore_index=None):
        return torch.zeros(num_classes, dtype=torch.float64).as_subclass(AgreeingTensor)

    with pytest.raises(AssertionError, match="iou_per_class"):
        a2.check_iou_per_class(iou_per_class)


def test_assignment_2_a_float_that_equals_everything_fails():
    def mean_iou(pred, target, num_classes, ignore_index=None):
        return ZeroDifferenceFloat(0.0)

    with pytest.raises(AssertionError, match="got 0.000000, expected"):
        a2.check_mean_iou(mean_iou)


def test_a_network_whose_outputs_agree_with_everything_is_scored_on_its_numbers():
    torch.manual_seed(0)
    images = torch.rand(120, 3, 16, 16)
    labels = torch.randint(0, 4, (120,))
    assert accuracy_of(ZeroNet(), images, labels) == pytest.approx(float((labels == 0).float().mean()))
    masks = torch.randint(0, 3, (6, 8, 8))
    honest = nn.Module()
    honest.unused = nn.Linear(1, 1)
    honest.forward = lambda x: torch.zeros(len(x), 3, *x.shape[-2:])
    assert miou_of(ZeroNet(), torch.rand(6, 3, 8, 8), masks) == pytest.approx(
        miou_of(honest, torch.rand(6, 3, 8, 8), masks)
    )


def test_plain_keeps_the_libraries_types_and_the_gradient():
    parameter = nn.Parameter(torch.ones(2))
    image = tv_tensors.Image(torch.zeros(3, 4, 4))
    scalar = np.float64(0.5)
    assert plain(parameter) is parameter and plain(image) is image and plain(scalar) is scalar
    leaf = torch.ones(3, requires_grad=True)
    made = plain((leaf * 2).as_subclass(AgreeingTensor))
    assert type(made) is torch.Tensor and not torch.allclose(made, torch.zeros(3))
    made.sum().backward()
    assert leaf.grad.tolist() == [2.0, 2.0, 2.0]
    nested = plain({"loss": [ZeroDifferenceFloat(1.5), (np.zeros(2).view(ZeroDifferenceArray),)]})
    assert type(nested["loss"][0]) is float and type(nested["loss"][1][0]) is np.ndarray
