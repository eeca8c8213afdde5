"""Verdicts outside the kernel: the record's codec, recording and replaying a test cell, tamper evidence."""

from __future__ import annotations

import json
import sys

import nbformat
import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook

from autograder.checks.common import CheckFailed
from autograder.verify import record
from autograder.verify.codec import Opaque, decode, digest, encode
from autograder.verify.integrity import changed_cells, tampering_in
from autograder.verify.replay import FAIL, PASS, UNVERIFIABLE, free_names, replay_cell, trusted_imports

SETUP = "import numpy as np\nfrom autograder.checks import layers as checks"


def _roundtrip(value):
    return decode(json.loads(json.dumps(encode(value))))


def test_plain_data_crosses_unchanged():
    value = {"a": [1, 2.5, float("inf"), None, True, "s"], 3: (np.arange(6.0).reshape(2, 3), np.int64(7))}
    got = _roundtrip(value)
    assert got["a"][:2] == [1, 2.5] and got["a"][2] == float("inf") and got["a"][3:] == [None, True, "s"]
    assert np.array_equal(got[3][0], value[3][0]) and got[3][0].dtype == np.float64 and got[3][1] == 7
    tensor = _roundtrip(torch.ones(2, 2))
    assert isinstance(tensor, torch.Tensor) and torch.equal(tensor, torch.ones(2, 2))


def test_objects_that_lie_arrive_as_plain_data_or_opaque():
    class AlwaysEqual(np.ndarray):
        def __eq__(self, other):
            return True

    liar = np.zeros(3).view(AlwaysEqual)
    got = _roundtrip(liar)
    assert type(got) is np.ndarray and not (got == np.ones(3)).any()

    class Anything:
        def __eq__(self, other):
            return True

    opaque = _roundtrip(Anything())
    assert isinstance(opaque, Opaque) and opaque != opaque and not opaque
    assert isinstance(_roundtrip(np.array([object()], dtype=object)), Opaque)
    assert isinstance(decode({"t": "array", "dtype": "|O", "shape": [1], "data": ""}), Opaque)


def test_digest_tells_arguments_apart():
    a = np.arange(4.0)
    assert digest(((a,), {"k": 1})) == digest(((a.copy(),), {"k": 1}))
    assert digest(((a,), {"k": 1})) != digest(((a + 1,), {"k": 1}))
    assert digest(((a,), {})) != digest(((a.astype(np.float32),), {}))


def _record(source: str, namespace: dict) -> str:
    """Run ``source`` as the kernel would, recording the names it reads."""
    record.start(free_names(source), namespace)
    try:
        exec(source, namespace)
    except AssertionError:
        pass
    return record.finish()


def _conv_output_size(i, k, s=1, p=0, d=1):
    return (i + 2 * p - d * (k - 1) - 1) // s + 1


CELL = "assert conv_output_size(5, 3) == 3\nchecks.check_conv_output_size(conv_output_size)"


def test_a_correct_function_is_confirmed_outside():
    ns = {**trusted_imports([SETUP]), "conv_output_size": _conv_output_size}
    text = _record(CELL, ns)
    assert ns["conv_output_size"] is _conv_output_size  # put back after the cell
    assert replay_cell("t", CELL, text, trusted_imports([SETUP])).status == PASS


def test_a_wrong_function_fails_outside_even_when_the_kernel_passed_it():
    wrong = lambda i, k, s=1, p=0, d=1: i - k + 1  # noqa: E731  (ignores stride, padding, dilation)
    ns = {**trusted_imports([SETUP]), "conv_output_size": wrong}
    ns["checks"] = type("Patched", (), {"check_conv_output_size": staticmethod(lambda f: None)})  # tampered
    text = _record(CELL, ns)
    verdict = replay_cell("t", CELL, text, trusted_imports([SETUP]))
    assert verdict.status == FAIL and "kernel recorded no such call" in verdict.reason


def test_missing_forged_or_foreign_records_fail():
    trusted = trusted_imports([SETUP])
    assert replay_cell("t", CELL, None, trusted).status == FAIL
    assert replay_cell("t", CELL, "{not json", trusted).status == FAIL
    ns = {**trusted, "conv_output_size": _conv_output_size}
    forged = json.loads(_record(CELL, ns))
    forged["calls"][0]["args"] = "0" * 24
    assert replay_cell("t", CELL, json.dumps(forged), trusted).status == FAIL


def test_built_ins_and_trusted_imports_never_come_from_the_kernel():
    source = "assert all([x > 0 for x in values])\nassert np.allclose(values, [1.0, 2.0])"
    ns = {**trusted_imports([SETUP]), "values": [-1.0, 2.0], "all": lambda _: True}
    ns["np"] = type("FakeNumpy", (), {"allclose": staticmethod(lambda *a: True)})
    text = _record(source, ns)
    assert replay_cell("t", source, text, trusted_imports([SETUP])).status == FAIL


def test_a_check_failure_is_replayed_with_its_message():
    source = "checks.check_conv_output_size(conv_output_size)"
    ns = {**trusted_imports([SETUP]), "conv_output_size": lambda *a, **k: 0}
    with pytest.raises(CheckFailed):
        record.start(free_names(source), ns)
        try:
            exec(source, ns)
        finally:
            text = record.finish()
    verdict = replay_cell("t", source, text, trusted_imports([SETUP]))
    assert verdict.status == FAIL and "CheckFailed" in verdict.reason


def test_a_timing_is_judged_in_the_kernel_only():
    @record.kernel_only
    def timing_check():
        return None

    source = "timing_check()"
    text = _record(source, {"timing_check": lambda: None})
    assert replay_cell("t", source, text, {"timing_check": timing_check}).status == UNVERIFIABLE


@pytest.mark.parametrize(
    "code",
    ["np.allclose = lambda *a: True", "import autograder.checks.layers as L\nL.check_conv2d = None",
     "get_ipython().showtraceback = print", "ip = get_ipython()\nip.set_custom_exc((Exception,), print)",
     "import builtins\nbuiltins.len = None", "AssertionError = Warning",
     "setattr(np.testing, 'assert_allclose', print)",
     "import sys\nsys.modules['torch'] = None", "from numpy import testing as t\nt.assert_allclose = print",
     # the ways around those: the names the test cells use rebound, namespaces reached another way, code built later
     "import types\nchecks = types.SimpleNamespace()", "globals()['che' + 'cks'] = None", "vars(checks).update({})",
     "checks.__dict__.clear()", "exec('chec' + 'ks = 1')", "import fake as checks", "from fake import thing as checks",
     "def f():\n    global checks\n    checks = 1", "__import__('auto' + 'grader')", "del checks",
     "for checks in [None]:\n    pass", "import importlib\nimportlib.import_module(name)", "builtins.exec(code)",
     # through an alias or getattr
     "T = torch\nT.allclose = lambda *a, **k: True", "t = torch.Tensor\nt.__eq__ = lambda *a: True",
     "a = checks\nb = a\nb.check_dice = print", "setattr(getattr(torch, 'Tensor'), '__eq__', print)",
     "getattr(checks, 'check_dice').__code__ = (lambda: 0).__code__"],
)  # fmt: skip
def test_tampering_is_seen(code):
    assert tampering_in(code)


@pytest.mark.parametrize(
    "code",
    ["import torch\ntorch.backends.cudnn.benchmark = True", "x = np.zeros(3)\nx[0] = 1", "np.random.seed(0)",
     "def conv2d(x):\n    out = x.copy()\n    out[0] = 1\n    return out", "not python (((",
     "import numpy as np\nimport torch\nfrom torch import nn\nfrom autograder.checks import unet as checks",
     "model.eval()\nwith torch.no_grad():\n    y = model(x)", "x = __import__('numpy')", "ops = vars(model)",
     "for i in range(3):\n    np.random.seed(i)", "state = model.__dict__", "x = torch.zeros(3)\nx[0] = 1",
     "act = torch.relu\ny = act(x)", "self.conv = nn.Conv2d(3, 8, 3)\nself.conv.weight.data[0] = 1"],
)  # fmt: skip
def test_honest_code_is_not_flagged(code):
    assert tampering_in(code) == []


def test_changed_test_cells_are_named():
    from nbgrader.utils import compute_checksum

    def cell(gid, source):
        return new_code_cell(
            source, metadata={"nbgrader": {"grade_id": gid, "locked": True, "grade": True, "points": 1}}
        )

    release = new_notebook(cells=[cell("a", "assert f() == 1"), cell("b", "assert g() == 2"), cell("c", "x")])
    protected = {c.metadata.nbgrader.grade_id: {"checksum": compute_checksum(c), "cell_type": "code"}
                 for c in release.cells}  # fmt: skip
    submitted = nbformat.from_dict(json.loads(json.dumps(release)))
    submitted.cells[0].source = "pass"
    submitted.cells[0].metadata.nbgrader.pop("points")  # damaged metadata: still named, never a crash
    submitted.cells[1].cell_type = "markdown"
    del submitted.cells[2]
    kinds = {(kind, gid) for kind, gid, _ in changed_cells(protected, submitted)}
    assert kinds == {("test_cell_edited", "a"), ("test_cell_retyped", "b"), ("test_cell_deleted", "c")}
    assert changed_cells(protected, release) == []


def test_a_hook_from_a_folder_the_student_named_site_packages_is_still_the_students(tmp_path, monkeypatch):
    """Where the installed Python lives is settled when the hooks module is imported (in the fork server, before
    any student code), so a ``site-packages`` folder put on ``sys.path`` later does not make a file installed."""
    from autograder.verify import hooks

    folder = tmp_path / "site-packages"
    folder.mkdir()
    (folder / "quiet_profiler.py").write_text("def profile(frame, event, arg):\n    return None\n")
    monkeypatch.syspath_prepend(str(folder))
    import quiet_profiler

    sys.setprofile(quiet_profiler.profile)
    try:
        found = hooks.registered()
    finally:
        sys.setprofile(None)
    assert found == "sys.setprofile: profile"
    assert str(folder) not in " ".join(hooks.INSTALLED_ROOTS)
    assert not hooks._written_by_student(json.dumps, hooks.INSTALLED_ROOTS)  # an installed function is not
