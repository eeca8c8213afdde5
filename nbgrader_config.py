"""nbgrader configuration of the course: solutions/ is the source directory, assignments/ the release one.

The settings live in ``autograder.config`` so that temporary courses (tests, the grading demo) share them.
"""

import os

from autograder.config import configure

configure(get_config(), root=os.path.dirname(os.path.abspath(__file__)))  # noqa: F821 (nbgrader provides it)
