"""autograder: the course's grading tools on top of nbgrader.

Checks called from assignment test cells (``autograder.checks``), the batch grading pipeline, its sandbox,
exporters and command-line interface live here as they are built.
"""

__version__ = "0.1.0"
