"""A student's function that answers by calling the grader's own code earns nothing.

Every check computes its expected values with code of the grader: Assignment 1's PyTorch helpers, the grader-only
references of ``autograder.checks.hidden``, ``expected.expect``, the reference helpers of the visible checks. All
of it is importable in the kernel that grades a notebook. Each function below is a student's shortcut through it
(directly, through a grader module's attribute that holds a forbidden library, or catching the refusal and
falling back); each must fail its check with a message that names what it called, while honest code passes.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest
import torch

import autograder.checks.hidden as hidden_package
from autograder.checks import architectures as a3
from autograder.checks import layers as a1
from autograder.checks import unet as a2
from autograder.checks import visualization as a4
from autograder.checks.references import GraderReferenceUsed, grader_reference, student_code


def _fails_naming(check, fn, phrase: str, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        check(fn, **kwargs)
    message = str(info.value)
    assert phrase in message, message
    return message


GRADER = "part of the grader's checks"
LIBRARY = "uses a library"


# ------------------------------------------------------------------------------------------- Assignment 1
def conv2d_through_the_reference(x, w, b, stride=1, padding=0, dilation=1):
    from autograder.checks.layers.cases import _conv_ref

    return _conv_ref(x, w, b, stride, padding, dilation)


def conv2d_through_a_grader_modules_torch(x, w, b, stride=1, padding=0, dilation=1):
    import autograder.checks.architectures.blocks as blocks
    import autograder.checks.unet.model as model

    t = model.torch
    out = blocks.F.conv2d(t.from_numpy(x), t.from_numpy(w), t.from_numpy(b), None, stride, padding, dilation)
    return out.numpy()


def conv2d_through_the_course_librarys_torch(x, w, b, stride=1, padding=0, dilation=1):
    import cnnlab.device

    t = cnnlab.device.torch
    return t.nn.functional.conv2d(
        t.from_numpy(x), t.from_numpy(w), t.from_numpy(b), None, stride, padding, dilation
    ).numpy()


def conv_output_size_through_the_reference(i, k, s=1, p=0, d=1):
    from autograder.checks.layers.sizes import _torch_size

    try:
        return _torch_size(i, k, s, p, d)
    except Exception:  # caught: the refusal is recorded all the same
        return (i + 2 * p - d * (k - 1) - 1) // s + 1


def receptive_field_through_the_reference(layers):
    from autograder.checks.layers.sizes import _rf_reference

    return _rf_reference(layers)


def max_pool2d_through_the_reference(x, kernel_size, stride=None):
    from autograder.checks.layers.pooling import _pool_ref

    return _pool_ref("max", x, kernel_size, stride or kernel_size)


def conv2d_backward_through_the_reference(dout, x, w, b, stride=1, padding=0, dilation=1):
    from autograder.checks.layers.cases import ConvCase, _conv_grads

    return _conv_grads(ConvCase(x, w, b, stride, padding, dilation), dout)


@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize(
    "fn, phrase",
    [
        (conv2d_through_the_reference, "_conv_ref"),
        (conv2d_through_a_grader_modules_torch, LIBRARY),
        (conv2d_through_the_course_librarys_torch, LIBRARY),
    ],
    ids=lambda v: getattr(v, "__name__", "")[:40],
)
def test_assignment_1_conv2d_shortcuts_fail(fn, phrase, hidden):
    _fails_naming(a1.check_conv2d, fn, phrase, hidden=hidden)


def test_assignment_1_other_shortcuts_fail():
    _fails_naming(a1.check_conv_output_size, conv_output_size_through_the_reference, "_torch_size", hidden=True)
    _fails_naming(a1.check_receptive_field, receptive_field_through_the_reference, "_rf_reference", hidden=True)
    _fails_naming(
        lambda fn, hidden: a1.check_pool2d(fn, "max", hidden=hidden), max_pool2d_through_the_reference, "_pool_ref",
        hidden=True,
    )  # fmt: skip
    message = _fails_naming(
        lambda fn, hidden: a1.check_conv2d_backward(fn, "dx", hidden=hidden),
        conv2d_backward_through_the_reference,
        "earns no points",
        hidden=True,
    )
    assert "_conv_grads" in message or LIBRARY in message


def test_assignment_1_honest_code_still_passes():
    def conv_output_size(i, k, s=1, p=0, d=1):
        return (i + 2 * p - d * (k - 1) - 1) // s + 1

    a1.check_conv_output_size(conv_output_size, hidden=True)


# ------------------------------------------------------------------------------------------- Assignment 2
def segmentation_loss_through_the_hidden_reference(logits, target, weight_map=None, dice_weight=1.0):
    from autograder.checks.hidden.unet import segmentation_loss_reference

    return segmentation_loss_reference(logits, target, weight_map, dice_weight)


def iou_per_class_through_a_grader_modules_metrics(pred, target, num_classes, ignore_index=None):
    from autograder.checks.unet import metrics

    return metrics.ref.iou_per_class(metrics.ref.confusion_matrix(pred, target, num_classes, ignore_index))


def test_assignment_2_shortcuts_fail():
    _fails_naming(
        a2.check_segmentation_loss, segmentation_loss_through_the_hidden_reference, "segmentation_loss_reference",
        hidden=True,
    )  # fmt: skip
    _fails_naming(a2.check_iou_per_class, iou_per_class_through_a_grader_modules_metrics, "cnnlab.metrics", hidden=True)


# ------------------------------------------------------------------------------------------- Assignment 3
def inception_params_through_the_hidden_reference(in_ch, c1, c3r, c3, c5r, c5, pool_proj, naive=False):
    from autograder.checks.hidden.architectures import inception_reference_params

    return inception_reference_params(in_ch, c1, c3r, c3, c5r, c5, pool_proj, naive=naive)


def test_assignment_3_shortcut_fails():
    _fails_naming(
        a3.check_inception_params, inception_params_through_the_hidden_reference, "inception_reference_params",
        hidden=True,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------- Assignment 4
def receptive_field_box_through_the_hidden_reference(layers, y, x):
    from autograder.checks.hidden.visualization import _mistaken_box

    return _mistaken_box(layers, y, x)  # with every setting right, the right box


def filter_grid_through_expect(weight, ncols=8, pad=1):
    from autograder.checks.expected import expect

    return torch.as_tensor(expect("visualization", "filter_grid", "any", weight, ncols, pad)["grid"])


def test_assignment_4_shortcuts_fail():
    _fails_naming(a4.check_receptive_field_box, receptive_field_box_through_the_hidden_reference, "_mistaken_box")
    _fails_naming(a4.check_filter_grid, filter_grid_through_expect, "expect")


# ------------------------------------------------------------------------------------------- the mechanism
def _hidden_modules():
    for info in pkgutil.iter_modules(hidden_package.__path__):
        yield importlib.import_module(f"{hidden_package.__name__}.{info.name}")


@pytest.mark.parametrize("module", list(_hidden_modules()), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_function_of_the_grader_only_modules_refuses_student_code(module):
    functions = [
        value
        for value in vars(module).values()
        if inspect.isfunction(value) and inspect.unwrap(value).__module__ == module.__name__
    ]
    assert functions, module.__name__
    unmarked = [f.__name__ for f in functions if not getattr(f, "__grader_reference__", False)]
    assert not unmarked, f"{module.__name__}: {unmarked}"


def test_a_reference_works_for_the_checks_and_refuses_inside_student_code_even_when_caught():
    calls = []

    @grader_reference
    def answer(x):
        calls.append(x)
        return 2 * x

    assert answer(3) == 6  # the checks' own use
    with student_code() as outer, student_code() as inner:
        with pytest.raises(GraderReferenceUsed):
            answer(4)
        try:  # caught by the student's code: recorded all the same
            answer(5)
        except GraderReferenceUsed:
            pass
    assert calls == [3] and len(inner) == 2 and outer == inner
    assert answer(6) == 12  # and works again after


def test_grader_modules_hold_their_libraries_again_after_a_guarded_call():
    import autograder.checks.architectures.blocks as blocks
    import autograder.checks.unet.model as model

    before = (model.torch, blocks.F)
    with pytest.raises(AssertionError):
        a1.check_conv2d(conv2d_through_a_grader_modules_torch)
    assert (model.torch, blocks.F) == before and model.torch is torch
    out = a1.cases._conv_ref(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), None, 1, 0, 1)
    assert out.shape == (1, 1, 2, 2) and np.all(out == 4)
