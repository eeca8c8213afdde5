"""The checks of Assignment 3 on the instructor's solution, on its typical mistakes (run in-process here, so each
named message is shown cheaply) and on small wrong implementations written here."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks import architectures as checks
from autograder.checks import budget
from autograder.checks.architectures.training import accuracy_of
from tests.support.assignment03 import ASSIGNMENT, MISTAKES, NOTEBOOK
from tests.support.failing import fails as _fails
from tests.support.nbcourse import run_cells, solution_cells

SETUP = """
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm


class Standardize(nn.Module):
    def forward(self, x):
        return (x - x.mean(dim=(-2, -1), keepdim=True)) / (x.std(dim=(-2, -1), keepdim=True) + 1e-3)
"""

#: The check each graded cell runs (the notebook's own asserts aside), by the cell's name without "_hidden".
CHECK_OF_CELL = {
    "test_basic_block": lambda ns, hidden: checks.check_basic_block(ns["BasicBlock"], hidden),
    "test_bottleneck": lambda ns, hidden: checks.check_bottleneck(ns["Bottleneck"], hidden),
    "test_inception_params": lambda ns, hidden: checks.check_inception_params(ns["inception_params"], hidden),
    "test_inception": lambda ns, hidden: checks.check_inception(ns["Inception"], hidden),
    "test_dense_block": lambda ns, hidden: checks.check_dense_block(ns["DenseBlock"], hidden),
    "test_transition": lambda ns, hidden: checks.check_transition(ns["Transition"], hidden),
    "test_geometric": lambda ns, hidden: checks.check_geometric(ns["hflip"], ns["rotate"], ns["resized_crop"], hidden),
    "test_photometric": lambda ns, hidden: checks.check_photometric(
        ns["cutout"], ns["adjust_brightness"], ns["add_noise"]
    ),
    "test_random_augment": lambda ns, hidden: checks.check_random_augment(ns["random_augment"], hidden),
    "test_make_resnet": lambda ns, hidden: checks.check_make_resnet(ns["make_resnet"]),
    "test_evaluate": lambda ns, hidden: checks.check_evaluate(ns["evaluate"]),
    "test_train": lambda ns, hidden: (
        checks.check_augment_batch(ns["augment_batch"]),
        checks.check_train(ns["train"]),
    ),
}
#: Cells whose points a mistake loses through the notebook's own visible asserts, not through a check.
LOST_BY_ASSERT = {("inception_biases_not_counted", "test_inception")}


def namespace(answers: dict[str, str]) -> dict:
    return run_cells(answers, ASSIGNMENT, SETUP)


@pytest.fixture(scope="module")
def solution() -> dict:
    return namespace(solution_cells(ASSIGNMENT, NOTEBOOK))


@pytest.mark.parametrize("hidden", [False, True])
def test_instructor_solution_passes_every_check(solution, hidden):
    for cell, check in CHECK_OF_CELL.items():
        if cell == "test_train" and hidden:
            continue  # the loop has no hidden test
        check(solution, hidden)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_each_typical_mistake_fails_its_cells_with_a_named_message(mistake):
    answers = solution_cells(ASSIGNMENT, NOTEBOOK)
    for m in mistake.mutations:
        assert m.old in answers[m.cell], f"mutation target not found in {m.cell}: {m.old!r}"
        answers[m.cell] = answers[m.cell].replace(m.old, m.new)
    ns = namespace(answers)
    for cell in sorted(mistake.failing):
        if (mistake.name, cell) in LOST_BY_ASSERT:
            continue
        check = CHECK_OF_CELL[cell.removesuffix("_hidden")]
        _fails(check, ns, cell.endswith("_hidden"), phrase=mistake.phrase)
    touched = {m.cell for m in mistake.mutations}
    for cell, check in CHECK_OF_CELL.items():  # every other check still passes
        if cell == "test_train" and "train" not in touched:
            continue  # the loop's check reads only the train cell's functions: as for the solution
        if cell not in mistake.failing:
            check(ns, False)


# --- residual blocks: diagnoses beyond the end-to-end mistakes -----------------------------------------------


def test_projection_where_the_identity_suffices_is_named(solution):
    class AlwaysProject(solution["BasicBlock"]):
        def __init__(self, in_ch, out_ch, stride=1):
            super().__init__(in_ch, out_ch, stride)
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    _fails(checks.check_basic_block, AlwaysProject, phrase="a projection shortcut where the identity suffices")


def test_bias_before_batchnorm_is_named(solution):
    class Biased(nn.Module):
        def __init__(self, in_ch, out_ch, stride=1):
            super().__init__()
            self.inner = solution["BasicBlock"](in_ch, out_ch, stride)
            self.inner.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)
            self.inner.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
            if stride != 1 or in_ch != out_ch:
                self.inner.shortcut[0] = nn.Conv2d(in_ch, out_ch, 1, stride=stride)

        def forward(self, x):
            return self.inner(x)

    _fails(checks.check_basic_block, Biased, phrase="bias=False")


def test_missing_identity_shortcut_and_unused_projection_are_named(solution):
    class NoShortcut(solution["BasicBlock"]):
        def forward(self, x):
            return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))

    _fails(checks.check_basic_block, NoShortcut, phrase="the shortcut is missing")

    class ProjectionUnused(solution["BasicBlock"]):
        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            if isinstance(self.shortcut, nn.Identity):
                out = out + x
            return F.relu(out)

    _fails(checks.check_basic_block, ProjectionUnused, phrase="the shortcut is not used")


def test_torchvision_blocks_are_refused():
    from torchvision.models.resnet import BasicBlock as LibraryBlock

    def library_block(in_ch, out_ch, stride=1):
        down = None
        if stride != 1 or in_ch != out_ch:
            down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))
        return LibraryBlock(in_ch, out_ch, stride, down)

    _fails(checks.check_basic_block, library_block, phrase="uses torchvision's implementation")


def test_bottleneck_without_projection_at_stride_2_is_named(solution):
    class Missing(solution["Bottleneck"]):
        def __init__(self, in_ch, mid_ch, stride=1):
            super().__init__(in_ch, mid_ch, stride)
            if in_ch == 4 * mid_ch:
                self.shortcut = nn.Identity()

    _fails(checks.check_bottleneck, Missing, phrase="no shortcut projection when the stride is 2")


# --- Inception and DenseNet ----------------------------------------------------------------------------------


def test_naive_module_with_reductions_is_named(solution):
    def always_reduced(*args, naive=False):
        return solution["Inception"](*args, naive=False)

    _fails(checks.check_inception, always_reduced, phrase="naive=True must leave out the 1x1 reductions")
    _fails(
        checks.check_inception_params,
        lambda *args, naive=False: solution["inception_params"](*args),
        phrase="the naive module has no 1x1 reductions",
    )


def test_inception_branches_in_another_order_are_named(solution):
    class PoolFirst(solution["Inception"]):
        def forward(self, x):
            return torch.cat([self.branch_pool(x), self.branch1(x), self.branch3(x), self.branch5(x)], dim=1)

    _fails(checks.check_inception, PoolFirst, phrase="branches in the order 1x1, 3x3, 5x5, pool")


def test_dense_layers_that_see_only_the_previous_layer_are_named():
    class Chain(nn.Module):
        def __init__(self, in_ch, growth, n_layers):
            super().__init__()
            self.layers = nn.ModuleList(
                nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, growth, 3, padding=1, bias=False))
                for c in [in_ch] + [growth] * (n_layers - 1)
            )
            self.out_channels = in_ch + n_layers * growth

        def forward(self, x):
            outputs, last = [x], x
            for layer in self.layers:
                last = layer(last)
                outputs.append(last)
            return torch.cat(outputs, dim=1)

    _fails(checks.check_dense_block, Chain, phrase="sees only the previous layer's features")


def test_dense_block_without_out_channels_and_replacing_features_are_named(solution):
    class NoAttribute(solution["DenseBlock"]):
        def __init__(self, *args):
            super().__init__(*args)
            del self.out_channels

    _fails(checks.check_dense_block, NoAttribute, phrase="out_channels is None")

    class Replacing(nn.Module):
        def __init__(self, in_ch, growth, n_layers):
            super().__init__()
            self.out_channels = in_ch + n_layers * growth
            self.conv = nn.Conv2d(in_ch, growth, 3, padding=1, bias=False)

        def forward(self, x):
            return self.conv(x)

    _fails(checks.check_dense_block, Replacing, phrase="replace its input instead of being concatenated")


def test_transition_in_the_wrong_order_is_refused():
    class ReluAfterConv(nn.Module):
        def __init__(self, in_ch, out_ch):
            super().__init__()
            self.norm = nn.BatchNorm2d(in_ch)
            self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)

        def forward(self, x):
            return F.avg_pool2d(torch.relu(self.conv(self.norm(x))), 2)

    _fails(checks.check_transition, ReluAfterConv, phrase="in that order")


# --- augmentation --------------------------------------------------------------------------------------------


def test_rotation_the_wrong_way_is_named(solution):
    def clockwise(image, mask, angle):
        return solution["rotate"](image, mask, -angle)

    _fails(checks.check_geometric, solution["hflip"], clockwise, solution["resized_crop"], phrase="the wrong way")


def test_a_float_mask_is_named(solution):
    def float_mask(image, mask, top, left, height, width, size):
        image, mask = solution["resized_crop"](image, mask, top, left, height, width, size)
        return image, mask.float()

    _fails(checks.check_geometric, solution["hflip"], solution["rotate"], float_mask, phrase="must stay int64")


def test_cutout_of_the_mask_and_changes_in_place_are_refused(solution):
    def cut_mask_too(image, mask, top, left, size):
        image, _ = solution["cutout"](image, mask, top, left, size)
        mask = mask.clone()
        mask[top : top + size, left : left + size] = 0
        return image, mask

    _fails(
        checks.check_photometric,
        cut_mask_too,
        solution["adjust_brightness"],
        solution["add_noise"],
        phrase="cut-out hides pixels of the image only",
    )

    def in_place(image, mask, factor):
        return image.mul_(factor).clamp_(0, 1), mask

    _fails(checks.check_photometric, solution["cutout"], in_place, solution["add_noise"], phrase="in place")


def test_unseeded_and_constant_augmentations_are_refused(solution):
    def unseeded(image, mask, seed):
        return solution["random_augment"](image, mask, int(torch.randint(0, 10**6, ())))

    _fails(checks.check_random_augment, unseeded, phrase="two calls with seed=0 gave different results")
    _fails(checks.check_random_augment, lambda image, mask, seed: (image.clone(), mask.clone()), phrase="not random")


# --- the small ResNet ----------------------------------------------------------------------------------------


def test_network_without_standardize_or_global_pooling_is_named(solution):
    def no_standardize(num_classes=4, width=16):
        return nn.Sequential(*list(solution["make_resnet"](num_classes, width))[1:])

    _fails(checks.check_make_resnet, no_standardize, phrase="must start with Standardize()")

    def fixed_size(num_classes=4, width=16):
        layers = list(solution["make_resnet"](num_classes, width))[:-3]
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * width * 4 * 4, num_classes))

    _fails(checks.check_make_resnet, fixed_size, phrase="global average pooling")


def test_evaluate_mistakes_are_named(solution):
    def percentage(model, images, labels, batch_size=256):
        return 100 * solution["evaluate"](model, images, labels, batch_size)

    _fails(checks.check_evaluate, percentage, phrase="a percentage?")

    def one_batch(model, images, labels, batch_size=256):
        return solution["evaluate"](model, images, labels, batch_size=len(images))

    _fails(checks.check_evaluate, one_batch, phrase="ignored batch_size")

    def with_gradients(model, images, labels, batch_size=256):
        model.eval()
        device = next(model.parameters()).device
        preds = torch.cat(
            [model(images[i : i + batch_size].to(device)).argmax(1) for i in range(0, len(images), batch_size)]
        )
        return float((preds.cpu() == labels).float().mean())

    _fails(checks.check_evaluate, with_gradients, phrase="torch.no_grad()")


def test_accuracy_check_uses_its_own_evaluation_and_names_chance(solution):
    net = solution["make_resnet"](4, 16)
    with torch.no_grad():  # a network that always says "circle": right on about a quarter of the images
        last = net[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([5.0, 0.0, 0.0, 0.0]))
    net.train()  # the check evaluates in eval mode whatever mode the model is left in
    message = _fails(checks.check_accuracy, net, 0.5, split="val", phrase="close to chance")
    assert "the val split" in message
    checks.check_accuracy(net, 0.2, split="val")
    assert net.training
    _fails(checks.check_accuracy, "not a model", 0.1, phrase="must be your trained network")


def test_training_budget_is_the_assignments_when_graded(monkeypatch, capsys):
    monkeypatch.setenv("AUTOGRADER_GRADING", "1")
    assert checks.training_budget(5000, 128) == budget.Budget(checks.GRADING_STEPS, checks.GRADING_BATCH_SIZE)
    assert "cut from 5000 steps of 128 images" in capsys.readouterr().out
    assert checks.training_budget(100, 8) == budget.Budget(100, 8)
    monkeypatch.setenv("AUTOGRADER_GRADING", "0")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert checks.training_budget(100, 8, "cpu") == budget.Budget(100, 8)


def test_training_is_deterministic_so_grading_twice_gives_the_same_points(solution):
    """The notebook's seeded training (20 steps here) and the grader's evaluation repeat exactly."""
    images, labels = torch.rand(64, 3, 32, 32), torch.randint(0, 4, (64,))
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = solution["make_resnet"](4, width=8)
        losses = solution["train"](model, images, labels, budget.Budget(20, 8), augment=True, seed=3)
        runs.append((losses, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert accuracy_of(model, images, labels) == accuracy_of(model, images, labels)


@pytest.mark.parametrize("name", ["BasicBlock", "Bottleneck", "Inception", "DenseBlock", "Transition"])
def test_a_block_that_writes_into_its_input_gains_nothing(solution, name):
    """The instructor's block, but its forward first zeroes its input in place: the checks compute their
    expectation from the input they handed over, so they give the student a copy."""
    import torch

    class ZeroesItsInput(solution[name]):
        def forward(self, x, *args, **kwargs):
            with torch.no_grad():
                x.zero_()
            return super().forward(x, *args, **kwargs)

    check = {
        "BasicBlock": checks.check_basic_block,
        "Bottleneck": checks.check_bottleneck,
        "Inception": checks.check_inception,
        "DenseBlock": checks.check_dense_block,
        "Transition": checks.check_transition,
    }[name]
    with pytest.raises(AssertionError):
        check(ZeroesItsInput, hidden=True)
