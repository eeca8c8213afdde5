"""``GuardedExecute``: nbgrader's ``Execute`` that never leaves a submission stuck.

nbgrader's ``Execute`` lets a dead kernel (``os._exit``, a segfault, running out of memory) or a lost IOPub
message abort the whole notebook: ``autograde`` then deletes the partly graded notebook and records nothing
(nbgrader issue #1033). ``GuardedExecute`` instead

- stops at the first fatal problem (the kernel died, the notebook ran past its time limit, the kernel no
  longer answered), puts a clear error output into the cell where it happened and into every graded cell
  that could not run, so that ``SaveAutoGrades`` records the points earned before it and zero after it;
- limits each cell's time (``timeout``, nbgrader's setting) and the whole notebook's (``notebook_timeout``);
- caps the size of each cell's outputs (``max_output_bytes``);
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
from time import monotonic
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade
from traitlets import Integer, Unicode

from ..verify.replay import free_names

#: The one place that names the kernel manager for student code (a sandboxing manager replaces it).
KERNEL_MANAGER_CLASS: type = AsyncKernelManager

METADATA_KEY = "autograder"
TIMEOUT_ENAME = "CellTimeoutError"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def kernel_env() -> dict[str, str]:
    """The kernel's environment: ours, with plots drawn inline so that they reach the feedback (even where
    ``MPLBACKEND=Agg`` is set for headless runs, as in CI)."""
    return {**os.environ, "MPLBACKEND": INLINE_BACKEND}


class NotebookTimeout(Exception):
    """The notebook as a whole ran past ``notebook_timeout``."""


def problem(kind: str, message: str, cell: str | None = None) -> dict[str, Any]:
    """One thing that went wrong while grading: ``kind`` (timeout, dead_kernel, ...), a message, the cell."""
    return {"kind": kind, "message": message, "cell": cell}


def _cell_name(cell: NotebookNode, index: int) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"


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
        self._dead: tuple[str, str] | None = None
        self._deadline = None if self.notebook_timeout is None else monotonic() + self.notebook_timeout
        self.timeout_func = self._cell_timeout
        self.error_on_timeout = {
            "ename": TIMEOUT_ENAME,
            "evalue": "",
            "traceback": [f"{TIMEOUT_ENAME}: the cell ran past its time limit and was interrupted"],
        }
        index = -1
        try:
            # the kernel's own chatter (warnings about its transport) would drown the pipeline's output
            with self.setup_kernel(env=kernel_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
                try:
                    for index, cell in enumerate(self.nb.cells):
                        remaining = self._remaining()
                        if remaining is not None and remaining <= 0:
                            raise NotebookTimeout
                        self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    self._dead = self._death_reason()  # while the kernel manager still knows its process
                    raise
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
        self.set_widgets_metadata()
        self.nb.metadata.setdefault(METADATA_KEY, {})["problems"] = self._problems
        self._save_records()
        return self.nb, self.resources

    def _death_reason(self) -> tuple[str, str]:
        """Why the kernel died, from the sandbox when it knows (memory or CPU limit, crash, exit status)."""
        reason = getattr(self.km, "exit_reason", None)
        known = reason() if callable(reason) else None
        return known or ("dead_kernel", "the code exited Python, crashed, or ran out of memory")

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int):
        names = self._names_to_record(cell)
        if names is not None:
            self._records[cell.metadata.nbgrader["grade_id"]] = None
            self._silent(f"__import__('autograder.verify.record', fromlist=['start']).start({names!r})")
        cell, resources = super().preprocess_cell(cell, resources, index)
        if names is not None:
            finish = "__import__('autograder.verify.record', fromlist=['finish']).finish()"
            self._records[cell.metadata.nbgrader["grade_id"]] = self._silent("", finish)
        if cell.cell_type == "code":
            self._limit_outputs(cell, index)
        return cell, resources

    # --- recording for the outside verdict (autograder.verify) -------------------------------------------
    def _names_to_record(self, cell: NotebookNode) -> list[str] | None:
        meta = cell.metadata.get("nbgrader", {})
        if not self.record_dir or cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            return None
        return free_names(cell.source) if meta.get("grade_id") else None

    def _silent(self, code: str, expression: str | None = None) -> str | None:
        """Run ``code`` in the kernel without a trace in the notebook; the text value of ``expression``."""
        import ast

        from jupyter_core.utils import run_sync

        async def run() -> dict[str, Any] | None:
            msg_id = self.kc.execute(
                code, silent=True, store_history=False, allow_stdin=False,
                user_expressions={"value": expression} if expression else {},
            )  # fmt: skip
            return await self.async_wait_for_reply(msg_id)

        try:
            reply = run_sync(run)()
        except DeadKernelError:
            raise
        except Exception:
            return None
        if not expression or reply is None:
            return None
        value = reply["content"].get("user_expressions", {}).get("value", {})
        text = value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None
        try:
            result = ast.literal_eval(text) if text else None
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
        return result if isinstance(result, str) else None

    def _save_records(self) -> None:
        if not self.record_dir:
            return
        name = (self.resources or {}).get("unique_key") or "notebook"
        path = os.path.join(self.record_dir, f"{name}.json")
        os.makedirs(self.record_dir, exist_ok=True)
        with open(path, "w") as fh:
            json.dump(self._records, fh)

    def on_cell_executed(self, **kwargs: Any) -> None:
        super().on_cell_executed(**kwargs)
        reply = kwargs["execute_reply"]
        if reply["content"].get("status") == "error" and reply["content"].get("ename") == TIMEOUT_ENAME:
            name = _cell_name(kwargs["cell"], kwargs["cell_index"])
            self._problems.append(problem("timeout", f"{name} ran past its time limit and was interrupted", name))

    def _limit_outputs(self, cell: NotebookNode, index: int) -> None:
        size = len(json.dumps(cell.outputs))
        if self.max_output_bytes is None or self.max_output_bytes < 0 or size <= self.max_output_bytes:
            return
        kept = [o for o in cell.outputs if o.get("output_type") == "error"]
        note = f"[output removed: {size} bytes, more than the limit of {self.max_output_bytes} bytes]"
        cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=note + "\n"), *kept]
        name = _cell_name(cell, index)
        self._problems.append(problem("output_limit", f"{name}: {note[1:-1]}", name))

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
