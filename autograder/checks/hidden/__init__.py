"""Grader-only part of the checks: the hidden tests' cases and seeds, the checks only hidden tests call, and the
references behind the visible checks' expected values.

Nothing here is in the student edition (``autograder student-edition`` leaves this package out). The checks
import it only when a hidden test asks (``hidden=True``, or a seed of the grader's own) or to compute an expected
value (``autograder.checks.expected``); in the edition the hidden tests say that they run when the notebook is
graded, and the visible checks read the expected values recorded when the edition was built.

One module per assignment: ``layers`` (Assignment 1), ``unet`` and ``unet_trainability`` (2), ``architectures``
(3), ``visualization`` (4).
"""
