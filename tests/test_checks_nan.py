"""NaN and infinity are wrong answers in every check: a comparison written `error > tolerance` lets NaN through
(every comparison with NaN is False), so each check below gets the instructor's own answer turned into NaN or
infinity and must fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from autograder.checks import architectures as arch
from autograder.checks import layers
from autograder.checks import unet as unet_checks
from autograder.checks.common import CheckFailed, finite
from tests.support.nbcourse import solution_namespace

TORCH_SETUP = (
    "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom tqdm.auto import tqdm"
)


@pytest.fixture(scope="module")
def a1() -> dict:
    return solution_namespace("01_layers", "01_layers")


@pytest.fixture(scope="module")
def a2() -> dict:
    return solution_namespace(
        "02_unet",
        "02_unet",
        TORCH_SETUP
        + "\nfrom torchvision import tv_tensors\nfrom torchvision.transforms import v2\nfrom cnnlab.data import Shapes"
        + "\nval_masks = torch.zeros(2, 4, 4, dtype=torch.long)",
    )


@pytest.fixture(scope="module")
def a3() -> dict:
    return solution_namespace("03_architectures", "03_architectures", TORCH_SETUP)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_adjoint_refuses_nan_and_infinity(a1, bad):
    def conv2d(*args, **kwargs):
        return a1["conv2d"](*args, **kwargs) * bad

    with pytest.raises(CheckFailed, match="NaN or infinite"):
        layers.check_adjoint(conv2d, a1["conv_transpose2d"])
    layers.check_adjoint(a1["conv2d"], a1["conv_transpose2d"])  # the real ones pass


def test_conv2d_with_nan_fails(a1):
    def conv2d(*args, **kwargs):
        out = a1["conv2d"](*args, **kwargs)
        out.flat[0] = np.nan
        return out

    with pytest.raises(CheckFailed, match="NaN or infinite"):
        layers.check_conv2d(conv2d)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_evaluate_returning_nan_fails(a2, a3, bad):
    def nan_of(evaluate):
        def wrapped(*args, **kwargs):
            evaluate(*args, **kwargs)  # everything done right (eval mode, batches, device), then a NaN result
            return bad

        return wrapped

    with pytest.raises(CheckFailed):
        unet_checks.check_evaluate(nan_of(a2["evaluate"]))
    with pytest.raises(CheckFailed):
        arch.check_evaluate(nan_of(a3["evaluate"]))


def test_double_conv_with_nan_output_fails(a2):
    class NanConv(a2["DoubleConv"]):
        def forward(self, x):
            return super().forward(x) * math.nan

    with pytest.raises(CheckFailed):
        unet_checks.check_double_conv(NanConv)
    unet_checks.check_double_conv(a2["DoubleConv"])


def test_accuracy_threshold_refuses_nan(monkeypatch):
    from autograder.checks.architectures import training
    from autograder.checks.unet import results

    monkeypatch.setattr(training, "score_once", lambda *a, **k: math.nan)
    monkeypatch.setattr(results, "score_once", lambda *a, **k: math.nan)
    with pytest.raises(CheckFailed):
        results.check_result(nn.Conv2d(3, 5, 1), min_miou=0.25, split="val")
    with pytest.raises(CheckFailed):
        training.check_accuracy(nn.Linear(3, 4), min_accuracy=0.45, split="val")


def test_finite_helper():
    assert finite(1.0) and finite(np.ones(3)) and finite(torch.ones(2))
    assert not finite(math.nan) and not finite(np.array([1.0, np.inf])) and not finite(torch.tensor([math.nan]))
    assert not finite("text")
