"""The grader's own references refuse to work for student code.

A check computes what a student's function should return with code of its own: PyTorch calls wrapped in helpers
(Assignment 1's ``conv_reference``, the pooling gradients), the grader-only modules of ``autograder.checks.hidden``
(reference losses, metrics, boxes, penalties) and ``expected.expect``, their gateway. All of it is importable in
the kernel that grades a notebook, so a student's function could simply call it and return the expected answer
(or, in Assignment 1, reach a library convolution through it without touching ``torch`` itself).

:func:`student_code` marks the time a student's function runs (``common.call_student`` enters it for every
call); a function marked with :func:`grader_reference` (or every function of a module passed to
:func:`guard_module`) called in that time records its name and raises :class:`GraderReferenceUsed`, and the
check fails the task with a message that says so, even if the student's code caught the exception.
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: One list per student call in progress (calls nest: a check's wrapper calls the student's function): the names
#: of the references each reached.
_CALLS: list[list[str]] = []


class GraderReferenceUsed(RuntimeError):
    """Raised when student code calls one of the grader's references."""


@contextlib.contextmanager
def student_code() -> Iterator[list[str]]:
    """While the block runs, the grader's references refuse; yields the names of those the block reached."""
    reached: list[str] = []
    _CALLS.append(reached)
    try:
        yield reached
    finally:
        _CALLS.pop()


def student_code_running() -> bool:
    """Whether a student's function is running (inside :func:`student_code`)."""
    return bool(_CALLS)


@contextlib.contextmanager
def grader_code() -> Iterator[None]:
    """While the block runs, the references work even inside a student call (the student edition's recorder hands a
    reference to a check in place of the student's function, to record what the check compares with)."""
    saved = list(_CALLS)
    _CALLS.clear()
    try:
        yield
    finally:
        _CALLS[:] = saved


def as_student(reference: F) -> F:
    """``reference``, callable where a check expects the student's function (see :func:`grader_code`)."""

    @functools.wraps(reference)
    def standing_in(*args: Any, **kwargs: Any) -> Any:
        with grader_code():
            return reference(*args, **kwargs)

    return standing_in  # type: ignore[return-value]


def grader_reference(fn: F) -> F:
    """Mark ``fn`` as one of the grader's references: it works for the checks, never inside student code."""
    if getattr(fn, "__grader_reference__", False):
        return fn
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _CALLS:
            for reached in _CALLS:
                reached.append(name)
            raise GraderReferenceUsed(f"{name} is part of the grader's checks, not something your code may call")
        return fn(*args, **kwargs)

    guarded.__grader_reference__ = True  # type: ignore[attr-defined]
    return guarded  # type: ignore[return-value]


def guard_module(namespace: dict[str, Any]) -> None:
    """Mark every function defined in the module whose globals are ``namespace`` (call it at the module's end).

    The module's own calls between its functions go through the marks too, which costs nothing: the checks call
    them outside student code.
    """
    module = namespace.get("__name__")
    for key, value in list(namespace.items()):
        if isinstance(value, types.FunctionType) and value.__module__ == module:
            namespace[key] = grader_reference(value)
