"""Mutation testing of the checks (``bench.mutation``): its operators, its limits, and a fast sample in CI.

The full run is a benchmark (``python3 -m bench.mutation``, tables in the README and the guide); here a seeded
sample of each assignment's generated mutants and all its hand-written mistakes run through the real checks, and
every one that is not listed as equivalent must be killed.
"""

from __future__ import annotations

import ast
import os
import random

import pytest

from autograder.checks import budget
from bench.mutation import core, notebook, operators
from bench.mutation.runner import Baseline, run_mutant


def _ops(source: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in operators.mutants("cell", source):
        out.setdefault(m.operator, []).append(m.source)
    return out


def test_operators_cover_the_mistakes_students_make():
    source = (
        "def f(x, skip, model, device):\n"
        "    model.eval()\n"
        "    y = torch.cat([x, skip], dim=1)\n"
        "    y = F.relu(y)\n"
        "    n = (x.shape[-1] - 3) // 2 + 1\n"
        "    total = 0\n"
        "    for i in range(n):\n"
        "        total += y[:, :, i:i + 3].sum()\n"
        "    return total.to(device) if n > 0 else None\n"
    )
    ops = _ops(source)
    assert any("x + skip" in s for s in ops["cat_add"])
    assert any("torch.cat([skip, x], dim=1)" in s for s in ops["cat_order"])
    assert any("dim=2" in s for s in ops["number"]) and any("dim=0" in s for s in ops["number"])
    assert any("y = y\n" in s for s in ops["drop_call"])  # the activation dropped
    assert any("model.train()" in s for s in ops["name_swap"])
    assert any("-(-(x.shape[-1] - 3) // 2)" in s for s in ops["floor_ceil"])
    assert any("i:i + 3 + 1" in s for s in ops["slice"])
    assert any("total = y[:, :, i:i + 3].sum()" in s for s in ops["augassign"])
    assert any("return total if n > 0" in s for s in ops["drop_method"])  # .to(device) dropped
    assert any("n >= 0" in s for s in ops["compare"])
    assert any("model.eval()" not in s for s in ops["drop_statement"])
    for sources in ops.values():  # every mutant compiles and differs from the original
        for s in sources:
            compile(s, "<mutant>", "exec")
            assert ast.unparse(ast.parse(s)) != ast.unparse(ast.parse(source))


def test_mutant_ids_are_stable_and_unique():
    source = "def f(a, b):\n    return a + b * 2\n"
    first, again = operators.mutants("c", source), operators.mutants("c", source)
    assert [m.id for m in first] == [m.id for m in again]
    assert len({m.id for m in first}) == len(first)


def test_replace_definition_keeps_the_rest_of_the_cell():
    source = "import math\n\n\ndef f(x):\n    return x\n\n\ndef g(x):\n    return 2 * x\n"
    out = core.replace_definition(source, "f", "def f(x):\n    return -x\n")
    ns: dict = {}
    exec(out, ns)
    assert ns["f"](3) == -3 and ns["g"](3) == 6


def test_plan_reruns_what_depends_on_the_changed_cell():
    cells = [
        notebook.Cell(0, "a", "def f():\n    return 1\n", solution=True),
        notebook.Cell(1, "b", "def g():\n    return f() + 1\n", solution=True),
        notebook.Cell(2, "t1", "assert f() == 1\n", test=True),
        notebook.Cell(3, "c", "def h():\n    return 5\n", solution=True),
        notebook.Cell(4, "t2", "assert g() == 2\n", test=True),
        notebook.Cell(5, "t3", "assert h() == 5\n", test=True),
    ]
    for c in cells:
        c.defs, c.uses = notebook.names_of(c.source)
    assert [c.grade_id for c in notebook.plan(cells, {"a": "def f():\n    return 0\n"})] == ["a", "b", "t1", "t2"]
    assert [c.grade_id for c in notebook.plan(cells, {"c": "def h():\n    return 0\n"})] == ["c", "t3"]


def _toy_baseline() -> Baseline:
    cells = [
        notebook.Cell(0, "f", "def f(x):\n    return x + 1\n", solution=True),
        notebook.Cell(1, "t", "assert f(1) == 2, 'f(1) must be 2'\n", test=True),
        notebook.Cell(2, "th", "assert f(10) == 11\n", test=True, hidden=True),
    ]
    for c in cells:
        c.defs, c.uses = notebook.names_of(c.source)
    return Baseline(cells)


@pytest.mark.parametrize(
    "body, reason",
    [
        ("    while True:\n        pass\n", "timeout"),
        ("    import os\n    os._exit(3)\n", "crash"),
        ("    import ctypes\n    ctypes.string_at(0)\n", "crash"),
        ("    import numpy\n    blocks = [numpy.ones(2**24) for _ in range(40)]\n", "memory"),
    ],
    ids=["hangs", "exits", "segfault", "memory"],
)
def test_a_mutant_that_hangs_crashes_or_eats_memory_is_killed_with_its_reason(body, reason):
    baseline = _toy_baseline()
    timeout = 5 if reason == "timeout" else 120  # a loaded machine is slow to fill 600 MB; the others end at once
    outcome = run_mutant(baseline, {"f": "def f(x):\n" + body}, timeout=timeout, memory_mb=600)
    assert outcome.status == "killed" and reason in outcome.reason, outcome
    assert outcome.visible_failed  # it happened in the visible test cell, where the student sees it
    # and the run goes on: the next mutant is judged normally
    assert run_mutant(baseline, {"f": "def f(x):\n    return x + 1\n"}, timeout=5).status == "survived"


def test_killed_by_hidden_tests_only_is_a_surprise():
    baseline = _toy_baseline()
    outcome = run_mutant(baseline, {"f": "def f(x):\n    return 2 if x == 1 else 0\n"}, timeout=10)
    assert outcome.status == "killed" and not outcome.visible_failed and outcome.hidden_failed
    visible = run_mutant(baseline, {"f": "def f(x):\n    return x\n"}, timeout=10)
    assert visible.status == "killed" and visible.visible_failed and "f(1) must be 2" in visible.reason


def test_table_counts_score_and_surprise_rate():
    def result(status, equivalent="", visible=True):
        job = core.Job("id", "generated", "c", "op", "", {})
        outcome = core.Outcome(status, visible_failed=visible)
        return core.Result(job, outcome, equivalent)

    results = [result("killed")] * 8 + [result("killed", visible=False)] * 2 + [result("survived", "same")] * 3
    results += [result("survived")]
    tab = core.table("x", results, 1.0)
    assert (tab.mutants, tab.killed, tab.survived, tab.equivalent, tab.surprises) == (14, 10, 1, 3, 2)
    assert tab.score == pytest.approx(10 / 11) and tab.surprise_rate == pytest.approx(0.2)


# ----------------------------------------------------------------------------------------- the CI sample
#: Per assignment: generated mutants sampled, and the cells left out of CI (the training cells and what they
#: feed, too slow for CI: the full run judges those mutants by the trained model as grading does).
_TRAINING = frozenset({"cell 51", "cell 53", "test_accuracy_val", "test_accuracy_hidden_1", "test_accuracy_hidden_2"})
#: Assignment 2's U-Net training and what judges the trained network (its mutants' other cells are judged as graded).
_UNET_TRAINING = frozenset(
    {
        "cell 51",
        "test_result_val",
        "test_result_hidden_1",
        "test_result_hidden_2",
        "test_result_hidden_3",
        "test_trainability",
    }
)
SAMPLES = {
    "01_layers": (60, frozenset(), frozenset()),
    "02_unet": (30, _UNET_TRAINING, frozenset()),
    "03_architectures": (40, _TRAINING, frozenset({"make_resnet", "evaluate", "train"})),
    "04_visualization": (40, frozenset(), frozenset()),
}


@pytest.mark.parametrize("assignment", sorted(SAMPLES))
def test_sample_of_mutants_is_killed(assignment):
    """All hand-written mistakes and a seeded sample of generated mutants: killed, unless listed as equivalent."""
    import dataclasses

    from bench.mutation.__main__ import config

    size, skip, cells_left_out = SAMPLES[assignment]
    cfg = config(assignment)
    cfg = dataclasses.replace(cfg, skip=cfg.skip | skip)
    generated = sorted(
        j.id
        for j in core.jobs(cfg, notebook.load(assignment, cfg.skip))
        if j.kind == "generated" and j.cell not in cells_left_out
    )
    chosen = set(random.Random(1).sample(generated, size))
    environment = dict(os.environ)
    results, tab, _ = core.run(cfg, only=lambda j: j.kind == "handwritten" or j.id in chosen)
    # the run leaves this process as it found it: no grading environment, no step limit on later training
    assert dict(os.environ) == environment and budget._counter is None
    survivors = [
        f"{r.job.id}: {r.job.description}" for r in results if r.outcome.status != "killed" and not r.equivalent
    ]
    assert not survivors
    assert tab.handwritten >= 20 and tab.handwritten_killed == tab.handwritten
    assert tab.surprise_rate <= 0.10, [r.job.id for r in results if not r.outcome.visible_failed]
    for r in results:  # every listed equivalent mutant really survives (a listed one that is killed is stale)
        if r.job.id in cfg.equivalent:
            assert r.outcome.status != "killed", (
                f"{r.job.id} is listed as equivalent but was killed: {r.outcome.reason}"
            )


@pytest.mark.parametrize("assignment", ["01_layers", "02_unet", "03_architectures", "04_visualization"])
def test_equivalent_mutants_are_real_mutants_with_reasons(assignment):
    from bench.mutation.__main__ import config

    cfg = config(assignment)
    ids = {j.id for j in core.jobs(cfg, notebook.load(assignment, cfg.skip))}
    assert set(cfg.equivalent) <= ids, set(cfg.equivalent) - ids
    assert all(len(reason) > 20 and "\n" not in reason for reason in cfg.equivalent.values())
    assert len(cfg.handwritten) >= 20


def test_mutants_run_at_once_are_judged_as_one_at_a_time():
    """``--jobs``: children running side by side report the same outcomes, in the order of the mutants."""
    from bench.mutation.runner import run_mutants

    baseline = _toy_baseline()
    changes = [
        {"f": "def f(x):\n    return x + 1\n"},  # survives
        {"f": "def f(x):\n    return x\n"},  # a visible test fails
        {"f": "def f(x):\n    import os\n    os._exit(3)\n"},  # crashes
        {"f": "def f(x):\n    return 2 if x == 1 else 0\n"},  # only the hidden test fails
        {"f": "def f(x):\n    while True:\n        pass\n"},  # hangs
    ]
    seen = []
    together = run_mutants(baseline, changes, timeout=5, jobs=3, done=lambda i, o: seen.append(i))
    alone = [run_mutant(baseline, c, timeout=5) for c in changes]
    assert sorted(seen) == list(range(len(changes)))
    assert [(o.status, o.visible_failed, o.hidden_failed) for o in together] == [
        (o.status, o.visible_failed, o.hidden_failed) for o in alone
    ]
    assert [o.status for o in together] == ["survived", "killed", "killed", "killed", "killed"]
    assert "crash" in together[2].reason and "timeout" in together[4].reason


def test_a_saved_run_is_judged_again_with_the_current_equivalent_list(tmp_path):
    """``--retable``: a survivor listed as equivalent after the run counts as equivalent; the outcomes stay."""

    def result(mutant_id, status, visible=True):
        job = core.Job(mutant_id, "generated", mutant_id.split(":")[0], "op", "a mutant", {})
        return core.Result(
            job, core.Outcome(status, reason="cell: message" if status == "killed" else "", visible_failed=visible)
        )

    results = [result("f:1:a:1", "killed"), result("f:2:b:1", "killed", visible=False), result("f:3:c:1", "survived")]
    core.dump(tmp_path / "x.json", results, core.table("x", results, 12.0))
    before = core.Config("x", [], {})
    again, tab = core.load(tmp_path / "x.json", before)
    assert (tab.killed, tab.survived, tab.equivalent, tab.surprises, tab.seconds) == (2, 1, 0, 1, 12.0)
    assert [r.outcome.reason for r in again] == ["cell: message", "cell: message", ""]
    judged = core.Config("x", [], {"f:3:c:1": "the same value for every input the task allows"})
    _, tab = core.load(tmp_path / "x.json", judged)
    assert (tab.killed, tab.survived, tab.equivalent, tab.score) == (2, 0, 1, 1.0)
    listed_but_killed = core.Config("x", [], {"f:1:a:1": "a stale entry: this mutant is killed by the checks"})
    _, tab = core.load(tmp_path / "x.json", listed_but_killed)
    assert (tab.killed, tab.equivalent) == (2, 0)  # a killed mutant is never counted as equivalent
