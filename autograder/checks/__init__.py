"""Checks called from the test cells of the assignments.

One package per assignment, each one namespace for its test cells: ``layers`` (Assignment 1), ``unet`` (2),
``architectures`` (3), ``visualization`` (4). What they share is here: ``common`` (failures with kind messages,
relative errors, mistake diagnosis), ``forbidden`` (running a function where library convolutions and metric
libraries are out of reach), ``probes`` (what a student's PyTorch code calls, and on what), ``scores`` (scoring a
trained network once), ``budget`` (the grading budget of the training cells) and ``expected`` (the expected values
of the visible checks). ``hidden`` holds the grader-only cases and references; the student edition leaves it out.
"""

from .common import TOLERANCE, CheckFailed, rel_error

__all__ = ["TOLERANCE", "CheckFailed", "rel_error"]
