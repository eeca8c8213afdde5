"""The checks of Assignment 4 on the instructor's solution, on its typical mistakes (in-process, so each named
message is shown cheaply) and on shortcuts through the library the checks refuse."""

from __future__ import annotations

import pytest
import torch

from autograder.checks import visualization as checks
from autograder.checks.common import CheckFailed
from tests.support.assignment04 import ASSIGNMENT, MISTAKES, NOTEBOOK
from tests.support.failing import fails as _fails
from tests.support.nbcourse import run_cells, solution_cells

SETUP = """
import math
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
"""

HIDDEN_SEED = 314159

#: The check each graded cell runs, by the cell's name without "_hidden".
CHECK_OF_CELL = {
    "test_filter_grid": lambda ns, seed: checks.check_filter_grid(ns["filter_grid"], seed=seed),
    "test_receptive_field_box": lambda ns, seed: checks.check_receptive_field_box(ns["receptive_field_box"], seed=seed),
    "test_top_k_patches": lambda ns, seed: checks.check_top_k_patches(ns["top_k_patches"], seed=seed),
    "test_class_maximisation": lambda ns, seed: checks.check_class_maximisation(
        ns["tv_penalty"], ns["class_objective"], ns["maximise_class"], seed=seed
    ),
    "test_deepdream": lambda ns, seed: checks.check_deepdream(ns["dream_step"], ns["deepdream"], seed=seed),
    "test_saliency": lambda ns, seed: checks.check_saliency(ns["gradient_saliency"], seed=seed),
    "test_occlusion": lambda ns, seed: checks.check_occlusion(ns["occlusion_map"], seed=seed),
}


def namespace(answers: dict[str, str]) -> dict:
    return run_cells(answers, ASSIGNMENT, SETUP)


@pytest.fixture(scope="module")
def solution() -> dict:
    return namespace(solution_cells(ASSIGNMENT, NOTEBOOK))


@pytest.mark.parametrize("seed", [0, HIDDEN_SEED])
def test_instructor_solution_passes_every_check(solution, seed):
    for check in CHECK_OF_CELL.values():
        check(solution, seed)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_each_typical_mistake_fails_its_cells_with_a_named_message(mistake):
    answers = solution_cells(ASSIGNMENT, NOTEBOOK)
    for m in mistake.mutations:
        assert m.old in answers[m.cell], f"mutation target not found in {m.cell}: {m.old!r}"
        answers[m.cell] = answers[m.cell].replace(m.old, m.new)
    ns = namespace(answers)
    named = []
    for cell in sorted(mistake.failing):
        check = CHECK_OF_CELL[cell.removesuffix("_hidden")]
        with pytest.raises(CheckFailed) as info:
            check(ns, HIDDEN_SEED if cell.endswith("_hidden") else 0)
        named.append(mistake.phrase in str(info.value))
    assert any(named), f"no failing check names {mistake.phrase!r}"
    for cell, check in CHECK_OF_CELL.items():  # every other check still passes
        if cell not in mistake.failing:
            check(ns, 0)


def test_the_library_is_refused(solution):
    from cnnlab import feature_visualization

    _fails(checks.check_filter_grid, feature_visualization.tile_filters, phrase="reference implementation")

    def through_the_library(layers, y, x):
        return feature_visualization.receptive_field_box(layers, y, x)

    _fails(
        checks.check_receptive_field_box,
        through_the_library,
        phrase="calls cnnlab.feature_visualization.receptive_field_box",
    )

    def hidden_import(model, x, y):
        import cnnlab.feature_visualization as lib

        return lib.gradient_saliency(model, x, y)

    _fails(checks.check_saliency, hidden_import, phrase="reference implementation")
    assert feature_visualization.gradient_saliency.__name__ == "gradient_saliency"  # restored afterwards

    def through_the_figure(weight, ncols=8, pad=1):
        from cnnlab.plotting import filter_grid, to_numpy_image

        to_numpy_image(weight[0])  # a helper that solves nothing is allowed
        return filter_grid(weight, ncols)

    _fails(checks.check_filter_grid, through_the_figure, phrase="calls cnnlab.plotting.filter_grid")


def test_more_mistakes_are_named(solution):
    def per_channel(weight, ncols=8, pad=1):
        w = weight.detach().clone()
        if w.shape[1] == 3:
            lo = w.amin(dim=(2, 3), keepdim=True)
            hi = w.amax(dim=(2, 3), keepdim=True)
            w = (w - lo) / (hi - lo + 1e-8) * 10 + torch.arange(len(w))[:, None, None, None]
        return solution["filter_grid"](w, ncols, pad)

    _fails(checks.check_filter_grid, per_channel, phrase="each colour channel normalised on its own")

    def inclusive(layers, y, x):
        top, left, bottom, right = solution["receptive_field_box"](layers, y, x)
        return top, left, bottom - 1, right - 1

    _fails(checks.check_receptive_field_box, inclusive, phrase="half-open")

    def no_padding(layers, y, x):
        return solution["receptive_field_box"]([(k, s, 0, d) for k, s, _, d in layers], y, x)

    _fails(checks.check_receptive_field_box, no_padding, phrase="padding ignored")

    def summed_channels(model, x, y):
        model.eval()
        x = x.detach().clone().requires_grad_(True)
        model(x)[torch.arange(len(x)), y].sum().backward()
        return x.grad.abs().sum(dim=1)

    _fails(checks.check_saliency, summed_channels, phrase="channels summed")

    def occlusion_in_train_mode(model, image, label, patch=12, stride=4, fill=0.5):
        model.train()
        with torch.no_grad():
            model(image[None].repeat(2, 1, 1, 1))
        return solution["occlusion_map"](model, image, label, patch, stride, fill)

    _fails(checks.check_occlusion, occlusion_in_train_mode, phrase="model left in train mode")

    def logit_drop(model, image, label, patch=12, stride=4, fill=0.5):
        model.eval()
        with torch.no_grad():
            plain = model(image[None])[0, label]
            h, w = image.shape[-2:]
            heat, hits = torch.zeros(h, w), torch.zeros(h, w)
            for i in range(0, h - patch + 1, stride):
                for j in range(0, w - patch + 1, stride):
                    x = image.clone()
                    x[:, i : i + patch, j : j + patch] = fill
                    heat[i : i + patch, j : j + patch] += plain - model(x[None])[0, label]
                    hits[i : i + patch, j : j + patch] += 1
        return heat / hits.clamp(min=1)

    _fails(checks.check_occlusion, logit_drop, phrase="logit instead of the softmax probability")

    def no_clip(model, x, layer, lr=0.02, shift=(0, 0)):
        model.eval()
        x = x.detach().requires_grad_(True)
        energy = model.features(x)[layer].pow(2).mean()
        (grad,) = torch.autograd.grad(energy, x)
        return (x + lr * grad / (grad.abs().mean() + 1e-8)).detach()

    _fails(checks.check_deepdream, no_clip, solution["deepdream"], phrase="not clipped")


def test_tv_penalty_with_squares_is_named(solution):
    def squared(x):
        return (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean(dim=(1, 2, 3)) + (x[..., :, 1:] - x[..., :, :-1]).pow(
            2
        ).mean(dim=(1, 2, 3))

    _fails(
        checks.check_class_maximisation,
        squared,
        solution["class_objective"],
        solution["maximise_class"],
        phrase="squares instead of |.|",
    )
