"""``GuardedExecute``: nbgrader's ``Execute`` that never leaves a submission stuck.

nbgrader's ``Execute`` lets a dead kernel (``os._exit``, a segfault, running out of memory) or a lost IOPub
message abort the whole notebook: ``autograde`` then deletes the partly graded notebook and records nothing
(nbgrader issue #1033). ``GuardedExecute`` instead

- stops at the first fatal problem (the kernel died, the notebook ran past its time limit, the kernel no
  longer answered), puts a clear error output into the cell where it happened and into every graded cell
  that could not run, so that ``SaveAutoGrades`` records the points earned before it and zero after it;
- limits each cell's time (``timeout``, nbgrader's setting) and the whole notebook's (``notebook_timeout``);
- caps the size of each cell's outputs (``max_output_bytes``) while they arrive, so that a kernel cannot make
  the grader hold more than that, and ignores widget messages;
- runs the kernel in a working copy of its own (a fresh folder with the submission's files), so that nothing the
  kernel makes there — links above all — is ever read or written by the grader afterwards; a working copy left
  over its bounds (:data:`~autograder.pipeline.files.WORK_LIMITS`) scores the notebook zero;
- fails a graded cell whose kernel replied with an error that never reached the cell's outputs;
- fails every graded test cell that runs after the notebook registered a hook that can rewrite cells (an input or
  AST transformer, an event, a trace function: :mod:`autograder.verify.hooks`);
- writes what went wrong into the notebook's metadata (``metadata.autograder.problems``), where the
  grading job reads it back.

The kernel manager class is the seam of the sandbox: set ``GuardedExecute.kernel_manager_class`` (in the
course's ``nbgrader_config.py``, or through :data:`autograder.pipeline.execute.KERNEL_MANAGER_CLASS`) and
every student notebook, in grading and in release validation, runs under it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from time import monotonic
from typing import Any

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade
from traitlets import Integer, Unicode

from ..sandbox.kernel import GuardedKernelManager, kernel_env
from ..verify.integrity import hooks_in
from ..verify.replay import free_names
from .files import WORK_LIMITS, measure_tree, read_tree, remove_tree, write_tree

#: The one place that names the kernel manager for student code (a sandboxing manager replaces it).
KERNEL_MANAGER_CLASS: type = GuardedKernelManager

METADATA_KEY = "autograder"
TIMEOUT_ENAME = "CellTimeoutError"
#: What ``_silent`` asks the kernel for before each graded test cell: the student's hooks, as text.
HOOK_PROBE = "__import__('autograder.verify.hooks', fromlist=['registered']).registered()"
#: The record of a test cell for the outside verdict: started just before the cell, finished just after it.
RECORD_START = "__import__('autograder.verify.record', fromlist=['start']).start({names!r})"
RECORD_FINISH = "__import__('autograder.verify.record', fromlist=['finish']).finish()"
#: What the grader asks the kernel for after it starts and after the last cell: the CPU seconds of the kernel and
#: of the processes it waited for, as text (for the job's time breakdown only; a kernel could lie about it).
CPU_PROBE = "'%.3f' % sum(__import__('os').times()[:4])"
#: Where a notebook's execution spends its time (``timing`` in the notebook's grader metadata): starting the
#: kernel, cells that are neither the student's nor tests (imports, demonstrations), the student's solution
#: cells, the test cells (with the grader's probes and records around them), and shutting the kernel down.
PHASES = ("kernel start", "setup cells", "student cells", "test cells", "kernel shutdown")
#: Largest record of one test cell, and of all the records of one notebook (bytes of its text).
MAX_RECORD_BYTES = 16 * 1024 * 1024
MAX_RECORDS_BYTES = 64 * 1024 * 1024
#: Seconds the grader waits for the kernel's answer to one of its own silent requests.
SILENT_TIMEOUT = 60
#: Longest error message kept from one failing cell (the traceback is cut to this too).
MAX_ERROR_CHARS = 20_000
#: Said in the log and the job's problems when a kernel cannot start (the grader's problem, not the student's).
KERNEL_START_FAILED = "the kernel could not start"


class KernelStartError(RuntimeError):
    """The student's kernel did not start: the machine's or the sandbox's fault, so the job is retried."""


class NotebookTimeout(Exception):
    """The notebook as a whole ran past ``notebook_timeout``."""


def problem(kind: str, message: str, cell: str | None = None) -> dict[str, Any]:
    """One thing that went wrong while grading: ``kind`` (timeout, dead_kernel, ...), a message, the cell."""
    return {"kind": kind, "message": message, "cell": cell}


def _cell_name(cell: NotebookNode, index: int) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"


def _phase(cell: NotebookNode) -> str:
    """Which of :data:`PHASES` running ``cell`` counts towards."""
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type == "code" and meta.get("solution"):
        return "student cells"
    if cell.cell_type == "code" and meta.get("grade"):
        return "test cells"
    return "setup cells"


def preload_for(nb: NotebookNode) -> list[str]:
    """The modules the instructor's cells of ``nb`` import (locked and test cells; in grading nbgrader has restored
    them), which a fork server may import once for every kernel
    (:func:`autograder.sandbox.forkclient.modules_to_preload`)."""
    from ..sandbox.forkclient import modules_to_preload

    def instructors(cell: NotebookNode) -> bool:
        meta = cell.metadata.get("nbgrader", {})
        graded_or_locked = bool(meta.get("locked") or meta.get("grade"))
        return cell.cell_type == "code" and not meta.get("solution") and graded_or_locked

    return modules_to_preload(cell.source for cell in nb.cells if instructors(cell))


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """Execute a notebook; on a dead kernel or a time limit, fail the rest and record what happened."""

    notebook_timeout = Integer(1800, allow_none=True, help="Seconds the whole notebook may run (None: no limit).").tag(
        config=True
    )
    max_output_bytes = Integer(
        1_000_000, help="Largest size (bytes of JSON) of one cell's outputs; larger outputs are cut."
    ).tag(config=True)

    record_dir = Unicode(
        "", help="When set, graded test cells are recorded for the outside verdict, into <record_dir>/<notebook>.json."
    ).tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("shutdown_kernel", "immediate")
        # nbgrader's Execute passes its own kernel_manager_class as an argument, which would beat the config
        kwargs.setdefault("kernel_manager_class", KERNEL_MANAGER_CLASS)
        super().__init__(*args, **kwargs)
        configured = self.config.get("GuardedExecute", {}).get("kernel_manager_class")
        if configured:
            self.kernel_manager_class = configured

    # --- limits -----------------------------------------------------------------------------------------
    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - monotonic()

    def _cell_timeout(self, cell: NotebookNode) -> int | None:
        remaining = self._remaining()
        if remaining is None:
            return self.timeout
        limit = max(1, int(remaining + 0.999))
        return limit if self.timeout is None or self.timeout < 0 else min(self.timeout, limit)

    # --- execution ----------------------------------------------------------------------------------------
    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None):
        """Execute every cell as nbconvert does, but turn fatal kernel problems into failed cells."""
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._problems: list[dict[str, Any]] = []
        self._records: dict[str, str | None] = {}
        self._unfinished: str | None = None  # a test cell whose record is still to be finished
        self._record_bytes = 0
        self._hooks: str = ""
        self._dead: tuple[str, str] | None = None
        self._deadline = None if self.notebook_timeout is None else monotonic() + self.notebook_timeout
        self._timing: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self._kernel_cpu: dict[str, float] = {}
        self.timeout_func = self._cell_timeout
        self.error_on_timeout = {
            "ename": TIMEOUT_ENAME,
            "evalue": "",
            "traceback": [f"{TIMEOUT_ENAME}: the cell ran past its time limit and was interrupted"],
        }
        work = self._working_copy()
        try:
            self._run_all(resources, work)
        finally:
            self._check_working_copy(work)
            remove_tree(work)
        self._limit_all_outputs()
        grader = self.nb.metadata.setdefault(METADATA_KEY, {})
        grader["problems"] = self._problems
        seconds = {phase: round(value, 3) for phase, value in self._timing.items()}
        grader["timing"] = {"seconds": seconds, "kernel_cpu": self._kernel_cpu}
        self._save_records()
        return self.nb, self.resources

    def _run_all(self, resources: Any, work: str) -> None:
        index = -1
        started = monotonic()
        try:
            # the kernel's own chatter (warnings about its transport) would drown the pipeline's output
            with self._kernel(work):
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
                self._note_kernel_cpu("start")
                self._timing["kernel start"] = monotonic() - started
                try:
                    for index, cell in enumerate(self.nb.cells):
                        remaining = self._remaining()
                        if remaining is not None and remaining <= 0:
                            self._ask_kernel({})  # the last test cell's record, if it is still to be finished
                            raise NotebookTimeout
                        began = monotonic()
                        self.preprocess_cell(cell, resources, index)
                        self._timing[_phase(cell)] += monotonic() - began
                except DeadKernelError:
                    self._dead = self._death_reason()  # while the kernel manager still knows its process
                    raise
                self._note_kernel_cpu("end")
                started = monotonic()
            self._timing["kernel shutdown"] = monotonic() - started
        except NotebookTimeout:
            self._stop(
                index,
                "notebook_timeout",
                f"the notebook ran past its time limit of {self.notebook_timeout} s",
                current_failed=False,
            )
        except DeadKernelError:
            kind, why = getattr(self, "_dead", None) or self._death_reason()
            self._stop(index, kind, f"the kernel died: {why}")
        except CellTimeoutError as err:
            self._stop(index, "unresponsive", f"the kernel stopped answering: {err}".splitlines()[0])

    def _note_kernel_cpu(self, when: str) -> None:
        """The kernel's CPU seconds so far, kept under ``when`` (nothing when it does not answer with a number)."""
        import math

        try:
            text = self._ask_kernel({"cpu": (CPU_PROBE, 32)}).get("cpu")
        except DeadKernelError:  # the next cell, or the end of the notebook, says so
            return
        try:
            seconds = float(text) if text is not None else math.nan
        except ValueError:
            return
        if math.isfinite(seconds) and seconds >= 0:
            self._kernel_cpu[when] = seconds

    def _death_reason(self) -> tuple[str, str]:
        """Why the kernel died, from the sandbox when it knows (memory or CPU limit, crash, exit status)."""
        reason = getattr(self.km, "exit_reason", None)
        known = reason() if callable(reason) else None
        return known or ("dead_kernel", "the code exited Python, crashed, or ran out of memory")

    @contextmanager
    def _kernel(self, work: str) -> Iterator[None]:
        """Start the kernel in ``work`` (its working copy) with the allowed environment, shut it down after.

        A kernel that cannot start raises :class:`KernelStartError` (the job is then retried, not scored).
        """
        with ExitStack() as stack:
            try:
                stack.enter_context(
                    self.setup_kernel(
                        env=kernel_env(), cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        preload=self._preload(),
                    )
                )  # fmt: skip
            except Exception as err:
                known = getattr(self.km, "exit_reason", None)
                why = known() if callable(known) else None  # the sandbox's limits, when it stopped the kernel
                because = f" ({why[1]})" if why else ""
                raise KernelStartError(f"{KERNEL_START_FAILED}: {type(err).__name__}: {err}{because}") from err
            yield

    def _preload(self) -> list[str]:
        return preload_for(self.nb)

    # --- the kernel's working copy -------------------------------------------------------------------------
    def _working_copy(self) -> str:
        """A fresh folder holding the files of the notebook's folder; the kernel runs there, the grader never
        looks into it again (whatever the kernel leaves there, links included, is deleted unread)."""
        parent = getattr(self.kernel_manager_class, "work_parent", None)
        work = tempfile.mkdtemp(prefix="autograder-work-", dir=parent() if callable(parent) else None)
        folder = ((self.resources or {}).get("metadata") or {}).get("path")
        if folder and os.path.isdir(folder):
            files, _ = read_tree(folder)
            write_tree(work, files)
        return work

    def _check_working_copy(self, work: str) -> None:
        size = measure_tree(work, stop_after=WORK_LIMITS.max_entries)
        if size.entries <= WORK_LIMITS.max_entries and size.bytes <= WORK_LIMITS.max_bytes:
            return
        what = (
            f"more than {WORK_LIMITS.max_entries} files and folders"
            if size.entries > WORK_LIMITS.max_entries
            else f"{size.bytes} bytes of files, over the limit of {WORK_LIMITS.max_bytes}"
        )
        reason = f"the notebook left {what} in its working folder"
        self._problems.append(problem("working_copy_limit", f"{reason}; the notebook scores 0", None))
        self._fail_graded(self.nb.cells, f"not counted: {reason}")

    # --- cells ---------------------------------------------------------------------------------------------
    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int):
        self._output_bytes, self._outputs_cut, self._where = 0, False, _cell_name(cell, index)
        meta = cell.metadata.get("nbgrader", {})
        test_cell = cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")
        if cell.cell_type == "code" and not meta.get("locked"):
            self._note_hooks(_cell_name(cell, index), "; ".join(hooks_in(cell.source)))
        names = self._names_to_record(cell)
        if cell.cell_type == "code":
            # one silent request before the cell: the last test cell's record, the hook probe, this one's record
            questions = {"hooks": (HOOK_PROBE, 100_000)} if test_cell else {}
            if names is not None:
                self._records[cell.metadata.nbgrader["grade_id"]] = None
                questions["start"] = (RECORD_START.format(names=names), 100)
            answers = self._ask_kernel(questions)
            if test_cell:
                self._note_hooks(_cell_name(cell, index), answers.get("hooks") or "")
        hooks_before = self._hooks
        cell, resources = super().preprocess_cell(cell, resources, index)
        if names is not None:
            self._unfinished = cell.metadata.nbgrader["grade_id"]  # finished with the next request
        if cell.cell_type == "code":
            self._limit_outputs(cell, index)
        if test_cell and hooks_before:
            reason = f"not counted: the notebook registered code that can rewrite cells ({hooks_before})"
            self._fail_graded([cell], reason)
        return cell, resources

    def _note_hooks(self, where: str, found: str) -> None:
        if found and not self._hooks:
            self._hooks = found[:500]
            text = f"{where} registers code that can change how test cells run ({self._hooks}); later tests score 0"
            self._problems.append(problem("hook_registered", text, where))

    def _fail_graded(self, cells: list[NotebookNode], reason: str) -> None:
        """Give every graded code cell of ``cells`` an error output, so that nbgrader scores it zero."""
        for cell in cells:
            if cell.cell_type == "code" and is_grade(cell):
                cell.outputs.append(_error("NotCounted", reason))

    # --- recording for the outside verdict (autograder.verify) -------------------------------------------
    def _names_to_record(self, cell: NotebookNode) -> list[str] | None:
        meta = cell.metadata.get("nbgrader", {})
        if not self.record_dir or cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            return None
        return free_names(cell.source) if meta.get("grade_id") else None

    def _keep_record(self, grade_id: str, record: str | None) -> None:
        """Keep a cell's record within the bounds of one record and of the notebook's records."""
        if record is None or self._record_bytes + len(record) > MAX_RECORDS_BYTES:
            if record is not None:
                text = f"{grade_id}: the records of this notebook's checks went over {MAX_RECORDS_BYTES} bytes"
                self._problems.append(problem("record_limit", text, grade_id))
            self._records[grade_id] = None
            return
        self._record_bytes += len(record)
        self._records[grade_id] = record

    def _ask_kernel(self, questions: dict[str, tuple[str, int]]) -> dict[str, str | None]:
        """Ask the kernel ``questions`` (name: (expression, longest answer)) in one silent request, together with
        finishing the record of the last test cell when that is still to be done (:meth:`_silent`).

        The kernel evaluates each expression on its own, in order (ipykernel's ``user_expressions``), so an error
        in one does not keep the others from being answered; the record's finish comes first, as it would have
        come straight after its cell.
        """
        unfinished, self._unfinished = self._unfinished, None
        if unfinished is not None:
            questions = {"finish": (RECORD_FINISH, MAX_RECORD_BYTES), **questions}
        if not questions:
            return {}
        answers = self._silent("", {name: expression for name, (expression, _) in questions.items()},
                               {name: limit for name, (_, limit) in questions.items()})  # fmt: skip
        if unfinished is not None:
            self._keep_record(unfinished, answers.get("finish"))
        return answers

    def _silent(
        self, code: str, expressions: dict[str, str], limits: dict[str, int] | None = None
    ) -> dict[str, str | None]:
        """Run ``code`` in the kernel without a trace in the notebook; for each of ``expressions``, its text
        value when it is a string of at most ``limits[name]`` characters (default 100,000); longer answers, and
        no answer within :data:`SILENT_TIMEOUT` seconds, give ``None``."""
        from jupyter_core.utils import run_sync

        async def run() -> dict[str, Any] | None:
            msg_id = self.kc.execute(
                code, silent=True, store_history=False, allow_stdin=False, user_expressions=expressions,
            )  # fmt: skip
            deadline = monotonic() + SILENT_TIMEOUT
            while monotonic() < deadline:
                try:
                    msg = await self.kc.shell_channel.get_msg(timeout=min(1.0, max(0.01, deadline - monotonic())))
                except Exception:
                    await self._async_check_alive()
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    return msg
            return None

        try:
            reply = run_sync(run)()
        except DeadKernelError:
            raise
        except Exception:
            reply = None
        found = (reply or {}).get("content", {}).get("user_expressions", {})
        found = found if isinstance(found, dict) else {}
        return {name: _text_answer(found.get(name), (limits or {}).get(name, 100_000)) for name in expressions}

    def _save_records(self) -> None:
        if not self.record_dir:
            return
        name = (self.resources or {}).get("unique_key") or "notebook"
        path = os.path.join(self.record_dir, f"{name}.json")
        os.makedirs(self.record_dir, exist_ok=True)
        with open(path, "w") as fh:
            json.dump(self._records, fh)

    # --- outputs -------------------------------------------------------------------------------------------
    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, cell_index: int):
        """Keep an output while the cell's outputs stay within ``max_output_bytes``; errors are always kept,
        cut to :data:`MAX_ERROR_CHARS`."""
        if msg.get("msg_type") == "error":
            _cut_error(msg.get("content", {}))
            return super().output(outs, msg, display_id, cell_index)
        size = _content_size(msg.get("content", {}))
        self._output_bytes = getattr(self, "_output_bytes", 0) + size
        limit = self.max_output_bytes
        if limit is not None and limit >= 0 and self._output_bytes > limit:
            self._outputs_cut = True
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        limit = self.max_output_bytes
        size = _content_size(msg.get("content", {}))
        if limit is not None and limit >= 0 and size > limit:  # larger than a cell's whole allowance: dropped
            where = getattr(self, "_where", "a cell")
            text = f"{where}: a display update of {size} bytes was removed, more than the limit of {limit} bytes"
            self._problems.append(problem("output_limit", text, where))
            return
        super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs: list[NotebookNode], msg: dict[str, Any], cell_index: int) -> None:
        """Widget messages are ignored when grading: no widget state is kept, and no output is redirected."""
        return None

    def on_cell_executed(self, **kwargs: Any) -> None:
        super().on_cell_executed(**kwargs)
        reply, cell = kwargs["execute_reply"], kwargs["cell"]
        content = (reply or {}).get("content", {})
        if content.get("status") == "error" and content.get("ename") == TIMEOUT_ENAME:
            name = _cell_name(cell, kwargs["cell_index"])
            self._problems.append(problem("timeout", f"{name} ran past its time limit and was interrupted", name))
        elif content.get("status") == "error" and not any(o.get("output_type") == "error" for o in cell.outputs):
            # the kernel said the cell failed, but its error output never arrived (too large, or suppressed)
            ename = str(content.get("ename", "Error"))[:200]
            cell.outputs.append(_error(ename, str(content.get("evalue", ""))[:MAX_ERROR_CHARS]))

    def _limit_outputs(self, cell: NotebookNode, index: int) -> None:
        size = len(json.dumps(cell.outputs))
        cut = getattr(self, "_outputs_cut", False)
        if self.max_output_bytes is None or self.max_output_bytes < 0 or (size <= self.max_output_bytes and not cut):
            return
        kept = [o for o in cell.outputs if o.get("output_type") == "error"]
        total = max(size, getattr(self, "_output_bytes", 0))
        note = f"[output removed: {total} bytes, more than the limit of {self.max_output_bytes} bytes]"
        cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=note + "\n"), *kept]
        name = _cell_name(cell, index)
        self._problems.append(problem("output_limit", f"{name}: {note[1:-1]}", name))
        self._outputs_cut = False

    def _limit_all_outputs(self) -> None:
        """Outputs changed after their cell ran (display updates) are held to the same limit."""
        if self.max_output_bytes is None or self.max_output_bytes < 0:
            return
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type == "code" and cell.outputs and len(json.dumps(cell.outputs)) > self.max_output_bytes:
                self._limit_outputs(cell, index)

    def _stop(self, index: int, kind: str, reason: str, current_failed: bool = True) -> None:
        """Record ``reason``; fail the cell at ``index`` (when it ran) and every graded cell after it."""
        cells = self.nb.cells
        where = _cell_name(cells[index], index) if 0 <= index < len(cells) else "kernel start"
        self._problems.append(problem(kind, f"{reason} (in {where}); later cells were not run", where))
        start = max(index, 0)
        if current_failed and 0 <= index < len(cells) and cells[index].cell_type == "code":
            cells[index].outputs.append(_error(kind, f"{reason} while running this cell"))
            start = index + 1
        for cell in cells[start:]:
            if cell.cell_type != "code":
                continue
            cell.outputs = []
            cell.execution_count = None
            if is_grade(cell):
                cell.outputs.append(_error("NotRun", f"not run: {reason} in {where}"))


def _text_answer(value: Any, limit: int) -> str | None:
    """The string a kernel's answer to one user expression holds, when it is one of at most ``limit`` characters."""
    import ast

    if not isinstance(value, dict) or value.get("status") != "ok":
        return None
    data = value.get("data")
    text = data.get("text/plain") if isinstance(data, dict) else None
    if not isinstance(text, str) or len(text) > 2 * limit + 2:  # repr() at most doubles a string, plus quotes
        return None
    try:
        result = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None
    return result if isinstance(result, str) and len(result) <= limit else None


def _content_size(content: Any, depth: int = 0) -> int:
    """About the number of characters of a message's content (the sum of its strings), without copying it."""
    if isinstance(content, str):
        return len(content)
    if depth > 8:
        return 0
    if isinstance(content, dict):
        return sum(_content_size(v, depth + 1) + len(str(k)) for k, v in content.items())
    if isinstance(content, (list, tuple)):
        return sum(_content_size(v, depth + 1) for v in content)
    return 8


def _cut_error(content: dict[str, Any]) -> None:
    """Cut an error's message and traceback to :data:`MAX_ERROR_CHARS` each, in place."""
    if isinstance(content.get("evalue"), str) and len(content["evalue"]) > MAX_ERROR_CHARS:
        content["evalue"] = content["evalue"][:MAX_ERROR_CHARS] + " [cut]"
    tb = content.get("traceback")
    if isinstance(tb, list):
        kept, used = [], 0
        for line in tb:
            line = str(line)
            if used + len(line) > MAX_ERROR_CHARS:
                kept.append("[traceback cut]")
                break
            kept.append(line)
            used += len(line)
        content["traceback"] = kept
