"""Running mutants in-process, each in a forked child with a time and a memory limit.

The parent runs the instructor notebook once (its code cells, as graded: ``AUTOGRADER_GRADING=1``), keeping
the values each cell defined. For each mutant it forks: the child replaces the changed solution cells, runs
again the cells that depend on them (``notebook.plan``), test cells in notebook order, and sends each test
cell's outcome back as it finishes. It stops at the first failing visible test (the mutant is then killed and
the student would have seen it); when only hidden tests fail, every visible one still runs, so that the
surprise rate (killed, yet every visible test passed) is known.

A child that runs past its time limit, grows past the memory limit, or dies (a segfault, ``os._exit``) is
killed, and the mutant counts as killed with that reason; the run goes on.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from .notebook import Cell, inputs_from_unchanged, plan

# One thread: a forked child must not inherit a thread pool the parent used (it would wait on it forever).
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

MEMORY_LIMIT_MB = 3072


@dataclass
class Outcome:
    """What happened to one mutant."""

    status: str  # "killed", "survived", "error" (the runner's own failure)
    reason: str = ""  # killed: the first failing cell and message, or timeout / memory / crash
    visible_failed: bool = False
    hidden_failed: bool = False
    cells: list[tuple[str, bool, bool, str]] = field(default_factory=list)  # (cell, hidden, passed, message)
    seconds: float = 0.0


class Baseline:
    """The instructor notebook run once in this process: namespace and the values each cell defined."""

    def __init__(self, cells: list[Cell], setup: str = "") -> None:
        self.cells = cells
        self.ns: dict = {"__name__": "__main__"}
        self.values: dict[int, dict[str, object]] = {}
        self.failures: list[str] = []
        import torch

        torch.set_num_threads(1)
        if setup:
            exec(setup, self.ns)
        for cell in cells:
            ok, message = run_cell(cell, cell.source, self.ns)
            if not ok:
                self.failures.append(f"{cell.label}: {message}")
            self.values[cell.index] = {n: self.ns[n] for n in cell.defs if n in self.ns}


def _first_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {getattr(err, 'message', None) or err}".strip()
    return text.replace("\n", " | ")[:400]


def run_cell(cell: Cell, source: str, ns: dict) -> tuple[bool, str]:
    """Execute a cell's source in ``ns`` as the notebook would (its prints swallowed): (passed, message)."""
    import matplotlib.pyplot as plt

    from autograder.checks import budget

    if budget._counter is not None:  # the kernel resets the grading budget's step count before every cell
        budget._counter.reset()
    try:
        code = compile(source, f"<{cell.label}>", "exec")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(code, ns)
        return True, ""
    except Exception as err:  # noqa: BLE001 - any failure of a cell is its outcome
        return False, _first_line(err)
    except SystemExit as err:
        return False, f"SystemExit({err.code})"
    finally:
        plt.close("all")


def _child(baseline: Baseline, changed: dict[str, str], conn) -> None:
    """Run in the forked child: replace the changed cells, rerun what depends on them, report each test cell."""
    import faulthandler

    faulthandler.disable()  # a mutant that segfaults is reported by its exit code, not by a dump of every thread
    ns = baseline.ns
    cells = plan(baseline.cells, changed)
    restore = inputs_from_unchanged(baseline.cells, cells)
    hidden_failed = False
    try:
        for cell in cells:
            if cell.test and cell.hidden and hidden_failed:
                continue  # the mutant is killed already; only the visible tests can still change the verdict
            for name, k in restore[cell.index].items():
                if name in baseline.values.get(k, {}):
                    ns[name] = baseline.values[k][name]
            for name in cell.defs:
                ns.pop(name, None)
            if cell.test:
                conn.send(("start", cell.label, cell.hidden))
            ok, message = run_cell(cell, changed.get(cell.grade_id, cell.source), ns)
            if cell.test:
                conn.send(("cell", cell.label, cell.hidden, ok, message))
                if not ok and not cell.hidden:
                    break
                hidden_failed = hidden_failed or not ok
        conn.send(("done",))
    except BaseException:  # noqa: BLE001 - the runner's own failure, reported as such
        conn.send(("error", traceback.format_exc()[-2000:]))
    finally:
        conn.close()


def _own_memory_mb(pid: int) -> float:
    """The memory the forked child and its children hold on their own (unique set size).

    Not the resident size: a child forked from a large process shares every page of its parent until it writes
    to one, and those shared pages are not what the mutant used."""
    try:
        import psutil

        proc = psutil.Process(pid)
        return sum(p.memory_full_info().uss for p in [proc, *proc.children(recursive=True)]) / 2**20
    except Exception:  # noqa: BLE001 - the process is gone
        return 0.0


class MutantRun:
    """One mutant running in a forked child; ``poll`` reads what it reports, ``outcome`` judges it."""

    def __init__(
        self, baseline: Baseline, changed: dict[str, str], timeout: float, memory_mb: int = MEMORY_LIMIT_MB
    ) -> None:
        ctx = mp.get_context("fork")
        self.conn, child_conn = ctx.Pipe(duplex=False)
        self.timeout, self.memory_mb = timeout, memory_mb
        self.start = time.monotonic()
        self.proc = ctx.Process(target=_child, args=(baseline, changed, child_conn), daemon=True)
        self.proc.start()
        child_conn.close()
        self.result = Outcome("survived")
        self.finished = False  # the child reported the end of its cells
        self.over = False  # no more to read: finished, died, or stopped by a limit
        self.limit_reason = ""
        self.running: tuple[str, bool] | None = None  # the test cell in progress

    def poll(self, wait: float) -> bool:
        """Read what the child reported within ``wait`` seconds and apply the limits; True once it is over."""
        if self.over:
            return True
        left = self.timeout - (time.monotonic() - self.start)
        if left <= 0:
            self.limit_reason = f"timeout: still running after {self.timeout:.0f} s"
            self.over = True
        elif self.conn.poll(min(wait, left)):
            try:
                self._read(self.conn.recv())
            except EOFError:
                self.over = True
        elif not self.proc.is_alive():
            self.over = True
        if not self.over and _own_memory_mb(self.proc.pid) > self.memory_mb:
            self.limit_reason = f"memory: more than {self.memory_mb} MB"
            self.over = True
        return self.over

    def _read(self, msg: tuple) -> None:
        if msg[0] == "start":
            self.running = (msg[1], msg[2])
        elif msg[0] == "cell":
            _, label, hidden, ok, message = msg
            self.result.cells.append((label, hidden, ok, message))
            self.running = None
        elif msg[0] == "done":
            self.finished = self.over = True
        else:
            self.result.status, self.result.reason = "error", msg[1]
            self.finished = self.over = True

    def outcome(self) -> Outcome:
        """Stop the child if it still runs, and judge the mutant from what it reported."""
        if self.proc.is_alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.join()
        self.conn.close()
        outcome = self.result
        outcome.seconds = time.monotonic() - self.start
        if outcome.status == "error":
            return outcome
        if not self.finished:  # the cell in progress hung, blew up or killed the interpreter
            why = self.limit_reason or f"crash: the interpreter died (exit code {self.proc.exitcode})"
            label, hidden = self.running or ("(setup of the mutant)", False)
            outcome.cells.append((label, hidden, False, why))
        failed = [(label, hidden, message) for label, hidden, ok, message in outcome.cells if not ok]
        outcome.visible_failed = any(not hidden for _, hidden, _ in failed)
        outcome.hidden_failed = any(hidden for _, hidden, _ in failed)
        if failed:
            label, hidden, message = next(f for f in failed if not f[1]) if outcome.visible_failed else failed[0]
            outcome.status, outcome.reason = "killed", f"{label}: {message}"
        return outcome


def run_mutant(
    baseline: Baseline, changed: dict[str, str], timeout: float, memory_mb: int = MEMORY_LIMIT_MB
) -> Outcome:
    """Fork, run the mutant's affected cells, and judge it from what the child reports."""
    run = MutantRun(baseline, changed, timeout, memory_mb)
    while not run.poll(0.2):
        pass
    return run.outcome()


def run_mutants(
    baseline: Baseline,
    changes: list[dict[str, str]],
    timeout: float,
    jobs: int = 1,
    done: Callable[[int, Outcome], None] | None = None,
    memory_mb: int = MEMORY_LIMIT_MB,
) -> list[Outcome]:
    """Run the mutants with up to ``jobs`` children at a time; ``done(index, outcome)`` as each one ends.

    Each child is forked from this process alone (no threads), so running several at once changes no outcome."""
    outcomes: list[Outcome | None] = [None] * len(changes)
    waiting = list(enumerate(changes))[::-1]
    running: dict[int, MutantRun] = {}
    while waiting or running:
        while waiting and len(running) < max(1, jobs):
            index, changed = waiting.pop()
            running[index] = MutantRun(baseline, changed, timeout, memory_mb)
        for index, run in list(running.items()):
            if run.poll(0.2 / len(running)):
                outcomes[index] = run.outcome()
                del running[index]
                if done:
                    done(index, outcomes[index])
    return outcomes  # type: ignore[return-value]
