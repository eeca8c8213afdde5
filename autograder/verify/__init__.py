"""Verdicts the student's kernel cannot forge.

A graded test cell runs in the student's kernel, where the student's code could replace the checks,
NumPy's comparisons, the built-ins or IPython's error display. So the kernel also records what the cell's
checks saw of the student's code (:mod:`.record`), and the grader runs the same trusted checks again on that
record in its own process (:mod:`.replay`); :mod:`.integrity` flags edited test cells and visible tampering.
"""
