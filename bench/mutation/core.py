"""One assignment's mutation run: its mutants, their outcomes, and the table.

Per assignment: mutants (generated ones and hand-written mistakes), killed, survived, equivalent (each listed
in the assignment's configuration with a one-line reason), mutation score = killed / (all - equivalent), and
the surprise rate = the share of killed mutants that pass every visible test (killed by hidden tests only).
"""

from __future__ import annotations

import ast
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from . import notebook, operators
from .runner import Baseline, Outcome, run_mutants


@dataclass(frozen=True)
class Handwritten:
    """A plausible student mistake: ``edits`` are (solution cell, old text, new text). ``old`` may also be
    ``"def NAME"`` or ``"class NAME"``: then ``new`` replaces that whole top-level definition of the cell."""

    name: str
    description: str
    edits: tuple[tuple[str, str, str], ...]


@dataclass
class Config:
    """What the runner needs to know about one assignment."""

    assignment: str
    handwritten: list[Handwritten]
    equivalent: dict[str, str]  # mutant id -> why it behaves like the solution
    skip: frozenset[str] = frozenset()  # cells never run (figures, timings)
    not_mutated: frozenset[str] = frozenset()  # solution cells left alone (ungraded): reasons in the guide
    setup: str = ""
    timeout: float = 60.0
    environment: dict[str, str] = field(default_factory=dict)


def replace_definition(source: str, name: str, new: str) -> str:
    """``source`` with its top-level function or class ``name`` replaced by ``new`` (a whole definition)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            return "\n".join([*lines[:start], new.strip("\n"), *lines[node.end_lineno :]]) + "\n"
    raise ValueError(f"no top-level definition {name!r}")


@dataclass(frozen=True)
class Job:
    id: str
    kind: str  # "generated" or "handwritten"
    cell: str
    operator: str
    description: str
    changed: dict[str, str]


def jobs(config: Config, cells: list[notebook.Cell]) -> list[Job]:
    """The generated mutants of every solution cell, then the hand-written mistakes."""
    by_id = {c.grade_id: c for c in cells if c.solution}
    out = []
    for cell in by_id.values():
        if cell.grade_id in config.not_mutated:
            continue
        for m in operators.mutants(cell.grade_id, cell.source):
            out.append(Job(m.id, "generated", m.cell, m.operator, m.description, {m.cell: m.source}))
    for h in config.handwritten:
        changed: dict[str, str] = {}
        for cell_id, old, new in h.edits:
            source = changed.get(cell_id, by_id[cell_id].source)
            if re.fullmatch(r"(def|class) \w+", old):
                changed[cell_id] = replace_definition(source, old.split()[1], new)
                continue
            if old not in source:
                raise ValueError(f"hand-written mistake {h.name}: {old!r} not in cell {cell_id}")
            changed[cell_id] = source.replace(old, new)
        first = h.edits[0][0]
        out.append(Job(f"hand:{h.name}", "handwritten", first, "handwritten", h.description, changed))
    return out


@dataclass
class Result:
    job: Job
    outcome: Outcome
    equivalent: str = ""


@dataclass
class Table:
    assignment: str
    mutants: int
    killed: int
    survived: int
    equivalent: int
    surprises: int
    handwritten: int
    handwritten_killed: int
    seconds: float

    @property
    def score(self) -> float:
        judged = self.mutants - self.equivalent
        return self.killed / judged if judged else 1.0

    @property
    def surprise_rate(self) -> float:
        return self.surprises / self.killed if self.killed else 0.0


def table(assignment: str, results: list[Result], seconds: float) -> Table:
    killed = [r for r in results if r.outcome.status == "killed"]
    return Table(
        assignment=assignment,
        mutants=len(results),
        killed=len(killed),
        survived=sum(1 for r in results if r.outcome.status != "killed" and not r.equivalent),
        equivalent=sum(1 for r in results if r.outcome.status != "killed" and r.equivalent),
        surprises=sum(1 for r in killed if not r.outcome.visible_failed),
        handwritten=sum(1 for r in results if r.job.kind == "handwritten"),
        handwritten_killed=sum(1 for r in killed if r.job.kind == "handwritten"),
        seconds=seconds,
    )


def run(
    config: Config,
    sample: int | None = None,
    seed: int = 0,
    only: Callable[[Job], bool] | None = None,
    progress: Callable[[int, int, Result], None] | None = None,
    workers: int = 1,
) -> tuple[list[Result], Table, Baseline]:
    """Run the assignment's mutants (``sample``: a seeded random subset of that many generated ones, with every
    hand-written one; ``workers``: mutants run at once, each in its own forked child) and tabulate them."""
    import os

    saved = dict(os.environ)
    try:
        return _run(config, sample, seed, only, progress, workers)
    finally:  # the caller's process is left as it was: its environment, and no training limit on its optimizers
        from autograder.checks import budget

        budget.stop_limiting_training()
        os.environ.clear()
        os.environ.update(saved)


def _run(
    config: Config,
    sample: int | None,
    seed: int,
    only: Callable[[Job], bool] | None,
    progress: Callable[[int, int, Result], None] | None,
    workers: int = 1,
) -> tuple[list[Result], Table, Baseline]:
    import os

    os.environ.update({"AUTOGRADER_GRADING": "1", "MPLBACKEND": "Agg", **config.environment})
    if "AUTOGRADER_CACHE" not in os.environ:  # trainability results shared by mutants whose networks behave alike
        import tempfile

        os.environ["AUTOGRADER_CACHE"] = tempfile.mkdtemp(prefix="mutation-cache-")
    cells = notebook.load(config.assignment, config.skip)
    start = time.monotonic()
    baseline = Baseline(cells, config.setup)
    if baseline.failures:
        raise RuntimeError(f"the instructor notebook fails in the runner: {baseline.failures}")
    all_jobs = jobs(config, cells)
    if only is not None:
        all_jobs = [j for j in all_jobs if only(j)]
    generated = [j for j in all_jobs if j.kind == "generated"]
    if sample is not None and sample < len(generated):  # a seeded sample of the generated ones, every hand-written one
        chosen = {j.id for j in random.Random(seed).sample(generated, sample)}
        all_jobs = [j for j in all_jobs if j.kind == "handwritten" or j.id in chosen]
    results: list[Result | None] = [None] * len(all_jobs)
    finished = 0

    def done(index: int, outcome: Outcome) -> None:
        nonlocal finished
        job = all_jobs[index]
        results[index] = Result(job, outcome, config.equivalent.get(job.id, "") if outcome.status != "killed" else "")
        finished += 1
        if progress:
            progress(finished, len(all_jobs), results[index])

    run_mutants(baseline, [j.changed for j in all_jobs], config.timeout, jobs=workers, done=done)
    results = [r for r in results if r is not None]
    return results, table(config.assignment, results, time.monotonic() - start), baseline


def to_json(results: list[Result], tab: Table) -> dict:
    return {
        "table": {**asdict(tab), "score": tab.score, "surprise_rate": tab.surprise_rate},
        "mutants": [
            {
                "id": r.job.id,
                "kind": r.job.kind,
                "operator": r.job.operator,
                "description": r.job.description,
                "status": "equivalent" if r.equivalent else r.outcome.status,
                "reason": r.equivalent or r.outcome.reason,
                "visible_failed": r.outcome.visible_failed,
                "hidden_failed": r.outcome.hidden_failed,
                "seconds": round(r.outcome.seconds, 2),
            }
            for r in results
        ],
    }


def dump(path, results: list[Result], tab: Table) -> None:
    with open(path, "w") as f:
        json.dump(to_json(results, tab), f, indent=1)


def load(path, config: Config) -> tuple[list[Result], Table]:
    """A saved run (``dump``) judged again with ``config``'s current list of equivalent mutants.

    Equivalence is a reader's judgement of a survivor, made after the run; the outcomes stay the run's."""
    with open(path) as f:
        saved = json.load(f)
    results = []
    for m in saved["mutants"]:
        job = Job(m["id"], m["kind"], m["id"].split(":")[0], m["operator"], m["description"], {})
        killed = m["status"] == "killed"
        outcome = Outcome(
            "killed" if killed else "survived",
            reason=m["reason"] if m["status"] != "equivalent" else "",
            visible_failed=m["visible_failed"],
            hidden_failed=m["hidden_failed"],
            seconds=m["seconds"],
        )
        results.append(Result(job, outcome, "" if killed else config.equivalent.get(job.id, "")))
    return results, table(saved["table"]["assignment"], results, saved["table"]["seconds"])
