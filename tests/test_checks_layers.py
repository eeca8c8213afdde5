"""Assignment 1's checks: the instructor solution passes them all; each typical mistake is caught and named."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from autograder.checks import layers as checks
from autograder.checks.common import CheckFailed, rel_error
from autograder.checks.forbidden import run_without_libraries
from tests.support.assignment01 import ASSIGNMENT, MISTAKES, NOTEBOOK
from tests.support.nbcourse import solution_cells


def _namespace(mutations=()) -> dict:
    cells = solution_cells(ASSIGNMENT, NOTEBOOK)
    for m in mutations:
        assert m.old in cells[m.cell], (m.cell, m.old)
        cells[m.cell] = cells[m.cell].replace(m.old, m.new)
    ns: dict = {"__name__": "__student__"}
    exec("import numpy as np", ns)
    for source in cells.values():
        exec(compile(source, "<student>", "exec"), ns)
    return ns


# Which check runs in which graded cell, so that a mistake's expected failing cells can be replayed here.
def _cell_checks(ns: dict) -> dict[str, callable]:
    return {
        "test_conv_output_size": lambda: checks.check_conv_output_size(ns["conv_output_size"]),
        "test_conv_output_size_hidden": lambda: checks.check_conv_output_size(ns["conv_output_size"], hidden=True),
        "test_receptive_field": lambda: checks.check_receptive_field(ns["receptive_field"]),
        "test_receptive_field_hidden": lambda: checks.check_receptive_field(ns["receptive_field"], hidden=True),
        "test_conv1d_matrix": lambda: checks.check_conv1d_matrix(ns["conv1d_matrix"]),
        "test_conv1d_matrix_hidden": lambda: checks.check_conv1d_matrix(ns["conv1d_matrix"], hidden=True),
        "test_conv2d_naive": lambda: checks.check_conv2d(ns["conv2d_naive"], task="conv2d_naive"),
        "test_conv2d_naive_hidden": lambda: checks.check_conv2d(ns["conv2d_naive"], hidden=True, task="conv2d_naive"),
        "test_conv2d": lambda: checks.check_conv2d(ns["conv2d"]),
        "test_conv2d_hidden": lambda: checks.check_conv2d(ns["conv2d"], hidden=True),
        "test_conv2d_vectorized": lambda: checks.check_conv2d_is_vectorized(ns["conv2d"], ns["conv2d_naive"]),
        "test_conv2d_backward_numerical": lambda: checks.check_conv2d_backward_numerically(ns["conv2d_backward"]),
        **{
            f"test_conv2d_backward_{part}{suffix}": (
                lambda part=part, hidden=hidden: checks.check_conv2d_backward(ns["conv2d_backward"], part, hidden)
            )
            for part in ("dx", "dw", "db")
            for suffix, hidden in (("", False), ("_hidden", True))
        },
        **{
            f"test_{kind}_pool2d{suffix}": (
                lambda kind=kind, hidden=hidden: checks.check_pool2d(ns[f"{kind}_pool2d"], kind, hidden)
            )
            for kind in ("max", "avg")
            for suffix, hidden in (("", False), ("_hidden", True))
        },
        **{
            f"test_{kind}_pool2d_backward{suffix}": (
                lambda kind=kind, hidden=hidden: checks.check_pool2d_backward(
                    ns[f"{kind}_pool2d_backward"], kind, hidden
                )
            )
            for kind in ("max", "avg")
            for suffix, hidden in (("", False), ("_hidden", True))
        },
        "test_conv_matrix": lambda: checks.check_conv_matrix(ns["conv_matrix"]),
        "test_conv_matrix_hidden": lambda: checks.check_conv_matrix(ns["conv_matrix"], hidden=True),
        "test_conv_transpose2d": lambda: checks.check_conv_transpose2d(ns["conv_transpose2d"]),
        "test_conv_transpose2d_hidden": lambda: checks.check_conv_transpose2d(ns["conv_transpose2d"], hidden=True),
        "test_adjoint": lambda: checks.check_adjoint(ns["conv2d"], ns["conv_transpose2d"]),
        "test_kernel_effects": lambda: checks.check_kernel_effects(ns["KERNEL_EFFECTS"]),
    }


@pytest.fixture(scope="module")
def solution():
    return _namespace()


def test_instructor_solution_passes_every_check(solution):
    for run in _cell_checks(solution).values():
        run()  # raises CheckFailed with a message if the solution or a check is wrong


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_typical_mistake_fails_exactly_its_checks_and_is_named(mistake):
    ns = _namespace(mistake.mutations)
    failed, messages = set(), []
    for name, run in _cell_checks(ns).items():
        try:
            run()
        except CheckFailed as err:
            failed.add(name)
            messages.append(str(err))
    assert failed == set(mistake.failing)
    assert any(mistake.phrase in m for m in messages), messages


ARRAY_TASKS = ("conv1d_matrix", "conv2d_naive", "conv2d", "conv2d_backward", "max_pool2d", "avg_pool2d",
               "max_pool2d_backward", "avg_pool2d_backward", "conv_matrix", "conv_transpose2d")  # fmt: skip


def _zeroing_inputs(fn):
    """The instructor's function, but it first zeroes every array it was given: its answer is then right for
    zero inputs only, which a check that computed its expectation from the same arrays afterwards would accept."""

    def zeroing(*args, **kwargs):
        for value in (*args, *kwargs.values()):
            if isinstance(value, np.ndarray):
                value[...] = 0
        return fn(*args, **kwargs)

    return zeroing


@pytest.mark.parametrize("task", ARRAY_TASKS)
def test_a_function_that_writes_into_its_inputs_gains_nothing(task):
    ns = _namespace()
    ns[task] = _zeroing_inputs(ns[task])
    parts = [f"_{part}" for part in ("dx", "dw", "db")] if task == "conv2d_backward" else [""]
    own = {f"test_{task}{part}{hidden}" for part in parts for hidden in ("", "_hidden")}
    cells = {name: run for name, run in _cell_checks(ns).items() if name in own}
    assert cells
    for name, run in cells.items():
        with pytest.raises(CheckFailed):
            run()
            pytest.fail(f"{name} accepted a {task} that zeroes its inputs")


def test_blank_functions_report_not_implemented():
    def conv2d(x, w, b, stride=1, padding=0, dilation=1):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented"):
        checks.check_conv2d(conv2d)


def test_student_exception_is_reported_with_its_line():
    def conv2d(x, w, b, stride=1, padding=0, dilation=1):
        return x[10, 10, 10, 10]

    with pytest.raises(CheckFailed, match=r"raised IndexError: .*in conv2d, line"):
        checks.check_conv2d(conv2d)


def test_torch_tensor_result_is_named():
    def avg(x, k, s):
        return torch.nn.functional.avg_pool2d(torch.from_numpy(x), k, s)

    with pytest.raises(CheckFailed, match="uses a library"):
        checks.check_pool2d(avg, "avg")


def test_check_failed_renders_as_its_message_only():
    err = CheckFailed("conv2d", "output is wrong.\nLikely mistake: X")
    lines = err._render_traceback_()
    assert "conv2d" in lines[0] and lines[1:] == ["output is wrong.", "Likely mistake: X"]


def test_rel_error_is_scale_free():
    a = np.array([1.0, 2.0, 3.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a * 1e6, (a + [0, 0, 1e-3]) * 1e6) == pytest.approx(1e-3 / 3.001)


# ------------------------------------------------------------------------- the forbidden-library guard
def _student(source: str, name: str, extra_globals: dict | None = None):
    ns: dict = {"__name__": "__student__", "np": np}
    ns.update(extra_globals or {})
    exec(source, ns)
    return ns[name]


TRICKS = {
    "global module alias": (
        "def f(x):\n    return F.relu(torch.from_numpy(x)).numpy()",
        {"F": torch.nn.functional, "torch": torch},
    ),
    "global function alias": ("def f(x):\n    return conv(x)", {"conv": torch.nn.functional.conv2d}),
    "import inside": ("def f(x):\n    import torch\n    return torch.relu(torch.from_numpy(x)).numpy()", {}),
    "importlib": (
        "def f(x):\n    import importlib\n    return importlib.import_module('scipy.signal').correlate2d(x, x)",
        {},
    ),
    "importlib, module returned": (
        "def f(x):\n    import importlib\n    return importlib.import_module('scipy.signal')",
        {},
    ),
    "dunder import": ("def f(x):\n    return __import__('scipy.ndimage').ndimage.convolve(x, x)", {}),
    "getattr on numpy": ("def f(x):\n    return getattr(np, 'convolve')(x.ravel(), x.ravel())", {}),
    "numpy convolve": ("def f(x):\n    return np.correlate(x.ravel(), x.ravel())", {}),
    "default argument": ("def f(x, F=None):\n    return F.relu(x)", {}),
    "helper function": ("def helper(x):\n    return T.from_numpy(x)\ndef f(x):\n    return helper(x)", {"T": torch}),
    "closure": (
        "def make():\n    import torch as T\n    def f(x):\n        return T.relu(x)\n    return f\nf = make()",
        {},
    ),
    "sys.modules": ("import sys\ndef f(x):\n    return sys.modules['torch'].relu(x)", {}),
    "the function itself": ("f = torch.nn.functional.relu", {"torch": torch}),
}


@pytest.mark.parametrize("trick", TRICKS, ids=list(TRICKS))
def test_guard_catches_library_tricks(trick):
    source, extra = TRICKS[trick]
    f = _student(source, "f", extra)
    if trick == "default argument":
        f.__defaults__ = (torch.nn.functional,)
    _, touched = run_without_libraries(f, np.ones((2, 2)))
    assert touched, f"{trick} was not caught"


def test_guard_allows_numpy_and_restores_everything():
    f = _student(
        "def f(x):\n    return np.lib.stride_tricks.sliding_window_view(x, (2, 2)).sum() + np.einsum('ij->', x)", "f"
    )
    result, touched = run_without_libraries(f, np.ones((3, 3)))
    assert touched == [] and result == 4 * 4 + 9
    assert sys.modules["torch"] is torch
    assert all(isinstance(m, types.ModuleType) for k, m in sys.modules.items() if k.split(".")[0] == "scipy")
    assert np.convolve([1, 2], [1]).tolist() == [1, 2]
    import torch.nn.functional as F  # noqa: F401, imports still work afterwards


@pytest.mark.parametrize(
    "module, covered",
    [("torch", True), ("torch.nn.functional", True), ("torchaudio", False), ("numpy", False), ("my.torch", False),
     ("scipy.signal", True), ("skimage", True), ("scipyx", False), ("", False)],
)  # fmt: skip
def test_a_forbidden_library_covers_its_submodules_and_nothing_else(module, covered):
    from autograder.checks.forbidden import LIBRARY_CONVOLUTIONS, METRIC_LIBRARIES

    assert LIBRARY_CONVOLUTIONS.covers(module) is covered
    # a forbidden submodule of an allowed package: the package stays allowed, its siblings too
    assert METRIC_LIBRARIES.covers("cnnlab.metrics.iou") and METRIC_LIBRARIES.covers("cnnlab.metrics")
    assert not METRIC_LIBRARIES.covers("cnnlab") and not METRIC_LIBRARIES.covers("cnnlab.metricsplus")


def test_a_library_imported_between_two_guarded_calls_is_out_of_reach_in_the_second():
    from autograder.checks.forbidden import LIBRARY_CONVOLUTIONS

    f = _student("import sys\ndef f(x):\n    return sys.modules[NAME].ODR", "f", {"NAME": "scipy.odr"})
    saved = sys.modules.pop("scipy.odr", None)
    try:
        assert run_without_libraries(np.sum, np.ones(2)) == (2.0, [])  # a guarded call before it is loaded
        import scipy.odr

        assert "scipy.odr" in LIBRARY_CONVOLUTIONS.loaded()
        _, touched = run_without_libraries(f, np.ones(2))
        assert touched == ["scipy.odr.ODR"]
        assert sys.modules["scipy.odr"] is scipy.odr  # put back after the call
    finally:
        if saved is not None:
            sys.modules["scipy.odr"] = saved


def test_the_loaded_forbidden_modules_are_exactly_those_it_covers():
    from autograder.checks.forbidden import LIBRARY_CONVOLUTIONS, METRIC_LIBRARIES

    lookalikes = {name: types.ModuleType(name) for name in ("scipyx", "torchaudiox.io", "cnnlab.metricsplus")}
    sys.modules.update(lookalikes)
    try:
        for forbidden in (LIBRARY_CONVOLUTIONS, METRIC_LIBRARIES):
            assert set(forbidden.loaded()) == {name for name in sys.modules if forbidden.covers(name)}
            assert not set(forbidden.loaded()) & set(lookalikes)
    finally:
        for name in lookalikes:
            del sys.modules[name]


def test_a_value_of_a_forbidden_library_is_guarded_even_when_it_is_a_string():
    sneaky = type("Sneaky", (str,), {"__module__": "scipy.signal"})  # a str subclass defined in a library
    f = _student("def f(x):\n    return K.upper()", "f", {"K": sneaky("kernel"), "PLAIN": "kernel"})
    assert run_without_libraries(f, np.ones(2))[1] == ["scipy.signal.upper"]  # a tripwire in its place
    g = _student("def g(x):\n    return PLAIN.upper()", "g", {"PLAIN": "kernel", "N": 3})
    assert run_without_libraries(g, np.ones(2)) == ("KERNEL", [])


def test_whole_number_answers_may_be_numpy_integers_but_not_floats_or_bools():
    keys = ["vgg_block", "conv_params"]
    from_numpy = np.prod([3, 3, 64]).astype(np.int64)
    checks.check_answer_format({"vgg_block": 5, "conv_params": from_numpy}, keys, integers=True)
    for wrong, kind in ((5.0, "float 5.0"), (True, "bool True"), ("5", "str '5'")):
        with pytest.raises(CheckFailed, match=f"whole numbers \\(int\\): 'vgg_block' is {kind}"):
            checks.check_answer_format({"vgg_block": wrong, "conv_params": 576}, keys, integers=True)
