"""A check's verdict, ``CheckFailed``: raised by the checks in the kernel, and again by the grader when it replays a
recorded check outside the kernel (``autograder.verify``). It lives here, apart from both, so that neither package
imports the other for it; ``autograder.checks`` re-exports it.
"""

from __future__ import annotations


class CheckFailed(AssertionError):
    """A check's verdict: the student's code is wrong, with a message that says how."""

    def __init__(self, task: str, message: str) -> None:
        super().__init__(f"{task}: {message}")
        self.task = task
        self.message = message

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of a traceback."""
        return [f"\x1b[31mCheck failed\x1b[0m — {self.task}", *self.message.splitlines()]
