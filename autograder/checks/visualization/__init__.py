"""Checks of Assignment 4 (what a CNN sees: filters, receptive fields, top-k patches, class maximisation,
DeepDream, saliency and occlusion), in one namespace for its test cells.

``from autograder.checks import visualization as checks`` gives the checks of the filter grid, receptive
fields and top-k patches (``filters``), of the gradient ascent on the input (``optimise``) and of the saliency
and occlusion maps (``maps``), with what they share (``common``). Every check runs the student's functions on its
own small seeded networks, so the points never depend on how the notebook's network trained; the references are
``cnnlab.feature_visualization``'s, which the student's functions may not call. ``grading()`` tells the notebook it
is being graded, so that it trains its network only briefly (no test uses it).
"""

from __future__ import annotations

from ..budget import grading
from .filters import check_filter_grid, check_receptive_field_box, check_top_k_patches
from .maps import check_occlusion, check_saliency
from .optimise import check_class_maximisation, check_deepdream

__all__ = [
    "check_class_maximisation",
    "check_deepdream",
    "check_filter_grid",
    "check_occlusion",
    "check_receptive_field_box",
    "check_saliency",
    "check_top_k_patches",
    "grading",
]
