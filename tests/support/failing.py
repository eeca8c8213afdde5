"""Asserting that a check fails with the message that names the mistake."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autograder.checks.common import CheckFailed


def fails(check: Callable, *args: object, phrase: str, **kwargs: object) -> str:
    """Call ``check``; it must raise ``CheckFailed`` whose message contains ``phrase``. Returns the message."""
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    assert phrase in str(info.value), str(info.value)
    return str(info.value)
