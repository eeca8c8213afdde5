"""The coordinator of a grading batch: finds submissions, runs jobs through an executor, records results.

It is the only process that writes the course (autograded files, gradebook, journal); workers grade in
scratch courses. A batch holds a lock per assignment, so two batches never write at once; it can be
stopped at any point and run again (see :mod:`autograder.pipeline.journal`).
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..course import AutograderError, Course
from ..deadlines import extension_seconds
from ..sandbox import SandboxPolicy, SandboxUnavailable, check_sandbox
from .files import SUBMISSION_LIMITS, read_tree
from .gradebook import assignment_template, record_result
from .job import (
    GRADED,
    GradeJob,
    GradeResult,
    Limits,
    failure_reason,
    grade_submission,
    read_folder,
    submission_digest,
)
from .journal import Journal
from .workers import InlineExecutor, count_gpus, dask_executor, default_workers, local_executor

#: The limits of student kernels unless the TA sets others (``autograder grade --memory-mb ...``).
DEFAULT_SANDBOX = SandboxPolicy()

#: How often a job is tried in one batch when its worker process dies under it.
MAX_ATTEMPTS = 3
#: How many runs may fail to grade a submission before it is scored zero, flagged ``grading_failed``.
MAX_FAILED_RUNS = 3


@dataclass
class Submission:
    """A student's collected submission folder (``submitted/<student>/<assignment>``)."""

    student: str
    folder: Path

    def read(self, first: tuple[str, ...] = ()) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
        """The submission's regular files (links never followed, within bounds) and the problems met."""
        return read_tree(self.folder, SUBMISSION_LIMITS, first)

    def files(self) -> dict[str, bytes]:
        return self.read()[0]


@dataclass
class BatchReport:
    """What a batch did: the journal records of graded students, students skipped, failed results."""

    graded: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    failed: list[GradeResult] = field(default_factory=list)
    workers: int = 0
    where: str = ""
    sandbox: str = ""


def release_digest(course: Course, assignment: str) -> str:
    """A fingerprint of what grades ``assignment``: its instructor notebooks and files (tests, hidden tests) and its
    release. Grades recorded under another fingerprint are stale and graded again."""
    source = read_folder(course.directory("source") / assignment)
    release = read_folder(course.directory("release") / assignment)
    return submission_digest({**{f"source/{k}": v for k, v in source.items()},
                              **{f"release/{k}": v for k, v in release.items()}})  # fmt: skip


def find_submissions(course: Course, assignment: str, students: list[str] | None = None) -> list[Submission]:
    """Collected submissions of ``assignment``, optionally only ``students``; clear errors when there are none."""
    coursedir = course.coursedir()
    root = course.directory("submitted")
    if not root.is_dir():
        raise AutograderError(
            f"no submissions: {root} does not exist; run `autograder collect {assignment} --from ...` first"
        )
    found = {}
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        folder = Path(coursedir.format_path(coursedir.submitted_directory, student_dir.name, assignment))
        if folder.is_dir() and not folder.is_symlink():
            found[student_dir.name] = Submission(student_dir.name, folder)
    if students:
        unknown = sorted(set(students) - set(found))
        if unknown:
            raise AutograderError(
                f"no submission of {assignment!r} for {', '.join(unknown)} in {root} "
                f"(students with one: {', '.join(found) or 'none'})"
            )
        found = {s: found[s] for s in students}
    if not found:
        raise AutograderError(f"no submissions of {assignment!r} in {root}/<student>/{assignment}/")
    return list(found.values())


@contextmanager
def batch_lock(course: Course, assignment: str) -> Iterator[None]:
    """Hold the assignment's grading lock; another batch on the same assignment is refused, not interleaved."""
    path = course.state_dir / f"{assignment}.lock"
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AutograderError(f"another `autograder grade {assignment}` is running in {course.root}") from None
        fh.write(str(os.getpid()))
        fh.flush()
        yield


def describe_sandbox(sandbox: SandboxPolicy | None) -> str:
    """The sandbox in words for the report; raises ``AutograderError`` when bubblewrap cannot be used."""
    if sandbox is None:
        return "NONE (--no-sandbox): student code ran unconfined, with the grader's rights"
    try:
        version = check_sandbox()
    except SandboxUnavailable as err:
        raise AutograderError(f"{err}. To grade without a sandbox anyway, pass --no-sandbox.") from None
    shared = (
        "; shares the trainability cache AUTOGRADER_CACHE (trusted runs only)"
        if os.environ.get("AUTOGRADER_CACHE")
        else ""
    )
    from ..sandbox import forkclient

    forked = "; kernels forked from a fork server" if sandbox.fork_server and forkclient.available() else ""
    return f"{version}; {sandbox.describe()}{forked}{shared}"


def journal_for(course: Course, assignment: str) -> Journal:
    return Journal(course.state_dir / f"{assignment}.jsonl")


def summarize(result: GradeResult) -> str:
    """One line for the console: the student, the score, the device, and what went wrong."""
    if result.status != GRADED:
        tail = failure_reason(result.log)
        return f"{result.student}: NOT GRADED ({tail}); it will be retried on the next run"
    text = f"{result.student}: {result.score:g}/{result.max_score:g} in {result.seconds:.0f} s on {result.device}"
    for p in result.problems:
        text += f"\n    flagged {p['kind']}: {p['message']}"
    return text


def grade(
    course: Course,
    assignment: str,
    *,
    workers: int | None = None,
    students: list[str] | None = None,
    force: bool = False,
    scheduler: str | None = None,
    resources: dict[str, float] | None = None,
    limits: Limits | None = None,
    sandbox: SandboxPolicy | None = DEFAULT_SANDBOX,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> BatchReport:
    """Autograde the collected submissions of ``assignment``; see ``autograder grade --help``.

    Student kernels run in the bubblewrap sandbox with the limits of ``sandbox``; ``None`` (``--no-sandbox``)
    runs them unconfined, which the report says. A missing or unusable bubblewrap is an error, not a silent
    fallback.
    """
    if workers is not None and workers < 0:
        raise AutograderError(f"--workers must be 0 (this process) or more, got {workers}")
    sandbox_text = describe_sandbox(sandbox)
    notebooks = course.released_notebooks(assignment)
    submissions = find_submissions(course, assignment, students)
    report = BatchReport(sandbox=sandbox_text)
    with batch_lock(course, assignment):
        journal = journal_for(course, assignment)
        latest = journal.latest()
        release = release_digest(course, assignment)
        todo, digests = [], {}
        for sub in submissions:
            digests[sub.student] = submission_digest(sub.files())
            record = latest.get(sub.student, {})
            if force or record.get("digest") != digests[sub.student]:
                todo.append(sub)
            elif record.get("release", release) != release:  # graded against an earlier release: stale
                report.stale.append(sub.student)
                todo.append(sub)
            else:
                report.skipped.append(sub.student)
        say = echo or print
        if report.skipped:
            say(f"skipping {len(report.skipped)} already graded (use --force to grade again)")
        if report.stale:
            say(
                f"grading again {len(report.stale)} graded against an earlier release of {assignment} "
                f"(its notebooks or tests changed since): {', '.join(report.stale)}"
            )
        if not todo:
            return report
        template = assignment_template(course, assignment)
        source = read_folder(course.directory("source") / assignment)
        others = {name: data for name, data in source.items() if not name.endswith(".ipynb")}
        references = {name: source[f"{name}.ipynb"] for name in notebooks if f"{name}.ipynb" in source}
        released = course.directory("release") / assignment
        releases = {n: (released / f"{n}.ipynb").read_bytes() for n in notebooks if (released / f"{n}.ipynb").is_file()}
        limits = limits or Limits()
        extensions = extension_seconds(course, assignment)

        def make_job(sub: Submission) -> GradeJob:
            files, problems = sub.read(first=tuple(f"{n}.ipynb" for n in notebooks))
            return GradeJob(
                assignment, sub.student, notebooks, files, template, others, course.config, limits, sandbox,
                references, releases, problems, extensions.get(sub.student),
            )  # fmt: skip

        if scheduler:
            executor, client = dask_executor(scheduler, resources)
            report.workers = max(1, sum(client.nthreads().values()))
            report.where = f"Dask cluster {scheduler} ({report.workers} threads)"
            factory: Callable[[], Executor] = lambda: executor  # noqa: E731
        else:
            client = None
            if workers == 0:
                report.workers, report.where = 1, "this process (--workers 0)"
                factory = InlineExecutor
            else:
                n_gpus = count_gpus()
                report.workers = min(workers or default_workers(n_gpus), len(todo))
                report.where = f"{report.workers} local worker process(es)" + (
                    f", {n_gpus} GPU(s)" if n_gpus else ", CPU"
                )
                factory = lambda: local_executor(report.workers, n_gpus)  # noqa: E731
        say(f"grading {len(todo)} submission(s) of {assignment} on {report.where}")
        say(f"sandbox: {report.sandbox}")
        try:
            _run(assignment, todo, make_job, factory, report, course, journal, progress, digests, release)
        finally:
            if client is not None:
                client.close()
    return report


def _run(assignment, todo, make_job, factory, report, course, journal, progress, digests, release="") -> None:
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="submission", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    executor = factory()
    queue = deque(todo)
    inflight: dict[Any, Submission] = {}
    attempts: Counter[str] = Counter()
    try:
        while queue or inflight:
            while queue and len(inflight) < 2 * report.workers:
                sub = queue.popleft()
                inflight[executor.submit(grade_submission, make_job(sub))] = sub
            finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                sub = inflight.pop(future)
                try:
                    result = future.result()
                except Exception as err:  # the worker process died under the job, or the cluster lost it
                    broken |= isinstance(err, BrokenProcessPool)
                    attempts[sub.student] += 1
                    if attempts[sub.student] < MAX_ATTEMPTS:
                        queue.append(sub)
                        continue
                    why = f"the grading worker died {MAX_ATTEMPTS} times while grading it ({err!r})"
                    result = _given_up(course, assignment, sub, digests[sub.student], why)
                if result.status != GRADED:
                    failures = journal.failures(sub.student, digests[sub.student]) + 1
                    if failures >= MAX_FAILED_RUNS:
                        tail = failure_reason(result.log)
                        why = f"{failures} runs could not grade it (last: {tail[:300]})"
                        result = _given_up(course, assignment, sub, digests[sub.student], why)
                if result.status == GRADED:
                    result.release = release
                    record_result(course, result)
                    report.graded.append(journal.append(result))
                else:
                    journal.append_failure(result, digests[sub.student])
                    report.failed.append(result)
                bar.update(1)
                bar.set_postfix_str(sub.student)
                tqdm.write(summarize(result), file=sys.stdout)
            if broken:
                for future, sub in list(inflight.items()):  # their worker pool is gone too
                    future.cancel()
                    queue.append(sub)
                inflight.clear()
                _shutdown(executor, wait=False)
                executor = factory()
    finally:
        bar.close()
        _shutdown(executor, wait=True)


def _given_up(course: Course, assignment: str, sub: Submission, digest: str, why: str) -> GradeResult:
    """A submission the grader could not grade, however often it tried: every graded cell scores zero, and the
    flag ``grading_failed`` says why (fix the cause, then ``autograder grade --force --student ...``)."""
    from .execute import problem

    result = GradeResult(assignment, sub.student, digest, GRADED)
    with course.gradebook(assignment) as gb:
        for nb in gb.find_assignment(assignment).notebooks:
            for cell in nb.grade_cells:
                result.cells.append({"notebook": nb.name, "name": cell.name, "auto_score": 0.0,
                                     "max_score": cell.max_score})  # fmt: skip
    text = f"not graded: {why}; every cell scores 0 until it is graded again (--force)"
    result.problems.append(problem("grading_failed", text))
    return result


def _shutdown(executor: Executor, wait: bool) -> None:
    """Stop an executor, cancelling what has not started (Dask's executor has no ``cancel_futures``)."""
    try:
        executor.shutdown(wait=wait, cancel_futures=True)
    except TypeError:
        executor.shutdown(wait=wait)
