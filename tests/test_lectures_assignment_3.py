"""No lecture gives away a solution of Assignment 3: none defines its blocks, augmentations or network."""

from __future__ import annotations

import pytest

from tests.support.lecture_guard import LECTURES, assignment_definitions, defined_names, lecture_defines

ASSIGNMENT = "03_architectures"
#: Names too generic to flag: the lectures' own `train` helpers wrap cnnlab.train.fit, not the assignment's loop.
GENERIC = frozenset({"train"})


def test_the_scan_knows_the_assignments_definitions():
    names = assignment_definitions(ASSIGNMENT, GENERIC)
    assert {"BasicBlock", "Bottleneck", "Inception", "DenseBlock", "Transition", "random_augment"} <= names
    assert defined_names("class BasicBlock:\n    pass\n%time x = 1\n") == {"BasicBlock"}


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_no_lecture_defines_what_assignment_3_asks_for(path):
    found = lecture_defines(path, assignment_definitions(ASSIGNMENT, GENERIC))
    assert not found, f"{path.name} defines {sorted(found)}, which Assignment 3 asks students to write"
