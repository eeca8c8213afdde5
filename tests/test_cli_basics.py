"""The pipeline's pieces that need no kernel: GPU plans, the journal, the sandbox seam, bad input."""

from __future__ import annotations

import json
import os

import pytest

from autograder.cli import main
from autograder.course import AutograderError, Course
from autograder.pipeline import execute, workers
from autograder.pipeline.coordinator import grade
from autograder.pipeline.job import GRADED, GradeResult, Limits, failure_reason, submission_digest
from autograder.pipeline.journal import Journal
from autograder.sandbox import command as sandbox_command
from tests.support.toycourse import (
    SOLVED_ADD,
    SOLVED_MUL,
    TOY,
    cli,
    make_course,
    release_of,
    released_course,
    student_notebook,
    write_submission,
)


def test_gpu_plan_deals_gpus_round_robin_and_leaves_cpu_workers_alone():
    assert workers.gpu_plan(4, 2) == ["0", "1", "0", "1"]
    assert workers.gpu_plan(2, 2, visible="2,3") == ["2", "3"]
    assert workers.gpu_plan(3, 0) == [None, None, None]
    with pytest.raises(ValueError):
        workers.gpu_plan(0, 1)


def test_default_workers_one_per_gpu_else_one_per_core():
    assert workers.default_workers(4, n_cpus=16) == 4
    assert workers.default_workers(0, n_cpus=2) == 2


def test_worker_initializer_sets_its_own_visible_gpu(monkeypatch):
    import queue

    slots: queue.Queue = queue.Queue()
    slots.put("1")
    monkeypatch.setenv(workers.GPU_ENV, "0,1")  # restored after the test
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    workers._init_worker(slots, {"OMP_NUM_THREADS": "1"})
    assert os.environ[workers.GPU_ENV] == "1" and os.environ["OMP_NUM_THREADS"] == "1"


def test_workers_share_the_cores_out_unless_the_user_set_threads():
    assert workers.thread_env(2, n_cpus=2, environ={}) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert workers.thread_env(3, n_cpus=16, environ={}) == {"OMP_NUM_THREADS": "5", "MKL_NUM_THREADS": "5"}
    assert workers.thread_env(4, n_cpus=2, environ={"OMP_NUM_THREADS": "2"}) == {"MKL_NUM_THREADS": "1"}


def test_course_device_cpu_means_no_gpus(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert workers.count_gpus() == 0


def _result(student: str, score: float) -> GradeResult:
    cells = [{"notebook": TOY, "name": "t", "auto_score": score, "max_score": 10.0}]
    return GradeResult(TOY, student, "d" + student, GRADED, cells=cells)


def test_journal_keeps_the_latest_record_and_ignores_a_torn_line(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.append(_result("a", 3))
    journal.append(_result("b", 4))
    journal.append(_result("a", 7))
    with open(journal.path, "a") as fh:
        fh.write('{"student": "c", "dig')  # what a kill -9 in the middle of a write leaves
    latest = journal.latest()
    assert set(latest) == {"a", "b"} and latest["a"]["score"] == 7
    assert all(json.loads(line) for line in journal.path.read_text().splitlines()[:3])


def test_submission_digest_changes_with_content_or_name():
    a = submission_digest({"nb.ipynb": b"1"})
    assert a == submission_digest({"nb.ipynb": b"1"})
    assert a != submission_digest({"nb.ipynb": b"2"}) and a != submission_digest({"other.ipynb": b"1"})


def test_kernel_manager_class_is_the_one_seam(monkeypatch):
    class Sandboxed(execute.KERNEL_MANAGER_CLASS):
        pass

    assert execute.GuardedExecute().kernel_manager_class is execute.KERNEL_MANAGER_CLASS
    monkeypatch.setattr(execute, "KERNEL_MANAGER_CLASS", Sandboxed)
    assert execute.GuardedExecute().kernel_manager_class is Sandboxed
    from traitlets.config import Config

    from autograder.sandbox.manager import SandboxedKernelManager

    config = Config()  # what a grading job sets: the course's config names the sandbox's manager
    config.GuardedExecute.kernel_manager_class = "autograder.sandbox.manager.SandboxedKernelManager"
    assert execute.GuardedExecute(config=config).kernel_manager_class is SandboxedKernelManager


def test_limits_reach_the_executor_config():
    from traitlets.config import Config

    config = Config()
    Limits(cell_timeout=7, notebook_timeout=60, max_output_bytes=100).apply(config)
    ex = execute.GuardedExecute(config=config)
    assert (ex.timeout, ex.notebook_timeout, ex.max_output_bytes) == (7, 60, 100)


def test_unknown_assignment_is_named(tmp_path, capsys):
    make_course(tmp_path)
    assert main(["--course", str(tmp_path), "release", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no assignment 'nope'" in err and "toy" in err


@pytest.mark.parametrize(
    "command",
    [["grade", TOY], ["feedback", TOY], ["due", TOY], ["extend", TOY, "bob", "--hours", "2"], ["export", TOY],
     ["export", TOY, "--format", "gradescope"], ["export", TOY, "--format", "gradescope-autograder"],
     ["similarity", TOY], ["collect", TOY, "--from", "."]],
    ids=lambda c: " ".join(c[:1] + c[2:]),
)  # fmt: skip
def test_a_course_command_run_outside_a_course_says_so_and_leaves_the_folder_as_it_was(tmp_path, capsys, command):
    folder = tmp_path / "not_a_course"
    (folder / "notes").mkdir(parents=True)
    (folder / "notes" / "todo.txt").write_text("grade assignment 1")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert main(["--course", str(folder), *command]) == 2
    err = capsys.readouterr().err
    assert f"no gradebook at {folder / 'gradebook.db'}" in err and f"autograder release {TOY}" in err
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


@pytest.mark.parametrize("option", ["--cell-timeout", "--notebook-timeout", "--max-output", "--memory-mb",
                                    "--cpu-seconds", "--max-processes"])  # fmt: skip
@pytest.mark.parametrize("value", ["0", "-5", "ten"])
def test_a_limit_of_zero_or_less_or_not_a_number_is_refused_before_anything_runs(tmp_path, capsys, option, value):
    root = tmp_path  # the arguments are refused before the course is opened
    sandbox_option = option in ("--memory-mb", "--cpu-seconds", "--max-processes")  # grading's only
    for command in (["grade", TOY],) if sandbox_option else (["grade", TOY], ["release", TOY]):
        with pytest.raises(SystemExit) as stop:
            main(["--course", str(root), *command, option, value])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {option}: " in err
        assert (f"got {value!r}" if value == "ten" else "must be more than 0 ") in err
    assert not any(root.iterdir())


def test_grading_before_release_or_collect_says_what_to_run(tmp_path):
    make_course(tmp_path)
    with pytest.raises(AutograderError, match="autograder release toy"):
        grade(Course.open(tmp_path), TOY)
    released_course(tmp_path / "r")
    with pytest.raises(AutograderError, match="autograder collect toy"):
        grade(Course.open(tmp_path / "r"), TOY)
    (tmp_path / "r" / "submitted" / "ann" / TOY).mkdir(parents=True)
    with pytest.raises(AutograderError, match="no submission of 'toy' for bob"):
        grade(Course.open(tmp_path / "r"), TOY, students=["bob"])


def test_a_second_batch_on_the_same_assignment_is_refused(tmp_path):
    from autograder.pipeline.coordinator import batch_lock

    course = Course.open(make_course(tmp_path))
    with batch_lock(course, TOY):
        with pytest.raises(AutograderError, match="another `autograder grade toy` is running"):
            with batch_lock(course, TOY):
                pass


def test_grading_workflow_runs_the_cli_and_uploads_grades_and_feedback():
    import yaml

    from tests.support.toycourse import ROOT

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "grade.yml").read_text())
    steps = workflow["jobs"]["grade"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    for command in ("release", "collect", "grade", "feedback", "export"):
        assert f"python3 -m autograder {command} " in commands, command
    assert "bash setup.sh" in commands
    assert "apparmor_restrict_unprivileged_userns=0" in commands  # bubblewrap's user namespaces on the runner
    [upload] = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["if"] == "always()" and {"exports/", "feedback/"} <= set(upload["with"]["path"].split())


def _graded_notebook():
    from nbformat.v4 import new_code_cell, new_notebook

    def cell(gid: str, grade: bool) -> dict:
        meta = {"nbgrader": {"grade_id": gid, "grade": grade, "solution": not grade, "locked": grade, "points": 2}}
        return new_code_cell("x = 1", metadata=meta)

    return new_notebook(cells=[cell("f", False), cell("test_f", True), cell("g", False), cell("test_g", True)])


def test_a_stop_fails_every_graded_cell_after_it_and_keeps_earlier_points():
    from nbgrader.utils import determine_grade

    ex = execute.GuardedExecute()
    ex.nb, ex._problems = _graded_notebook(), []
    ex.nb.cells[1].outputs = []  # test_f ran and passed
    ex._stop(2, "dead_kernel", "the kernel died")
    scores = [determine_grade(c)[0] for c in ex.nb.cells if c.metadata["nbgrader"]["grade"]]
    assert scores == [2, 0]
    assert ex.nb.cells[2].outputs[0]["ename"] == "dead_kernel"
    assert "not run: the kernel died in g" in ex.nb.cells[3].outputs[0]["evalue"]
    assert ex._problems == [
        {"kind": "dead_kernel", "message": "the kernel died (in g); later cells were not run", "cell": "g"}
    ]


def test_cell_time_limit_never_outlasts_the_notebook_limit():
    from time import monotonic

    ex = execute.GuardedExecute(timeout=120)
    ex._deadline = None
    assert ex._cell_timeout(None) == 120
    ex._deadline = monotonic() + 10
    assert 9 <= ex._cell_timeout(None) <= 11
    ex._deadline = monotonic() + 500
    assert ex._cell_timeout(None) == 120


def test_outputs_over_the_limit_are_cut_but_errors_kept():
    from nbformat.v4 import new_output

    ex = execute.GuardedExecute(max_output_bytes=1000)
    ex._problems = []
    cell = _graded_notebook().cells[1]
    cell.outputs = [new_output("stream", name="stdout", text="x" * 5000), new_output("error", ename="E", evalue="v")]
    ex._limit_outputs(cell, 1)
    assert [o["output_type"] for o in cell.outputs] == ["stream", "error"]
    assert "output removed" in cell.outputs[0]["text"] and len(cell.outputs[0]["text"]) < 200
    assert ex._problems[0]["kind"] == "output_limit" and ex._problems[0]["cell"] == "test_f"


def test_a_dying_worker_pool_is_replaced_and_no_submission_is_retried_forever(tmp_path):
    """A job whose worker dies every time is scored zero and flagged after MAX_ATTEMPTS pools; a job that fails
    without its worker dying (the machine's fault) is retried by the next runs, then scored zero and flagged."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from autograder.pipeline import coordinator
    from autograder.pipeline.coordinator import journal_for
    from autograder.pipeline.job import FAILED

    root = released_course(tmp_path / "course")
    course = Course.open(root)
    pools = []

    class DyingPool:
        """Every job of student "a" kills the pool; the jobs of "b" fail without a grade."""

        def __init__(self):
            pools.append(self)

        def submit(self, fn, job):
            future = Future()
            if job == "a":
                future.set_exception(BrokenProcessPool("a worker died"))
            else:
                future.set_result(GradeResult(TOY, job, "", FAILED, log="no kernel today"))
            return future

        def shutdown(self, wait=True, cancel_futures=False):
            pass

    subs = [coordinator.Submission(s, tmp_path / s) for s in ("a", "b")]
    digests = {"a": "da", "b": "db"}
    journal = journal_for(course, TOY)

    def run() -> coordinator.BatchReport:
        report = coordinator.BatchReport(workers=1)
        coordinator._run(TOY, subs, lambda sub: sub.student, DyingPool, report, course, journal, False, digests)
        return report

    report = run()
    assert len(pools) == 1 + coordinator.MAX_ATTEMPTS  # a fresh pool after each death
    [graded] = report.graded
    assert graded["student"] == "a" and graded["score"] == 0 and graded["max_score"] > 0
    assert [p["kind"] for p in graded["problems"]] == ["grading_failed"]
    assert "worker died" in graded["problems"][0]["message"]
    assert [r.student for r in report.failed] == ["b"]  # not the student's fault: tried again next time
    assert journal.failures("b", "db") == 1 and "b" not in journal.latest()
    for _ in range(coordinator.MAX_FAILED_RUNS - 2):
        assert [r.student for r in run().failed] == ["b"]
    last = run()
    assert not last.failed and {r["student"] for r in last.graded} == {"a", "b"}
    flagged = journal.latest()["b"]
    assert flagged["score"] == 0 and flagged["problems"][0]["kind"] == "grading_failed"
    assert "no kernel today" in flagged["problems"][0]["message"]
    scores = Course.open(root)
    with scores.gradebook() as gb:
        assert gb.find_submission(TOY, "b").score == 0


def test_failure_reason_names_the_error_not_nbgraders_closing_line():
    log = (
        "Traceback (most recent call last):\n  ...\nautograder.pipeline.execute.KernelStartError: the kernel could "
        "not start: RuntimeError: Kernel died before replying to kernel_info\n[ERROR] There was an error processing "
        "assignment\nnbgrader.converters.base.NbGraderException: Please see the the above traceback for details\n"
    )
    assert failure_reason(log).endswith("the kernel could not start: RuntimeError: Kernel died before replying to "
                                        "kernel_info")  # fmt: skip
    assert failure_reason("one line\nthe last line\n") == "the last line"
    assert failure_reason("") == "unknown error"


@pytest.mark.skipif(sandbox_command.bwrap_path() is None, reason="bubblewrap is not installed")
def test_when_no_kernel_can_start_the_ta_reads_why_and_what_to_change(tmp_path):
    root = released_course(tmp_path / "course")
    write_submission(root / "submitted" / "ann" / TOY, student_notebook(release_of(root), SOLVED_ADD, SOLVED_MUL))
    run = cli("grade", TOY, "--workers", "1", "--no-progress", "--memory-mb", "20", course=root, check=False)
    assert run.returncode == 1
    assert "ann: NOT GRADED (" in run.stdout and "the kernel could not start" in run.stdout
    assert "Please see the" not in run.stdout
    assert "No kernel could start" in run.stderr and "--memory-mb" in run.stderr
    [record] = [json.loads(line) for line in (root / ".autograder" / f"{TOY}.jsonl").read_text().splitlines()]
    assert record["status"] == "failed" and "the kernel could not start" in record["error"]
