"""``autograder collect``: from a folder and from an LMS zip; nothing dropped, the newest wins, older kept."""

from __future__ import annotations

import json
import os
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from traitlets.config import Config

from autograder.collect import collect
from autograder.course import AutograderError, Course
from autograder.lms import LmsCollector, parse_lms_name
from tests.support.toycourse import SOLVED_ADD, SOLVED_MUL, TOY, release_of, released_course, student_notebook


@pytest.fixture
def course(tmp_path) -> Course:
    return Course.open(released_course(tmp_path / "course"))


def _nb(course: Course, mul: str = SOLVED_MUL) -> str:
    return json.dumps(student_notebook(release_of(course.root), SOLVED_ADD, mul))


def _submitted(course: Course, student: str) -> Path:
    return course.root / "submitted" / student / TOY / f"{TOY}.ipynb"


def _zip(path: Path, members: dict[str, tuple[tuple, str]]) -> Path:
    """A zip of ``name -> (date_time, text)`` members, as an LMS writes its download."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, (when, text) in members.items():
            zf.writestr(zipfile.ZipInfo(name, when), text)
    return path


def test_collect_from_a_canvas_zip(course, tmp_path):
    old, new = _nb(course, "def mul(a, b):\n    return 0\n"), _nb(course)
    archive = _zip(
        tmp_path / "canvas.zip",
        {
            "ada_12345_67890_toy.ipynb": ((2024, 1, 1, 10, 0, 0), old),
            "ada_12345_67999_toy-1.ipynb": ((2024, 1, 2, 10, 0, 0), new),
            "bob_1_2_Toy (1).ipynb": ((2024, 1, 1, 10, 0, 0), new),
            "README.txt": ((2024, 1, 1, 10, 0, 0), "notes"),
        },
    )
    report = collect(course, TOY, archive)
    assert report.lms == "canvas"
    # students are keyed by the Canvas user id: <name>_<user id>
    assert [c.student for c in report.collected] == ["ada_12345"]
    # the newest submission wins: the later upload (higher file id, "-1" suffix)
    assert _submitted(course, "ada_12345").read_text() == new
    [(student, kept)] = report.older
    assert student == "ada_12345" and (kept / f"{TOY}.ipynb").read_text() == old
    # unmatched files are listed with the reason, and kept
    unmatched = {name: reason for name, reason, _ in report.unmatched}
    assert set(unmatched) == {"README.txt", "bob_1_2_Toy (1).ipynb"}
    assert "canvas user 1 (bob): notebook name 'Toy (1)' is not the assignment's" in unmatched["bob_1_2_Toy (1).ipynb"]
    assert all(path.exists() for _, _, path in report.unmatched)
    text = report.text()
    assert "UNMATCHED" in text and "README.txt" in text and "older submissions kept (1)" in text


def test_collect_from_a_moodle_zip(course, tmp_path):
    archive = _zip(
        tmp_path / "moodle.zip",
        {
            "Grace Hopper_222_assignsubmission_file_toy.ipynb": ((2024, 1, 1, 9, 0, 0), _nb(course)),
            "Alan Turing_333_assignsubmission_file_/toy.ipynb": ((2024, 1, 1, 9, 30, 0), _nb(course)),
            "Alan Turing_333_assignsubmission_file_/.ipynb_checkpoints/toy-checkpoint.ipynb": (
                (2024, 1, 1, 9, 30, 0),
                _nb(course),
            ),
        },
    )
    report = collect(course, TOY, archive)
    assert report.lms == "moodle" and report.unmatched == [] and report.skipped == []  # checkpoints passed over
    assert sorted(c.student for c in report.collected) == ["alan_turing_333", "grace_hopper_222"]
    stamp = course.root / "submitted" / "grace_hopper_222" / TOY / "timestamp.txt"
    assert stamp.read_text().startswith("2024-01-01 09:00")  # the zip's time of the member


def test_collect_from_a_blackboard_zip(course, tmp_path):
    old, new = _nb(course, "def mul(a, b):\n    return 0\n"), _nb(course)
    archive = _zip(
        tmp_path / "blackboard.zip",
        {
            "toy_alan_attempt_2024-01-03-10-00-00_toy.ipynb": ((2024, 1, 1, 0, 0, 0), new),
            "toy_alan_attempt_2024-01-01-10-00-00_toy.ipynb": ((2024, 1, 9, 0, 0, 0), old),
            "toy_alan_attempt_2024-01-03-10-00-00.txt": ((2024, 1, 1, 0, 0, 0), "Name: Alan (alan)"),
        },
    )
    report = collect(course, TOY, archive)
    assert report.lms == "blackboard" and [c.student for c in report.collected] == ["alan"]
    # the newest attempt wins by the attempt time in the name, whatever the zip's times say
    assert _submitted(course, "alan").read_text() == new
    assert (course.root / "submitted" / "alan" / TOY / "timestamp.txt").read_text().startswith("2024-01-03 10:00")
    [(student, kept)] = report.older
    assert student == "alan" and (kept / f"{TOY}.ipynb").read_text() == old
    [(name, reason, _)] = report.unmatched
    assert name.endswith(".txt") and "Blackboard's record of the attempt" in reason


def test_a_zip_mixing_lms_names_is_refused_unless_the_lms_is_named(course, tmp_path):
    archive = _zip(
        tmp_path / "mixed.zip",
        {
            "ada_12345_67890_toy.ipynb": ((2024, 1, 1, 10, 0, 0), _nb(course)),
            "Grace Hopper_222_assignsubmission_file_toy.ipynb": ((2024, 1, 1, 9, 0, 0), _nb(course)),
            "toy_alan_attempt_2024-01-03-10-00-00_toy.ipynb": ((2024, 1, 1, 0, 0, 0), _nb(course)),
        },
    )
    with pytest.raises(AutograderError, match="fit more than one LMS") as err:
        collect(course, TOY, archive)
    assert "ada_12345_67890_toy.ipynb" in str(err.value) and "--lms" in str(err.value)
    assert not (course.root / "submitted").exists()  # nothing collected
    report = collect(course, TOY, archive, lms="moodle")
    assert [c.student for c in report.collected] == ["grace_hopper_222"]
    assert {name for name, _, _ in report.unmatched} == {
        "ada_12345_67890_toy.ipynb",
        "toy_alan_attempt_2024-01-03-10-00-00_toy.ipynb",
    }


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


@pytest.mark.parametrize(
    ("name", "lms", "student", "notebook", "late"),
    [
        ("ada_12345_67890_01_layers.ipynb", "canvas", "ada_12345", "01_layers", False),
        ("ada_LATE_12345_67890_01_layers-2.ipynb", "canvas", "ada_12345", "01_layers", True),
        ("Grace Hopper_222_assignsubmission_file_01_layers.ipynb", "moodle", "grace_hopper_222", "01_layers", False),
        ("Grace Hopper_222_assignsubmission_file_/01_layers.ipynb", "moodle", "grace_hopper_222", "01_layers", False),
        ("A1_alan_attempt_2024-01-01-10-00-00_01_layers.ipynb", "blackboard", "alan", "01_layers", False),
    ],
)
def test_lms_names(name, lms, student, notebook, late):
    info = parse_lms_name(name)
    assert (info["lms"], info["student_id"], info["notebook"], info["late"]) == (lms, student, notebook, late)


def test_lms_order_and_timestamps():
    assert parse_lms_name("a_1_2_nb.ipynb")["order"] < parse_lms_name("a_1_2_nb-1.ipynb")["order"]
    bb = parse_lms_name("A1_alan_attempt_2024-01-02-03-04-05_nb.ipynb")
    assert bb["timestamp"] == datetime(2024, 1, 2, 3, 4, 5)
    assert parse_lms_name("notes.txt") is None and parse_lms_name("random.ipynb") is None
    # a Canvas upload named like a Blackboard file: read by two LMSs, so by neither unless the LMS is named
    odd = "mallory_4444_67892_x_bob_attempt_2099-12-31-23-59-59_nb.ipynb"
    assert parse_lms_name(odd) is None
    assert parse_lms_name(odd, "canvas")["student_id"] == "mallory_4444"


def test_lms_collector_is_an_nbgrader_plugin():
    info = LmsCollector().collect("/x/extracted/A1_alan_attempt_2024-01-01-10-00-00_nb.ipynb")
    assert info["student_id"] == "alan" and info["file_id"] == "nb.ipynb"
    assert info["timestamp"].startswith("2024-01-01 10:00:00")  # this machine's zone: no course zone set
    config = Config()
    config.Exchange.timezone = "Asia/Kolkata"
    zoned = LmsCollector(config=config).collect("/x/extracted/A1_alan_attempt_2024-01-01-10-00-00_nb.ipynb")
    assert zoned["timestamp"] == "2024-01-01 10:00:00+05:30"  # nbgrader's parse_utc: 04:30 UTC
    assert LmsCollector().collect("/x/extracted/readme.ipynb") is None
    odd = "/x/extracted/mallory_4444_67892_x_bob_attempt_2099-12-31-23-59-59_nb.ipynb"
    assert LmsCollector().collect(odd) is None
    assert LmsCollector(lms="canvas").collect(odd)["student_id"] == "mallory_4444"
