"""Checks called from the test cells of the assignments.

``common``: failures with kind messages, relative errors, mistake diagnosis; ``forbidden``: running a
function where library convolutions are out of reach; ``layers``: Assignment 1; ``unet`` (with ``unet_*``,
``probes`` and ``budget``): Assignment 2.
"""

from .common import TOLERANCE, CheckFailed, rel_error

__all__ = ["TOLERANCE", "CheckFailed", "rel_error"]
