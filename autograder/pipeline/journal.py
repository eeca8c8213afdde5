"""The grading journal: one JSON line per graded submission, appended durably by the coordinator.

A line is written (and fsync'ed) only after the result is in the gradebook, so a student in the journal is
finished; a batch stopped at any point, even by ``kill -9``, resumes by skipping the students whose latest
line matches their current submission. A line cut short by a crash is ignored, and that student graded again:
gradebook writes set scores, they never add, so nothing is counted twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .job import FAILED, GRADED, GradeResult, failure_reason


class Journal:
    """Append-only record of the results of one assignment's grading (``<course>/.autograder/<id>.jsonl``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[dict[str, Any]]:
        """Every complete line, oldest first."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a crash: that student is simply graded again
        return out

    def latest(self) -> dict[str, dict[str, Any]]:
        """The latest grading of each student (lines of failed attempts are not gradings)."""
        return {r["student"]: r for r in self.records() if r.get("status", GRADED) == GRADED}

    def failures(self, student: str, digest: str) -> int:
        """How many runs failed to grade this submission (``digest``) of ``student`` since it was last graded."""
        count = 0
        for r in self.records():
            if r.get("student") != student:
                continue
            if r.get("status", GRADED) == GRADED:
                count = 0
            elif r.get("digest") == digest:
                count += 1
        return count

    def append_failure(self, result: GradeResult, digest: str) -> dict[str, Any]:
        """Durably note that a run could not grade ``result``'s submission (it is retried, a few times)."""
        tail = failure_reason(result.log)
        record = {"student": result.student, "assignment": result.assignment, "digest": digest,
                  "status": FAILED, "error": tail[:500]}  # fmt: skip
        self._write(record)
        return record

    def append(self, result: GradeResult) -> dict[str, Any]:
        """Durably append the record of ``result`` (call after the gradebook commit)."""
        record = {
            "student": result.student,
            "assignment": result.assignment,
            "digest": result.digest,
            "release": result.release,
            "score": round(result.score, 4),
            "max_score": result.max_score,
            "problems": result.problems,
            "device": result.device,
            "worker": result.worker,
            "seconds": result.seconds,
            "cpu_seconds": result.cpu_seconds,
            "phases": result.phases,
            "worker_peak_mb": result.worker_peak_mb,
            "timestamp": result.timestamp,
        }
        self._write(record)
        return record

    def _write(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
