"""Grading benchmarks of ``python -m bench``: throughput against sequential nbgrader, and scaling.

Submissions are the instructor's solution (Assignments 1 and 3, and Assignment 2 when asked), in one
temporary course. Throughput compares plain ``nbgrader autograde`` (the command a TA would otherwise run: stock
nbgrader settings, sequential, no sandbox, no outside verdicts) with ``autograder grade`` on 1 and 2 workers, and
breaks one job down into its phases (kernel start, setup cells such as imports, the student's cells, the test
cells, nbgrader's own work, the outside verdicts, scores and files) with its CPU seconds, from the journal.
The sandbox's overhead comes from single jobs graded with and without it in alternating order (sandboxed
first, then bare first, …), so that drift on the machine cancels. Scaling grades 1, 4, 16 (… 64) submissions on
2 workers and fits a line: grading should be linear in the number of submissions.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from autograder.course import Course as GradingCourse
from autograder.pipeline.coordinator import grade, journal_for
from autograder.sandbox import SandboxPolicy
from bench.suite import Measured, PeakMemory, Row, Section, save_plot

#: Seconds one submission may take to grade on a 2-core CPU (the assignments' issues state them).
PER_SUBMISSION_TARGET_S = {"02_unet": 60, "03_architectures": 120, "04_visualization": 120}
#: CPU seconds one submission may cost (the grading process's and its kernel's), and the throughput on 2 workers
#: against sequential plain nbgrader that the project aims at, for the NumPy-light assignments.
CPU_TARGET_S = {"01_layers": 4.0, "04_visualization": 5.0}
THROUGHPUT_TARGET = {"01_layers": 3.0, "04_visualization": 3.0}
#: nbgrader's settings for the baseline: the course's folders and cell time limit, nothing of ours.
PLAIN_CONFIG = """c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.Execute.timeout = 300
"""
#: Rounds of single jobs (one of each of :data:`ARMS`, the order rotating) behind the sandbox-overhead and fork
#: server ratios. Two rounds, or whole runs in a fixed order, gave ratios from 1.01 to 1.12 for the same code on
#: the same machine.
OVERHEAD_ROUNDS = 4


def make_course(root: Path, counts: dict[str, int]) -> GradingCourse:
    """A course with each assignment released and ``counts[assignment]`` copies of the instructor's solution."""
    from tests.support.nbcourse import Course, make_submission

    course = Course(root, list(counts))
    for assignment, count in counts.items():
        course.nbgrader("generate_assignment", assignment, "--force")
        release = root / "assignments" / assignment / f"{assignment}.ipynb"
        nb = make_submission(release, assignment, assignment)
        for i in range(count):
            course.submit(f"s{i:03d}", assignment, assignment, nb)
    return GradingCourse.open(root)


def _ours(course: GradingCourse, assignment: str, workers: int, sandbox: SandboxPolicy | None,
          students: list[str] | None = None) -> dict:  # fmt: skip
    with PeakMemory() as memory:
        start = time.perf_counter()
        report = grade(course, assignment, workers=workers, force=True, students=students, sandbox=sandbox,
                       progress=False, echo=lambda _: None)  # fmt: skip
        wall = time.perf_counter() - start
    if report.failed:
        raise RuntimeError(f"grading failed: {[r.log[-500:] for r in report.failed]}")
    latest = journal_for(course, assignment).latest()
    records = [latest[r["student"]] for r in report.graded]
    return {"wall": wall, "jobs": Measured(tuple(r["seconds"] for r in records)),
            "cpu": Measured(tuple(r.get("cpu_seconds", 0.0) for r in records)),
            "phases": [r.get("phases", {}) for r in records],
            "peak_worker_mib": memory.peak_process / 2**20, "n": len(report.graded)}  # fmt: skip


def plain_course(root: Path) -> Path:
    """A copy of the course beside it, configured as plain nbgrader (:data:`PLAIN_CONFIG`)."""
    plain = root.with_name(root.name + "-plain-nbgrader")
    shutil.rmtree(plain, ignore_errors=True)
    plain.mkdir(parents=True)
    for name in ("solutions", "assignments", "submitted", "gradebook.db"):
        source = root / name
        if source.is_dir():
            shutil.copytree(source, plain / name)
        elif source.exists():
            shutil.copy2(source, plain / name)
    (plain / "nbgrader_config.py").write_text(PLAIN_CONFIG.format(root=str(plain)))
    return plain


def _nbgrader(root: Path, assignment: str) -> float:
    """Wall seconds of plain ``nbgrader autograde`` of every submission, in a copy of the course."""
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"],
                         cwd=plain_course(root), capture_output=True, text=True)  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"nbgrader autograde failed:\n{run.stderr[-2000:]}")
    return time.perf_counter() - start


def phase_lines(assignment: str, phases: list[dict[str, float]], cpu: Measured) -> list[str]:
    """One table row per phase of a job: the median over the jobs, and its share of the job."""
    from autograder.pipeline.job import JOB_PHASES

    medians = {name: statistics.median([p.get(name, 0.0) for p in phases]) for name in JOB_PHASES}
    total = sum(medians.values()) or 1.0
    lines = [
        f"| {assignment} | {name} | {medians[name]:.2f} | {100 * medians[name] / total:.0f}% |" for name in JOB_PHASES
    ]
    return lines + [f"| {assignment} | **CPU of the job** (worker and kernel) | {cpu.median:.2f} | |"]


#: The ways one job is graded in the alternating rounds: sandboxed with kernels forked from the fork server,
#: sandboxed with a fresh Python per kernel (one bubblewrap each), and without a sandbox.
ARMS = {
    "forked": SandboxPolicy(),
    "sandboxed": SandboxPolicy(fork_server=False),
    "bare": None,
}


def overhead_jobs(
    course: GradingCourse, assignment: str, n: int, rounds: int = OVERHEAD_ROUNDS
) -> dict[str, dict[str, list[float]]]:
    """Seconds and CPU seconds of ``rounds`` single jobs of each of :data:`ARMS`, the order rotating by
    round so that drift on the machine cancels.

    Each job grades one submission on one worker (``s000``, ``s001``, … in turn, from the ``n`` there are); a
    job's seconds are its own (kernel start to scores), not the worker pool's start (nor the fork server's).
    """
    jobs: dict[str, dict[str, list[float]]] = {name: {"seconds": [], "cpu": []} for name in ARMS}
    names = list(ARMS)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            run = _ours(course, assignment, 1, ARMS[name], [f"s{i % n:03d}"])
            jobs[name]["seconds"] += run["jobs"].values
            jobs[name]["cpu"] += run["cpu"].values
    return jobs


def fork_server_start(course: GradingCourse, assignment: str) -> float | None:
    """CPU seconds of starting the fork server for ``assignment``'s kernels (once per worker), or ``None`` where
    it does not serve (not root)."""
    import nbformat
    import psutil

    from autograder.pipeline.execute import preload_for
    from autograder.sandbox import forkclient
    from autograder.sandbox.kernel import kernel_env
    from autograder.sandbox.manager import env_inside, fork_server_argv

    if not forkclient.available():
        return None
    nb = nbformat.read(course.root / "assignments" / assignment / f"{assignment}.ipynb", as_version=4)
    env = forkclient.server_env(env_inside(kernel_env()))
    server = forkclient.ForkServer(fork_server_argv(SandboxPolicy()), env, preload_for(nb))
    try:
        tree = [psutil.Process(server.process.pid), *psutil.Process(server.process.pid).children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in tree)
    finally:
        server.close()


def throughput_section(root: Path, counts: dict[str, int], rounds: int = OVERHEAD_ROUNDS) -> Section:
    """Seconds per submission: sequential nbgrader, ours on 1 and 2 workers; the sandbox's overhead per job."""
    course = make_course(root, counts)
    section = Section("grading", "Grading throughput: `autograder grade` against sequential `nbgrader autograde`")
    profile = ["| assignment | phase of one job (1 worker) | s, median | share |", "| --- | --- | --- | --- |"]
    section.lines = [
        "| assignment | how | submissions | wall s | s / submission | per job s, median (min–max) | "
        "peak memory per worker MiB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for assignment, n in counts.items():
        if n == 0:
            continue
        base = _nbgrader(root, assignment)
        section.lines.append(
            f"| {assignment} | nbgrader autograde (sequential) | {n} | {base:.0f} | {base / n:.1f} | | |"
        )
        runs = {}
        for label, workers in (("autograder, 1 worker", 1), ("autograder, 2 workers", 2)):
            if workers > n:  # a second worker would have nothing to grade
                continue
            r = runs[label] = _ours(course, assignment, workers, SandboxPolicy())
            section.lines.append(
                f"| {assignment} | {label} | {n} | {r['wall']:.0f} | {r['wall'] / n:.1f} | {r['jobs'].text('.1f')} | "
                f"{r['peak_worker_mib']:.0f} |"
            )
        if "autograder, 2 workers" in runs:
            two = runs["autograder, 2 workers"]["wall"]
            section.rows.append(
                Row(f"grading {assignment}, s / submission", f"{two / n:.1f} (2 workers)", f"nbgrader {base / n:.1f}",
                    base / two, "nbgrader / ours (speed-up)", "", None)
            )  # fmt: skip
        single = runs["autograder, 1 worker"]
        profile += phase_lines(assignment, single["phases"], single["cpu"])
        if assignment in CPU_TARGET_S:
            limit = CPU_TARGET_S[assignment]
            section.rows.append(
                Row(f"CPU of one {assignment} submission, s", f"{single['cpu'].median:.1f}", f"target {limit:g}",
                    single["cpu"].median / limit, "ours / target", f"≤ {limit:g} s", single["cpu"].median <= limit)
            )  # fmt: skip
        if assignment in THROUGHPUT_TARGET and "autograder, 2 workers" in runs:
            speedup = base / runs["autograder, 2 workers"]["wall"]
            goal = THROUGHPUT_TARGET[assignment]
            section.rows.append(
                Row(f"throughput {assignment} on 2 workers", f"{n / runs['autograder, 2 workers']['wall']:.2f} / s",
                    f"plain nbgrader {n / base:.2f} / s", speedup, "ours / nbgrader", f"≥ {goal:g}×",
                    speedup >= goal)
            )  # fmt: skip
        one = single["jobs"]
        limit = PER_SUBMISSION_TARGET_S.get(assignment)
        section.rows.append(
            Row(f"grading one {assignment} submission, s", f"{one.median:.0f} (1 worker, sandboxed)",
                f"nbgrader {base / n:.0f}", base / n / one.median, "nbgrader / ours",
                f"< {limit} s" if limit else "", one.median < limit if limit else None)
        )  # fmt: skip
        jobs = overhead_jobs(course, assignment, n, rounds)
        labels = {"forked": "sandboxed, forked kernels", "sandboxed": "sandboxed, --no-fork-server",
                  "bare": "--no-sandbox"}  # fmt: skip
        for name, label in labels.items():
            measured, cpu = Measured(tuple(jobs[name]["seconds"])), Measured(tuple(jobs[name]["cpu"]))
            section.lines.append(
                f"| {assignment} | one job at a time, {label} (rotating order) | {len(measured.values)} | | | "
                f"{measured.text('.1f')}; CPU {cpu.text('.1f')} | |"
            )
        sandboxed, bare = statistics.median(jobs["sandboxed"]["seconds"]), statistics.median(jobs["bare"]["seconds"])
        section.rows.append(
            Row(f"sandbox overhead, {assignment}", f"{sandboxed:.1f} s / job", f"{bare:.1f} s unsandboxed",
                sandboxed / bare, "sandboxed / not", "< 1.10", sandboxed / bare < 1.10)
        )  # fmt: skip
        forked_cpu, own_cpu = (statistics.median(jobs[k]["cpu"]) for k in ("forked", "sandboxed"))
        section.rows.append(
            Row(f"fork server, CPU of one {assignment} job", f"{forked_cpu:.1f} s forked",
                f"{own_cpu:.1f} s own Python", forked_cpu / own_cpu, "forked / own Python", "", None)
        )  # fmt: skip
        start = fork_server_start(course, assignment)
        if start is not None:
            section.lines.append(
                f"| {assignment} | fork server start, CPU s (once per worker and assignment) | | {start:.1f} | | | |"
            )
        section.data[assignment] = {
            k: {"wall": v["wall"], "jobs": v["jobs"].values, "cpu": v["cpu"].values, "phases": v["phases"]}
            for k, v in runs.items()
        }
        section.data[assignment]["overhead_jobs"] = jobs
        section.data[assignment]["nbgrader"] = base
    section.lines += [
        "",
        "Ours includes the sandbox and, for Assignment 1, the outside verdicts; nbgrader runs neither (it runs "
        "with stock settings in a copy of the course). Per-job seconds are each job's own time (kernel start to "
        "scores); wall time includes the worker pool's start.",
        "",
        "Where one job's time goes (wall seconds; the CPU row adds the grading worker's and the kernel's CPU time, "
        "as the kernel reports it):",
        "",
        *profile,
    ]
    return section


def scaling_section(root: Path, counts: list[int], out: Path) -> Section:
    """Wall time to grade 1, 4, 16, … Assignment 1 submissions on 2 workers, a line fitted through it."""
    course = make_course(root, {"01_layers": max(counts)})
    section = Section("scaling", "Grading time against the number of submissions (Assignment 1, 2 workers)")
    section.lines = ["| submissions | wall s | s / submission |", "| --- | --- | --- |"]
    walls = []
    for n in counts:
        wall = _ours(course, "01_layers", 2, SandboxPolicy(), [f"s{i:03d}" for i in range(n)])["wall"]
        walls.append(wall)
        section.lines.append(f"| {n} | {wall:.0f} | {wall / n:.1f} |")
    slope, intercept = statistics.linear_regression(counts, walls)
    fitted = [intercept + slope * n for n in counts]
    mean = statistics.fmean(walls)
    r2 = 1 - sum((w - f) ** 2 for w, f in zip(walls, fitted)) / max(sum((w - mean) ** 2 for w in walls), 1e-12)
    section.lines += ["", f"Fit: {slope:.2f} s per submission + {intercept:.1f} s fixed; R² = {r2:.3f}."]
    section.rows.append(
        Row("grading scales linearly", f"R² {r2:.3f}, {slope:.1f} s / submission", "a straight line", r2,
            "R² of the linear fit", "R² ≥ 0.98", r2 >= 0.98)
    )  # fmt: skip
    section.data = {"counts": counts, "walls": walls, "slope": slope, "intercept": intercept, "r2": r2}
    curves = [(counts, walls, "o", "measured"), (counts, fitted, "-", f"{slope:.1f} s/submission + {intercept:.0f} s")]
    save_plot(out / "grading_scaling.png", curves, "submissions", "wall time (s)")
    section.plots.append("grading_scaling.png")
    return section
