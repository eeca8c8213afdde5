import math

import pytest
import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_jaccard_index

from cnnlab.metrics import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy


def test_small_example_by_hand():
    target = torch.tensor([[0, 0, 1], [1, 2, 2]])
    pred = torch.tensor([[0, 1, 1], [1, 2, 0]])
    cm = confusion_matrix(pred, target, 3)
    # class 0: tp 1, fp 1 (pred 0 at target 2), fn 1 -> 1/3; class 1: tp 2, fp 1, fn 0 -> 2/3; class 2: 1/2
    # torchmetrics computes in float32
    assert torch.allclose(iou_per_class(cm), torch.tensor([1 / 3, 2 / 3, 1 / 2], dtype=torch.float64), atol=1e-7)
    assert math.isclose(mean_iou(cm), (1 / 3 + 2 / 3 + 1 / 2) / 3, rel_tol=1e-6)
    assert math.isclose(pixel_accuracy(cm), 4 / 6, rel_tol=1e-6)


def test_matches_torchmetrics_on_random_masks():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (4, 32, 32), generator=g)
    pred = torch.where(torch.rand(4, 32, 32, generator=g) < 0.7, target, torch.randint(0, 5, (4, 32, 32), generator=g))
    cm = confusion_matrix(pred, target, 5)
    ref_iou = multiclass_jaccard_index(pred, target, num_classes=5, average=None)
    assert torch.allclose(iou_per_class(cm).float(), ref_iou, atol=1e-6)
    assert math.isclose(mean_iou(cm), float(ref_iou.mean()), rel_tol=1e-6)
    ref_acc = multiclass_accuracy(pred, target, num_classes=5, average="micro")
    assert math.isclose(pixel_accuracy(cm), float(ref_acc), rel_tol=1e-6)


def test_absent_class_is_left_out_and_ignore_index_skipped():
    target = torch.tensor([0, 0, 1, 255])
    pred = torch.tensor([0, 0, 1, 2])
    cm = confusion_matrix(pred, target, 3, ignore_index=255)
    ious = iou_per_class(cm)
    assert math.isnan(float(ious[2])) and mean_iou(cm) == 1.0


def test_errors_name_the_mistake():
    with pytest.raises(ValueError, match="argmax"):
        confusion_matrix(torch.zeros(2, 3, 4, 4).long(), torch.zeros(2, 4, 4).long(), 3)
    with pytest.raises(TypeError, match="argmax"):
        confusion_matrix(torch.zeros(2, 4, 4), torch.zeros(2, 4, 4).long(), 3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        confusion_matrix(torch.full((4,), 3), torch.zeros(4).long(), 3)


def test_the_counts_are_read_back_in_any_order_and_size():
    """The metrics read only the counts: a matrix made by hand gives the IoU of its pixels, and no pixels none."""
    cm = torch.tensor([[3, 0, 1], [0, 0, 0], [2, 0, 4]])  # class 1 nowhere
    ious = iou_per_class(cm)
    assert torch.allclose(ious[[0, 2]], torch.tensor([3 / 6, 4 / 7], dtype=torch.float64), atol=1e-7)
    assert math.isnan(float(ious[1]))
    assert math.isclose(pixel_accuracy(cm), 7 / 10, rel_tol=1e-6)
    empty = torch.zeros(3, 3, dtype=torch.long)
    assert iou_per_class(empty).isnan().all() and math.isnan(mean_iou(empty)) and math.isnan(pixel_accuracy(empty))


def test_importing_the_training_loop_does_not_import_torchmetrics():
    """torchmetrics (with torchvision and SciPy's signal processing, about 2.8 s of CPU) is imported when a metric is
    first computed, not by ``import cnnlab.train``: Assignment 4's grading kernel imports the loop and no metric."""
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "import cnnlab.train, cnnlab.metrics\n"
        "print('before', 'torchmetrics' in sys.modules)\n"
        "cnnlab.metrics.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 0]), 2)\n"
        "print('after', 'torchmetrics' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "before False" in run.stdout and "after True" in run.stdout
