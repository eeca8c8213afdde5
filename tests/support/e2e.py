"""What every assignment's end-to-end test asserts about its graded course, in one place.

Each ``tests/test_assignment_NN.py`` grades one temporary course (instructor, blank, typical mistakes) and calls
these for its own assignment; what differs between assignments (their extra submissions and checks) stays there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .nbcourse import ROOT, Course, Mistake, hidden_test_lines, leaked_solution_lines, notebook_cells, visible_text


@dataclass(frozen=True)
class EndToEnd:
    """One assignment's release and grading, checked: ``hidden_marker`` is text only its hidden tests contain."""

    assignment: str
    notebook: str
    hidden_marker: str

    @property
    def committed_release(self) -> Path:
        return ROOT / "assignments" / self.assignment / f"{self.notebook}.ipynb"

    def feedback_text(self, course: Course, student: str) -> str:
        path = course.root / "feedback" / student / self.assignment / f"{self.notebook}.html"
        return visible_text(path.read_text())

    def assert_release_up_to_date(self, course: Course) -> None:
        fresh = course.root / "assignments" / self.assignment / f"{self.notebook}.ipynb"
        assert notebook_cells(self.committed_release) == notebook_cells(fresh), (
            f"assignments/{self.assignment} is stale: run `nbgrader generate_assignment {self.assignment} --force` "
            "and commit it"
        )

    def assert_release_hides_solutions(self) -> None:
        text = self.committed_release.read_text()
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "hidden=True", self.hidden_marker):
            assert marker not in text
        assert not leaked_solution_lines(self.committed_release, self.assignment, self.notebook)

    def assert_points_add_up_to_100(self) -> None:
        points = [meta.get("points", 0) for _, _, meta in notebook_cells(self.committed_release) if meta.get("grade")]
        assert sum(points) == 100 and all(p > 0 for p in points)

    def scores(self, course: Course, student: str) -> dict[str, float]:
        return course.scores(self.assignment, self.notebook)[student]

    def assert_full_marks(self, course: Course, student: str = "instructor") -> None:
        scores = self.scores(course, student)
        lost = {k: v for k, v in scores.items() if not v}
        assert not lost and sum(scores.values()) == 100

    def assert_zero(self, course: Course, student: str = "blank") -> None:
        assert sum(v or 0 for v in self.scores(course, student).values()) == 0

    def assert_mistake_named(self, course: Course, mistake: Mistake) -> None:
        """The mistake loses exactly its cells (and maybe those it may cost), not all, and feedback names it."""
        scores = self.scores(course, mistake.name)
        failed = {cell for cell, points in scores.items() if not points}
        assert mistake.failing <= failed <= mistake.failing | mistake.may_fail, sorted(failed)
        assert 0 < sum(v or 0 for v in scores.values()) < 100
        assert mistake.phrase in self.feedback_text(course, mistake.name)

    def assert_same_points_on_the_gpu(self, cpu: Course, gpu: Course) -> None:
        """Every student graded in ``gpu`` was graded on a CUDA device and earned, cell by cell, the points the
        same submission earned in ``cpu``, where it was graded on the CPU (the thresholds were set there)."""
        devices = {student: record["device"] for student, record in gpu.journal(self.assignment).items()}
        assert devices and all(d.startswith("cuda") for d in devices.values()), devices
        reference = {student: record["device"] for student, record in cpu.journal(self.assignment).items()}
        assert all(d.startswith("cpu") for d in reference.values()), reference
        on_cpu, on_gpu = cpu.scores(self.assignment, self.notebook), gpu.scores(self.assignment, self.notebook)
        differ = {
            f"{student}/{cell}": (on_cpu[student].get(cell), points)
            for student in on_gpu
            for cell, points in on_gpu[student].items()
            if on_cpu[student].get(cell) != points
        }
        assert set(on_gpu) == set(devices) <= set(on_cpu), (sorted(on_gpu), sorted(devices), sorted(on_cpu))
        assert not differ, f"points (cpu, gpu) that differ: {differ}"

    def assert_feedback_hides_hidden_tests(self, course: Course) -> None:
        hidden = hidden_test_lines(course.root / "solutions" / self.assignment / f"{self.notebook}.ipynb")
        assert hidden
        for html_path in (course.root / "feedback").rglob("*.html"):
            text = visible_text(html_path.read_text())
            assert "BEGIN HIDDEN TESTS" not in text
            shown = [line for line in hidden if line in text]
            assert not shown, f"{html_path.parent.parent.name}: hidden test lines in feedback: {shown[:2]}"
