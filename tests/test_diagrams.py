"""cnnlab.figures.diagrams: sliding-window geometry from autograd, annotated matrices, pipelines, Markdown tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle

from cnnlab.figures.diagrams import draw_pipeline, draw_sliding_window, markdown_table, show_matrix, sliding_window


def test_sliding_window_plain():
    taps, out = sliding_window(5, 3, position=(1, 2))
    assert out == (3, 3)
    expected = np.zeros((5, 5), dtype=bool)
    expected[1:4, 2:5] = True
    assert np.array_equal(taps, expected)


def test_sliding_window_padding_stride_dilation():
    taps, out = sliding_window(5, 3, padding=1, stride=2, position=(0, 1))
    assert out == (3, 3) and taps.shape == (7, 7)
    assert np.array_equal(np.argwhere(taps)[:, 1], np.tile([2, 3, 4], 3))
    taps, out = sliding_window(7, 3, dilation=2, position=(0, 0))
    assert out == (3, 3)
    assert taps.sum() == 9 and np.array_equal(np.unique(np.argwhere(taps)[:, 0]), [0, 2, 4])


@pytest.mark.parametrize("size,kernel,padding,stride,dilation", [(9, 3, 1, 2, 1), (12, 5, 2, 3, 1), (10, 3, 0, 1, 3)])
def test_sliding_window_output_shape_matches_torch(size, kernel, padding, stride, dilation):
    layer = torch.nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    expected = tuple(layer(torch.zeros(1, 1, size, size)).shape[-2:])
    _, out = sliding_window(size, kernel, padding, stride, dilation)
    assert out == expected


def test_sliding_window_errors_are_clear():
    with pytest.raises(ValueError, match="spans 5 pixels"):
        sliding_window(3, 3, dilation=2)
    with pytest.raises(ValueError, match="outside the 3x3 output"):
        sliding_window(5, 3, position=(3, 0))
    with pytest.raises(ValueError, match="stride"):
        sliding_window(5, 3, stride=0)
    with pytest.raises(ValueError, match="padding"):
        sliding_window(5, 3, padding=-1)


def test_draw_sliding_window_marks_taps_and_output():
    fig = draw_sliding_window(5, 3, padding=1, stride=2, position=(1, 1))
    ax = fig.axes[0]
    cells = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_fill()]
    # a 7x7 padded input and a 3x3 output, each drawn cell by cell
    assert len(cells) == 49 + 9
    assert "o=3" in ax.get_title()
    plt.close(fig)


def test_draw_sliding_window_on_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert draw_sliding_window(4, 2, ax=axes[1], title="two") is fig
    assert axes[1].get_title().startswith("two")
    plt.close(fig)


def test_show_matrix_writes_nonzero_values():
    fig = show_matrix(np.array([[1.0, 0.0], [0.0, -2.5]]), title="m")
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["-2.5", "1"]
    plt.close(fig)
    fig = show_matrix(torch.arange(3.0))
    assert len(fig.axes[0].texts) == 2
    plt.close(fig)
    fig = show_matrix(torch.arange(3.0), skip_zeros=False, symmetric=False, cmap="Blues")
    texts = fig.axes[0].texts
    assert [t.get_text() for t in texts] == ["0", "1", "2"]
    assert texts[0].get_color() == "black" and texts[2].get_color() == "white"  # light cell, dark cell
    plt.close(fig)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        show_matrix(np.zeros((2, 2, 2)))


def test_draw_pipeline():
    fig = draw_pipeline([("input", "3x32x32"), ("conv 3x3", "16x32x32"), ("FC", "4")])
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels[:2] == ["input", "3x32x32"] and "FC" in labels
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one stage"):
        draw_pipeline([])


def test_markdown_table():
    table = markdown_table(["name", "value"], [["a", 0.123456], ["b", 2]])
    assert table.splitlines() == ["| name | value |", "|---|---|", "| a | 0.123 |", "| b | 2 |"]
    with pytest.raises(ValueError, match="2 cells"):
        markdown_table(["x", "y"], [[1]])
