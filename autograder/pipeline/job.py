"""Grading one submission as a pure job: a ``GradeJob`` in, a ``GradeResult`` out.

The job carries everything it needs as bytes (the submitted files, a gradebook that holds only the
assignment, the course's nbgrader config), so it runs the same in a local worker process and on a Dask
worker of another machine. It grades inside a scratch course of its own with nbgrader's ``Autograde``
(``Execute`` replaced by :class:`~autograder.pipeline.execute.GuardedExecute`, its kernels sandboxed when the
job carries a :class:`~autograder.sandbox.SandboxPolicy`) and reads the scores back from
the scratch gradebook: it never touches the course's gradebook, which only the coordinator writes.
"""

from __future__ import annotations

import copy
import hashlib
import os
import resource
import socket
import tempfile
import traceback
import warnings
from dataclasses import dataclass, field
from datetime import timezone
from functools import lru_cache
from pathlib import Path
from time import monotonic, process_time
from typing import Any

from traitlets.config import Config

from ..config import GUARDED_EXECUTE, SANDBOXED_KERNELS
from ..course import quiet_logger
from ..sandbox import SandboxPolicy
from . import verdicts
from .execute import KERNEL_START_FAILED, METADATA_KEY, PHASES, GuardedExecute, problem
from .files import read_tree, rewrite_notebook, write_tree
from .prepare import prepare_notebook
from .scratchdb import volatile

GRADED, FAILED = "graded", "failed"


@dataclass(frozen=True)
class Limits:
    """Grading limits; ``None`` keeps the course's setting (nbgrader's ``Execute.timeout`` for cells)."""

    cell_timeout: int | None = None
    notebook_timeout: int | None = None
    max_output_bytes: int | None = None

    def apply(self, config: Config) -> None:
        """Write the limits that are set into ``config`` (as ``GuardedExecute`` settings)."""
        if self.cell_timeout is not None:
            config.GuardedExecute.timeout = self.cell_timeout
        if self.notebook_timeout is not None:
            config.GuardedExecute.notebook_timeout = self.notebook_timeout
        if self.max_output_bytes is not None:
            config.GuardedExecute.max_output_bytes = self.max_output_bytes


@dataclass
class GradeJob:
    """Everything needed to grade one student's submission of one assignment."""

    assignment: str
    student: str
    notebooks: list[str]
    files: dict[str, bytes]
    template_db: bytes
    source_files: dict[str, bytes]
    config: Config
    limits: Limits = field(default_factory=Limits)
    sandbox: SandboxPolicy | None = None
    reference_notebooks: dict[str, bytes] = field(default_factory=dict)
    release_notebooks: dict[str, bytes] = field(default_factory=dict)
    intake_problems: list[dict[str, Any]] = field(default_factory=list)
    #: the student's extension on the assignment in the course's gradebook, in seconds (nbgrader's
    #: ``SubmittedAssignment.extension``); the template carries the due date, the submission its timestamp.txt
    extension_seconds: float | None = None

    @property
    def digest(self) -> str:
        return submission_digest(self.files)


@dataclass
class GradeResult:
    """What grading one submission gave: scores per graded cell, problems, the autograded files, where it ran."""

    assignment: str
    student: str
    digest: str
    status: str
    cells: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    autograded: dict[str, bytes] = field(default_factory=dict)
    timestamp: str | None = None
    penalties: dict[str, float] = field(default_factory=dict)
    device: str = ""
    worker: str = ""
    seconds: float = 0.0
    worker_peak_mb: float = 0.0
    release: str = ""
    log: str = ""
    #: wall seconds by phase (:data:`JOB_PHASES`), and the CPU seconds of the job: the worker's and its kernels'
    phases: dict[str, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(c["auto_score"] or 0 for c in self.cells) - sum(self.penalties.values())

    @property
    def max_score(self) -> float:
        return sum(c["max_score"] for c in self.cells)


def quiet_gradebook_warnings() -> None:
    """nbgrader's gradebook code trips SQLAlchemy 2's autoflush warnings; they say nothing about the grading."""
    warnings.filterwarnings("ignore", message=".*not in session.*")


def submission_digest(files: dict[str, bytes]) -> str:
    """A fingerprint of a submission's files: a newer submission of the same student is graded again."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()[:16]


def read_folder(folder: Path) -> dict[str, bytes]:
    """All regular files under ``folder`` by relative POSIX path, links never followed (checkpoints skipped)."""
    return read_tree(folder)[0]


@lru_cache(maxsize=1)
def device_description() -> str:
    """The device this worker's kernels compute on (``cnnlab.device``), with its ``CUDA_VISIBLE_DEVICES``."""
    try:
        from cnnlab.device import describe

        text = describe()
    except Exception as err:  # no torch or no cnnlab: still grade, say so
        text = f"cpu (device not detected: {type(err).__name__})"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return text if visible is None else f"{text}; CUDA_VISIBLE_DEVICES={visible}"


def _autograde_preprocessors(config: Config) -> list:
    """The course's autograde preprocessors, nbgrader's ``Execute`` replaced by ``GuardedExecute``."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    configured = config.Autograde.get("autograde_preprocessors") if "Autograde" in config else None
    chain = list(configured or Autograde.class_traits()["autograde_preprocessors"].default())
    names = {"nbgrader.preprocessors.Execute", "nbgrader.preprocessors.execute.Execute", "Execute", GUARDED_EXECUTE}
    return [GuardedExecute if (p is Execute or (isinstance(p, str) and p in names)) else p for p in chain]


def _check_notebooks(job: GradeJob, folder: Path) -> list[dict[str, Any]]:
    """Missing, unreadable and oversized notebooks (set aside, so that nbgrader scores them zero), and nbgrader
    metadata that is not the assignment's (removed): see :mod:`autograder.pipeline.prepare`."""
    problems = []
    submitted = sorted(n for n in job.files if n.endswith(".ipynb") and "/" not in n)
    releases = _references(job, job.release_notebooks)
    for name in job.notebooks:
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            others = ", ".join(submitted) or "no notebook at all"
            text = f"{name}.ipynb was not submitted (submitted: {others})"
            problems.append(dict(problem("missing_notebook", text, None), notebook=name))
            continue
        problems += prepare_notebook(path, name, releases.get(name))
    return problems


def _zero_submission(job: GradeJob, coursedir) -> None:
    """Record a submission with no gradable notebook: every graded cell scores zero (as nbgrader does)."""
    from nbgrader.api import Gradebook

    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        gb.update_or_create_student(job.student)
        gb.update_or_create_submission(job.assignment, job.student)
        for name in job.notebooks:
            for grade in gb.find_submission_notebook(name, job.assignment, job.student).grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def _give_extension(job: GradeJob, coursedir) -> None:
    """Record the student's extension in the scratch gradebook, where ``Autograde`` finds the submission."""
    from datetime import timedelta

    from nbgrader.api import Gradebook

    if not job.extension_seconds:
        return
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        gb.update_or_create_student(job.student)
        submission = gb.update_or_create_submission(job.assignment, job.student)
        submission.extension = timedelta(seconds=job.extension_seconds)
        gb.db.commit()


def _reassess_penalties(job: GradeJob, coursedir) -> None:
    """Late penalties again, on the final scores (verification may have overturned cells after nbgrader's
    ``AssignLatePenalties`` ran), with the course's plugin, as nbgrader computes them."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties

    from ..deadlines import penalties_in

    assign = AssignLatePenalties(config=job.config)
    plugin = assign.plugin_class(parent=assign)
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        penalties_in(gb, plugin, job.assignment, job.student)
        gb.db.commit()


def _read_scores(job: GradeJob, coursedir, result: GradeResult) -> None:
    """Copy the scores, auto comments, late penalties and timestamp of the scratch gradebook into ``result``."""
    from nbgrader.api import Gradebook

    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        submission = gb.find_submission(job.assignment, job.student)
        # nbgrader's gradebook keeps naive UTC: the result says so (the journal's times carry their offset)
        stamp = submission.timestamp
        result.timestamp = stamp.replace(tzinfo=timezone.utc).isoformat(" ") if stamp else None
        for name in job.notebooks:
            nb = gb.find_submission_notebook(name, job.assignment, job.student)
            if nb.late_submission_penalty:
                result.penalties[name] = float(nb.late_submission_penalty)
            for grade in nb.grades:
                result.cells.append(
                    {"notebook": name, "name": grade.name, "auto_score": grade.auto_score, "max_score": grade.max_score}
                )
            for comment in nb.comments:
                result.comments.append({"notebook": name, "name": comment.name, "auto_comment": comment.auto_comment})


#: The phases of a job, in order: :data:`~autograder.pipeline.execute.PHASES` inside nbgrader's autograding, and
#: around it the scratch course's preparation, the rest of nbgrader's own work (reading, saving, the gradebook's
#: grades and late penalties), the outside verdicts, and reading the scores and writing the autograded files.
JOB_PHASES = ("preparation", *PHASES, "nbgrader's own work", "outside verdicts", "scores and files")


def _execution_timing(autograded: Path, notebooks: list[str]) -> tuple[dict[str, float], float]:
    """Wall seconds of each execution phase, summed over the autograded notebooks, and their kernels' CPU
    seconds (as the kernels reported them)."""
    import nbformat

    seconds = dict.fromkeys(PHASES, 0.0)
    cpu = 0.0
    for name in notebooks:
        path = autograded / f"{name}.ipynb"
        if not path.exists():
            continue
        timing = nbformat.read(path, as_version=4).metadata.get(METADATA_KEY, {}).get("timing", {})
        for phase, value in timing.get("seconds", {}).items():
            if phase in seconds and isinstance(value, (int, float)):
                seconds[phase] += value
        end = timing.get("kernel_cpu", {}).get("end")
        cpu += end if isinstance(end, (int, float)) else 0.0
    return seconds, cpu


def _notebook_problems(autograded: Path, notebooks: list[str]) -> list[dict[str, Any]]:
    import nbformat

    found = []
    for name in notebooks:
        path = autograded / f"{name}.ipynb"
        if path.exists():
            nb = nbformat.read(path, as_version=4)
            found += [dict(p, notebook=name) for p in nb.metadata.get(METADATA_KEY, {}).get("problems", [])]
    return found


def _references(job: GradeJob, notebooks: dict[str, bytes] | None = None) -> dict[str, Any]:
    """The instructor's notebooks (or ``notebooks``) of the job, read; unreadable ones left out."""
    import nbformat

    found = {}
    for name, data in (job.reference_notebooks if notebooks is None else notebooks).items():
        try:
            found[name] = nbformat.reads(data.decode("utf-8"), as_version=4)
        except Exception:
            continue
    return found


def _evidence(job: GradeJob, submitted: Path) -> list[dict[str, Any]]:
    """Test cells the student changed, and code that patches the checks (flags; points are not touched)."""
    found = []
    for name, release in _references(job, job.release_notebooks).items():
        path = submitted / f"{name}.ipynb"
        if path.exists():
            found += verdicts.submission_evidence(path, verdicts.protected_cells(release), name)
    return found


def _verify(job: GradeJob, coursedir, autograded: Path, record_dir: Path, references: dict, result) -> list:
    """Judge outside the kernel the cells that earned points; overturn those whose checks fail here."""
    from nbgrader.api import Gradebook

    found = []
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        for name, reference in references.items():
            try:
                nb = gb.find_submission_notebook(name, job.assignment, job.student)
            except Exception:
                continue
            earned = {g.name for g in nb.grades if (g.auto_score or 0) > 0}
            records = verdicts.read_records(record_dir, name)
            cells = verdicts.outside_verdicts(reference, records, earned)
            distrust = [p for p in result.problems if p.get("notebook") in (name, None)]
            cells = verdicts.kernel_only_verdicts(cells, records, distrust)
            result.log += f"\n{name}: {verdicts.summary(cells)}"
            path = autograded / f"{name}.ipynb"
            found += verdicts.overturn(gb, path, name, job.assignment, job.student, cells)
    return found


def _write_problems(autograded: Path, notebooks: list[str], problems: list[dict[str, Any]]) -> None:
    """Every problem of a notebook into its autograded copy, where the feedback's banner shows it."""
    import nbformat

    for name in notebooks:
        path = autograded / f"{name}.ipynb"
        if path.exists():
            nb = nbformat.read(path, as_version=4)
            nb.metadata.setdefault(METADATA_KEY, {})["problems"] = [
                p for p in problems if p.get("notebook") in (name, None)
            ]
            rewrite_notebook(nb, path)


def grade_submission(job: GradeJob) -> GradeResult:
    """Autograde one submission in a scratch course and return its result; never raises.

    Run one job per process at a time: nbgrader's ``Autograde`` changes process-wide state (environment
    variables, the working directory), so jobs must not share a process concurrently (Dask: ``--nthreads 1``).
    """
    start, cpu = monotonic(), process_time()
    quiet_gradebook_warnings()
    result = GradeResult(
        job.assignment,
        job.student,
        job.digest,
        FAILED,
        device=device_description(),
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-") as scratch:
            _grade_in(Path(scratch), job, result)
    except Exception:
        result.status = FAILED
        result.log = (result.log + "\n" + traceback.format_exc()).strip()
    result.seconds = round(monotonic() - start, 2)
    result.cpu_seconds = round(result.cpu_seconds + process_time() - cpu, 2)
    result.worker_peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def failure_reason(log: str) -> str:
    """The last exception that nbgrader's log names, else its last line: what a TA reads when a job failed (not
    nbgrader's closing "Please see the above traceback")."""
    import re

    lines = [line.strip() for line in log.strip().splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b", line) and "NbGrader" not in line]
    return ((named or lines or ["unknown error"])[-1])[:300]


def _grade_in(root: Path, job: GradeJob, result: GradeResult) -> None:
    from nbgrader.coursedir import CourseDirectory

    from .schemas import compile_once

    compile_once()

    config = copy.deepcopy(job.config)
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.CourseDirectory.student_id = job.student
    config.CourseDirectory.assignment_id = job.assignment
    config.Autograde.autograde_preprocessors = _autograde_preprocessors(config)
    job.limits.apply(config)
    if job.sandbox is not None:
        config.GuardedExecute.kernel_manager_class = SANDBOXED_KERNELS
        config.SandboxedKernelManager.update(job.sandbox.as_config())
    else:  # --no-sandbox, and the release's validation of the instructor's own notebooks
        config.GuardedExecute.kernel_manager_class = "autograder.sandbox.kernel.GuardedKernelManager"
    coursedir = CourseDirectory(config=config)
    (root / "gradebook.db").write_bytes(job.template_db)
    with volatile(root / "gradebook.db"):  # thrown away with the scratch course: no waiting for the disk
        _grade_scratch(root, job, result, config, coursedir)


def _grade_scratch(root: Path, job: GradeJob, result: GradeResult, config: Config, coursedir: Any) -> None:
    from nbgrader.converters import Autograde
    from nbgrader.utils import capture_log

    write_tree(root / coursedir.source_directory / job.assignment, job.source_files)
    submitted = Path(coursedir.format_path(coursedir.submitted_directory, job.student, job.assignment))
    write_tree(submitted, job.files)
    _give_extension(job, coursedir)
    marks = {"start": monotonic()}

    result.problems = [*job.intake_problems, *_check_notebooks(job, submitted)]
    references = _references(job)
    replayed = [name for name, nb in references.items() if verdicts.wants_replay(nb)]
    record_dir = root / "records"
    if replayed:
        config.GuardedExecute.record_dir = str(record_dir)
    result.problems += _evidence(job, submitted)
    marks["autograde"] = monotonic()
    if any((submitted / f"{name}.ipynb").exists() for name in job.notebooks):
        app = Autograde(coursedir=coursedir, config=config, log=quiet_logger(f"autograde.{job.student}"))
        app.force = True
        app.create_student = True
        outcome = capture_log(app)
        result.log = outcome.get("log", "")
        if not outcome["success"]:
            result.log += "\n" + outcome.get("error", "")
            if KERNEL_START_FAILED in result.log:
                return  # the machine's fault, not the student's: not graded, retried by the next run
            result.problems.append(problem("ungradable", f"nbgrader could not grade it: {failure_reason(result.log)}"))
            _zero_submission(job, coursedir)
    else:
        _zero_submission(job, coursedir)
    marks["verdicts"] = monotonic()
    autograded = Path(coursedir.format_path(coursedir.autograded_directory, job.student, job.assignment))
    if autograded.is_dir():
        result.problems += _notebook_problems(autograded, job.notebooks)
    if replayed and autograded.is_dir():
        result.problems += _verify(job, coursedir, autograded, record_dir, {n: references[n] for n in replayed}, result)
    marks["scores"] = monotonic()
    _reassess_penalties(job, coursedir)
    _read_scores(job, coursedir, result)
    if autograded.is_dir():
        _write_problems(autograded, job.notebooks, result.problems)
        result.autograded = read_folder(autograded)
    marks["end"] = monotonic()
    execution, kernel_cpu = _execution_timing(autograded, job.notebooks)
    result.phases = {
        "preparation": marks["autograde"] - marks["start"],
        **execution,
        "nbgrader's own work": max(0.0, marks["verdicts"] - marks["autograde"] - sum(execution.values())),
        "outside verdicts": marks["scores"] - marks["verdicts"],
        "scores and files": marks["end"] - marks["scores"],
    }
    result.phases = {k: round(v, 3) for k, v in result.phases.items()}
    result.cpu_seconds = kernel_cpu  # the worker's own CPU time is added when the job ends
    result.status = GRADED
