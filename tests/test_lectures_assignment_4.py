"""No lecture gives away a solution of Assignment 4: none defines its visualisation functions (lecture 03 imports
the references from cnnlab.feature_visualization instead)."""

from __future__ import annotations

import pytest

from tests.support.lecture_guard import LECTURES, assignment_definitions, defined_names, lecture_defines

ASSIGNMENT = "04_visualization"


def test_the_scan_knows_the_assignments_definitions():
    names = assignment_definitions(ASSIGNMENT)
    assert {
        "filter_grid",
        "receptive_field_box",
        "top_k_patches",
        "tv_penalty",
        "class_objective",
        "maximise_class",
        "dream_step",
        "deepdream",
        "gradient_saliency",
        "occlusion_map",
    } <= names
    assert defined_names("def deepdream(x):\n    pass\n%time x = 1\n") == {"deepdream"}


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_no_lecture_defines_what_assignment_4_asks_for(path):
    found = lecture_defines(path, assignment_definitions(ASSIGNMENT))
    assert not found, f"{path.name} defines {sorted(found)}, which Assignment 4 asks students to write"
