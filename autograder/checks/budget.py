"""The training budget of a graded notebook: what a training cell may spend when the notebook is graded.

A student's notebook may ask for any number of training steps; when it is graded (``nbgrader autograde`` or
``validate`` set ``NBGRADER_EXECUTION``; the course's grader sets ``AUTOGRADER_GRADING=1``) the grading budget
bounds it, so that grading time is bounded whatever the notebook asks for:

* ``training_budget(steps, batch_size)`` is what a notebook should call: outside grading it scales the budget
  to the device (a GPU trains longer, see ``cnnlab.device.scale_budget``); when graded it returns the grading
  budget — the same on every device, so the same submission earns the same points on a CPU and on a GPU —
  and says so when it cuts the request.
* ``limit_training_when_graded()`` enforces it: when graded, every optimizer in the kernel counts its steps per
  notebook cell, and a cell whose training goes past the budget is stopped there with ``TrainingBudgetReached``
  (a message, not a traceback). The model keeps the weights it reached; the following cells run as usual.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from cnnlab.device import Budget, scale_budget

#: Optimizer steps one training cell may take when graded, and the batch size the budget was set for.
GRADING_STEPS = 600
GRADING_BATCH_SIZE = 16


def grading() -> bool:
    """True while the notebook is being graded (or validated) rather than run by its author."""
    return os.environ.get("NBGRADER_EXECUTION") in {"autograde", "validate"} or os.environ.get(
        "AUTOGRADER_GRADING", ""
    ) not in {"", "0"}


def training_budget(
    steps: int,
    batch_size: int = GRADING_BATCH_SIZE,
    device: torch.device | str | None = None,
    *,
    grading_steps: int = GRADING_STEPS,
    grading_batch_size: int = GRADING_BATCH_SIZE,
) -> Budget:
    """The budget a training cell should use: scaled to the device, or the grading budget when graded.

    ``grading_steps`` and ``grading_batch_size``: the assignment's grading budget (Assignment 2's by default).
    """
    if not grading():
        return scale_budget(steps, batch_size, device)
    budget = Budget(steps=min(steps, grading_steps), batch_size=min(batch_size, grading_batch_size))
    if (steps, batch_size) != (budget.steps, budget.batch_size):
        print(
            f"Grading: training cut from {steps} steps of {batch_size} images to the grading budget of "
            f"{budget.steps} steps of {budget.batch_size} (the same on every device)."
        )
    return budget


class TrainingBudgetReached(Exception):
    """Raised inside ``optimizer.step()`` when a graded cell has used its budget of optimizer steps."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"training stopped after {limit} optimizer steps in this cell: that is the grading budget. "
            "The model keeps the weights it reached and grading goes on; use training_budget(...) to stay "
            "within it."
        )

    def _render_traceback_(self) -> list[str]:
        """IPython shows this message instead of a traceback."""
        return [f"\x1b[33mGrading budget\x1b[0m — {self}"]


class _StepCounter:
    """Counts optimizer steps per cell and stops training past ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.exempt = 0

    def reset(self, *_: object) -> None:
        self.count = 0

    def before_step(self, optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        if self.exempt:
            return
        self.count += 1
        if self.count > self.limit:
            raise TrainingBudgetReached(self.limit)


_counter: _StepCounter | None = None
_hook = None  # the handle of the optimizer hook, so that an in-process runner can take the limit off again


def limit_training_when_graded(limit: int = GRADING_STEPS) -> bool:
    """When graded, stop any cell's training after ``limit`` optimizer steps; return whether the limit is on."""
    global _counter, _hook
    if not grading() or _counter is not None:
        return _counter is not None
    _counter = _StepCounter(limit)
    _hook = register_optimizer_step_pre_hook(_counter.before_step)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the kernel
        return True
    shell = get_ipython()
    if shell is not None:
        shell.events.register("pre_run_cell", _counter.reset)
    return True


def stop_limiting_training() -> None:
    """Take the step limit off this process again (for tools that run notebook cells in their own process)."""
    global _counter, _hook
    if _hook is not None:
        _hook.remove()
    if _counter is not None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None:
                shell.events.unregister("pre_run_cell", _counter.reset)
        except (ImportError, ValueError):
            pass
    _counter, _hook = None, None


@contextlib.contextmanager
def unlimited() -> Iterator[None]:
    """Lift the step limit for the grader's own training (the trainability check)."""
    if _counter is not None:
        _counter.exempt += 1
    try:
        yield
    finally:
        if _counter is not None:
            _counter.exempt -= 1
