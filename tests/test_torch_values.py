"""Assignment 1's checks read PyTorch's answers from recorded tables, so a graded notebook never imports torch.

The tables must be PyTorch's answers for the cases the checks use now: recorded afresh here, they must equal the
committed ones entry by entry. A value that is not in them is computed by PyTorch, and a notebook with the
instructor's answers runs every visible and hidden test without importing torch.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.checks.layers import record_tables, torch_values
from autograder.checks.layers.cases import _conv_ref, conv_cases
from tests.support.nbcourse import ROOT

NOTEBOOK = ROOT / "solutions" / "01_layers" / "01_layers.ipynb"


def _same(a, b) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, torch_values.Raised) or isinstance(b, torch_values.Raised):
        return isinstance(a, torch_values.Raised) and isinstance(b, torch_values.Raised) and a.message == b.message
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        # PyTorch's sums may run in another order with another number of threads: equal to rounding
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True)
    return a == b


def test_the_committed_tables_are_pytorchs_answers_for_todays_cases():
    visible = record_tables.record(NOTEBOOK, hidden=False)
    every = record_tables.record(NOTEBOOK, hidden=True)
    committed_visible = torch_values.read(torch_values.VISIBLE_TABLE)
    committed_hidden = torch_values.read(torch_values.HIDDEN_TABLE)
    hint = "run `python -m autograder.checks.layers.record_tables` and commit the tables"
    assert set(committed_visible) == set(visible), hint
    assert set(committed_hidden) == set(every) - set(visible), hint
    wrong = [k for k, v in every.items() if not _same(v, {**committed_visible, **committed_hidden}[k])]
    assert not wrong, f"{len(wrong)} values differ from PyTorch's ({wrong[:3]}): {hint}"
    assert len(visible) > 100 and len(committed_hidden) > 50


def test_the_instructors_notebook_is_graded_without_importing_torch():
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from autograder.checks.layers import record_tables, torch_values\n"
        f"notebook = Path({str(NOTEBOOK)!r})\n"
        "import nbformat, matplotlib\n"
        "matplotlib.use('Agg')\n"
        "nb = nbformat.read(notebook, as_version=4)\n"
        "ns = {'__name__': '__main__'}\n"
        "for cell in nb.cells:\n"
        "    if cell.cell_type == 'code':\n"
        "        exec(record_tables._code(cell.source, hidden=True), ns)\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=NOTEBOOK.parent, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "torch imported: False" in run.stdout


def test_a_value_not_in_the_tables_is_computed_by_pytorch_and_lookups_hand_out_copies():
    rng = np.random.default_rng(12345)
    x, w, b = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    got = _conv_ref(x, w, b, 2, 1, 1)
    expected = F.conv2d(*(torch.from_numpy(a) for a in (x, w, b)), stride=2, padding=1).numpy()
    np.testing.assert_array_equal(got, expected)
    case = conv_cases(hidden=False)[0]
    first = _conv_ref(case.x, case.w, case.b, case.stride, case.padding, case.dilation)
    assert torch_values.key_of("_conv_ref", (case.x, case.w, case.b, case.stride, case.padding, case.dilation), {}) in (
        torch_values._entries()
    )  # a visible case: from the table
    kept = first.copy()
    first[...] = 0  # a caller that writes into what it got does not change the next lookup
    np.testing.assert_array_equal(_conv_ref(case.x, case.w, case.b, case.stride, case.padding, case.dilation), kept)


def test_tables_keep_arrays_tuples_numbers_nothing_and_errors(tmp_path):
    path = tmp_path / "t.npz"
    entries = {
        "a:1": np.arange(6.0).reshape(2, 3),
        "t:2": (np.zeros(2), np.ones((1, 2))),
        "i:3": 7,
        "n:4": None,
        "r:5": torch_values.Raised("Kernel size can't be greater than actual input size"),
    }
    torch_values.write(path, entries)
    back = torch_values.read(path)
    assert set(back) == set(entries) and all(_same(back[k], entries[k]) for k in entries)
    assert back["i:3"] == 7 and type(back["i:3"]) is int


def test_a_recorded_error_is_raised_again(monkeypatch, tmp_path):
    calls = []

    @torch_values.tabled
    def too_large(size: int) -> np.ndarray:
        calls.append(size)
        raise RuntimeError(f"kernel larger than {size}")

    with torch_values.recording() as found, pytest.raises(RuntimeError):
        too_large(3)
    path = tmp_path / "t.npz"
    torch_values.write(path, found)
    monkeypatch.setattr(torch_values, "TABLES", (path,))
    torch_values.forget()
    try:
        with pytest.raises(RuntimeError, match="kernel larger than 3"):
            too_large(3)
        assert calls == [3]  # the second time from the table
    finally:
        torch_values.forget()
