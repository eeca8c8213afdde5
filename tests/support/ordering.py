"""The order in which pytest-xdist hands test files to its workers: the longest first.

With ``--dist loadfile`` each file runs whole on one worker. pytest-xdist (3.8 and later, with
``--no-loadscope-reorder``) hands the files out in collection order; by default it would order them by their number
of tests instead, which started the student edition's file (few tests, four and a half minutes) last, with one
worker idle for a minute at the end. Started longest first, the two workers finish closer together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

#: The test files that take longest on the 2-core CI machine, longest first (seconds in one run: 328, 267, 263,
#: 161, 157, 121, 118, 103, 77, 60); every other file follows in its usual order.
LONGEST_FIRST = (
    "test_adversarial.py",
    "test_student_edition.py",
    "test_assignment_02.py",
    "test_hub.py",
    "test_assignment_03.py",
    "test_cli_grade.py",
    "test_late_exports.py",
    "test_mutation.py",
    "test_assignment_04.py",
    "test_assignment_01.py",
)


class _Item(Protocol):
    path: Path


def longest_first(items: Sequence[_Item], longest: Sequence[str] = LONGEST_FIRST) -> list[_Item]:
    """``items`` with those of the files in ``longest`` first, in that order; the order within a file, and of the
    other files, kept."""
    rank = {name: i for i, name in enumerate(longest)}
    return sorted(items, key=lambda item: rank.get(item.path.name, len(rank)))
