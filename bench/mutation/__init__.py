"""Mutation testing of the assignments' checks: ``python3 -m bench.mutation [--assignment ID]``.

Mutants of the instructor's solution cells (generated at the AST level by ``operators``, plus hand-written
plausible student mistakes per assignment) are run in-process through the assignment's visible and hidden test
cells; a mutant is killed when some test cell fails. See ``runner`` for how, and
course/guide/instructors.md for the table.
"""
