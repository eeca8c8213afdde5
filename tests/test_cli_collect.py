"""``autograder collect``: from a folder and from an LMS zip; nothing dropped, the newest wins, older kept."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from autograder.collect import collect
from autograder.course import AutograderError, Course
from tests.support.toycourse import SOLVED_ADD, SOLVED_MUL, TOY, release_of, released_course, student_notebook


@pytest.fixture
def course(tmp_path) -> Course:
    return Course.open(released_course(tmp_path / "course"))


def _nb(course: Course, mul: str = SOLVED_MUL) -> str:
    return json.dumps(student_notebook(release_of(course.root), SOLVED_ADD, mul))


def _submitted(course: Course, student: str) -> Path:
    return course.root / "submitted" / student / TOY / f"{TOY}.ipynb"


def test_collect_from_an_lms_zip(course, tmp_path):
    old, new = _nb(course, "def mul(a, b):\n    return 0\n"), _nb(course)
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("ada_12345_67890_toy.ipynb", (2024, 1, 1, 10, 0, 0)), old)
        zf.writestr(zipfile.ZipInfo("ada_12345_67999_toy-1.ipynb", (2024, 1, 2, 10, 0, 0)), new)
        zf.writestr(zipfile.ZipInfo("Grace Hopper_222_assignsubmission_file_toy.ipynb", (2024, 1, 1, 9, 0, 0)), new)
        zf.writestr(zipfile.ZipInfo("toy_alan_attempt_2024-01-03-10-00-00_toy.ipynb", (2024, 1, 1, 0, 0, 0)), new)
        zf.writestr(zipfile.ZipInfo("toy_alan_attempt_2024-01-01-10-00-00_toy.ipynb", (2024, 1, 9, 0, 0, 0)), old)
        zf.writestr(zipfile.ZipInfo("bob_1_2_Toy (1).ipynb", (2024, 1, 1, 10, 0, 0)), new)
        zf.writestr(zipfile.ZipInfo("README.txt", (2024, 1, 1, 10, 0, 0)), "notes")
    report = collect(course, TOY, archive)
    assert sorted(c.student for c in report.collected) == ["ada", "alan", "grace_hopper"]
    # the newest submission wins: Canvas by its later upload, Blackboard by the attempt time in the name
    assert _submitted(course, "ada").read_text() == new and _submitted(course, "alan").read_text() == new
    assert (course.root / "submitted" / "alan" / TOY / "timestamp.txt").read_text().startswith("2024-01-03 10:00")
    # the older ones are kept and listed
    older = {student: path for student, path in report.older}
    assert set(older) == {"ada", "alan"}
    assert (older["ada"] / f"{TOY}.ipynb").read_text() == old
    # unmatched files are listed with the reason, and kept
    unmatched = {name: reason for name, reason, _ in report.unmatched}
    assert set(unmatched) == {"README.txt", "bob_1_2_Toy (1).ipynb"}
    assert "'Toy (1)' is not the assignment's" in unmatched["bob_1_2_Toy (1).ipynb"]
    assert all(path.exists() for _, _, path in report.unmatched)
    text = report.text()
    assert "UNMATCHED" in text and "README.txt" in text and "older submissions kept (2)" in text


def test_collect_from_a_folder_newer_replaces_older_which_is_kept(course, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, content in ((first, _nb(course, "def mul(a, b):\n    return 0\n")), (second, _nb(course))):
        (folder / "ann").mkdir(parents=True)
        (folder / "ann" / f"{TOY}.ipynb").write_text(content)
    (first / "bea" / TOY).mkdir(parents=True)  # <student>/<assignment>/<notebook> works too
    (first / "bea" / TOY / "Toy-copy.ipynb").write_text(_nb(course))
    os.utime(first / "ann" / f"{TOY}.ipynb", (1_700_000_000, 1_700_000_000))
    report = collect(course, TOY, first)
    assert sorted(c.student for c in report.collected) == ["ann", "bea"]
    assert any("bea: no toy.ipynb (found: Toy-copy.ipynb)" in w for w in report.warnings)
    assert (course.root / "submitted" / "bea" / TOY / "Toy-copy.ipynb").exists()  # kept, never dropped

    report = collect(course, TOY, second)  # a later download: ann resubmitted
    assert _submitted(course, "ann").read_text() == (second / "ann" / f"{TOY}.ipynb").read_text()
    [(student, kept)] = report.older
    assert student == "ann" and (kept / f"{TOY}.ipynb").read_text() == (first / "ann" / f"{TOY}.ipynb").read_text()

    os.utime(first / "ann" / f"{TOY}.ipynb", (1_600_000_000, 1_600_000_000))
    report = collect(course, TOY, first)  # an older download again: it does not replace the newer one
    assert _submitted(course, "ann").read_text() == (second / "ann" / f"{TOY}.ipynb").read_text()
    assert any("already collected is newer" in w for w in report.warnings)


def test_collect_bad_input_is_named(course, tmp_path):
    with pytest.raises(AutograderError, match="does not exist"):
        collect(course, TOY, tmp_path / "missing")
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip")
    with pytest.raises(AutograderError, match="neither a folder nor a zip"):
        collect(course, TOY, bad)
    with pytest.raises(AutograderError, match="autograder release other"):
        collect(course, "other", tmp_path)
