"""``autograder collect`` against hostile or careless input: links, bad zip members, bombs, names, rosters.

Every download here is a real zip or folder written by the test, named as Canvas, Moodle or Blackboard name
their files; nothing is mocked. One released toy course is made for the module and copied for each test.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.collect import collect
from autograder.course import AutograderError, Course
from autograder.intake import MAX_FILE_BYTES, MAX_FILES_PER_STUDENT
from tests.support.toycourse import SOLVED_ADD, SOLVED_MUL, TOY, release_of, released_course, student_notebook

CANARY = "CANARY-7f3a91c2-not-for-the-course"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return released_course(tmp_path_factory.mktemp("template") / "course")


@pytest.fixture
def course(template, tmp_path) -> Course:
    root = tmp_path / "course"
    shutil.copytree(template, root)
    return Course.open(root)


def _nb(course: Course, marker: str = "") -> str:
    """A solved notebook; ``marker`` (a comment) tells one student's from another's."""
    return json.dumps(student_notebook(release_of(course.root), SOLVED_ADD, SOLVED_MUL + f"# {marker}\n"))


def _submitted(course: Course, student: str) -> Path:
    return course.root / "submitted" / student / TOY


def _zip(path: Path, members: dict[str, str | bytes], when=(2024, 1, 1, 10, 0, 0)) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, when), data)
    return path


def _patch_member(archive: Path, name: str, fn) -> None:
    """Apply ``fn(data, offset)`` to the bytes of the member's local header and of its central directory entry."""
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        local, central = zf.getinfo(name).header_offset, zf.start_dir
    while data[central + 46 : central + 46 + len(name)] != name.encode():  # walk the central directory
        n, m, k = struct.unpack("<HHH", data[central + 28 : central + 34])
        central += 46 + n + m + k
    fn(data, local, central)
    archive.write_bytes(bytes(data))


def _everything_in(root: Path) -> bytes:
    """The bytes of every regular file under ``root`` (links not followed)."""
    out = []
    for folder, _, files in os.walk(root, followlinks=False):
        for name in files:
            path = Path(folder) / name
            if stat.S_ISREG(os.lstat(path).st_mode):
                out.append(path.read_bytes())
    return b"\n".join(out)


# --- identity ---------------------------------------------------------------------------------------------


def test_two_canvas_students_with_the_same_name_stay_two(course, tmp_path):
    archive = _zip(
        tmp_path / "canvas.zip",
        {
            "smithjohn_1111_67890_toy.ipynb": _nb(course, "first John Smith"),
            "smithjohn_3333_67891_toy.ipynb": _nb(course, "second John Smith"),
        },
    )
    report = collect(course, TOY, archive)
    assert sorted(c.student for c in report.collected) == ["smithjohn_1111", "smithjohn_3333"]
    assert "first John Smith" in (_submitted(course, "smithjohn_1111") / "toy.ipynb").read_text()
    assert "second John Smith" in (_submitted(course, "smithjohn_3333") / "toy.ipynb").read_text()
    assert report.older == [] and report.unmatched == []


def test_two_moodle_students_with_the_same_name_stay_two(course, tmp_path):
    archive = _zip(
        tmp_path / "moodle.zip",
        {
            "John Smith_12345_assignsubmission_file_toy.ipynb": _nb(course, "participant 12345"),
            "John Smith_67890_assignsubmission_file_/toy.ipynb": _nb(course, "participant 67890"),
        },
    )
    report = collect(course, TOY, archive)
    assert sorted(c.student for c in report.collected) == ["john_smith_12345", "john_smith_67890"]
    assert "participant 12345" in (_submitted(course, "john_smith_12345") / "toy.ipynb").read_text()
    assert "participant 67890" in (_submitted(course, "john_smith_67890") / "toy.ipynb").read_text()
    assert report.older == []


def test_two_blackboard_users_whose_names_end_alike_stay_two(course, tmp_path):
    archive = _zip(
        tmp_path / "bb.zip",
        {
            "HW_1_j_smith_attempt_2024-01-01-10-00-00_toy.ipynb": _nb(course, "j_smith"),
            "HW_1_k_smith_attempt_2024-01-01-11-00-00_toy.ipynb": _nb(course, "k_smith"),
        },
    )
    report = collect(course, TOY, archive)
    assert sorted(c.student for c in report.collected) == ["j_smith", "k_smith"]
    assert "# k_smith" in (_submitted(course, "k_smith") / "toy.ipynb").read_text()


def test_a_canvas_upload_named_like_a_blackboard_file_does_not_displace_bob(course, tmp_path):
    bob, odd = _nb(course, "Bob's own work"), _nb(course, "uploaded by mallory")
    archive = _zip(
        tmp_path / "canvas.zip",
        {
            "bob_2222_67890_toy.ipynb": bob,
            # Mallory (Canvas user 4444) uploaded a file she named x_bob_attempt_2099-12-31-23-59-59_toy.ipynb
            "mallory_4444_67892_x_bob_attempt_2099-12-31-23-59-59_toy.ipynb": odd,
        },
    )
    report = collect(course, TOY, archive)
    assert report.lms == "canvas"
    assert [c.student for c in report.collected] == ["bob_2222"]
    assert (_submitted(course, "bob_2222") / "toy.ipynb").read_text() == bob
    assert report.older == []  # Bob's notebook was not moved aside
    [(name, reason, kept)] = report.unmatched
    assert name.startswith("mallory_4444_") and reason.startswith("canvas user 4444 (mallory)")
    assert kept.read_text() == odd
    assert "uploaded by mallory" not in _everything_in(course.root / "submitted").decode()


def test_a_bare_blackboard_name_in_a_canvas_download_needs_the_lms_named(course, tmp_path):
    bob = _nb(course, "Bob's own work")
    archive = _zip(
        tmp_path / "canvas.zip",
        {"bob_2222_67890_toy.ipynb": bob, "x_bob_attempt_2099-12-31-23-59-59_toy.ipynb": _nb(course, "odd")},
    )
    with pytest.raises(AutograderError, match="--lms") as err:
        collect(course, TOY, archive)
    assert "canvas: bob_2222_67890_toy.ipynb" in str(err.value)
    assert "blackboard: x_bob_attempt_2099-12-31-23-59-59_toy.ipynb" in str(err.value)
    report = collect(course, TOY, archive, lms="canvas")
    assert [c.student for c in report.collected] == ["bob_2222"] and report.older == []
    assert (_submitted(course, "bob_2222") / "toy.ipynb").read_text() == bob
    assert [(n, r) for n, r, _ in report.unmatched] == [
        ("x_bob_attempt_2099-12-31-23-59-59_toy.ipynb", "not a canvas file name")
    ]


def test_a_moodle_folder_named_inside_a_submission_is_its_uploaders(course, tmp_path):
    archive = _zip(
        tmp_path / "moodle.zip",
        {
            "Bob Brown_999_assignsubmission_file_/toy.ipynb": _nb(course, "Bob's own work"),
            "Mal Lory_555_assignsubmission_file_/Bob Brown_999_assignsubmission_file_/toy.ipynb": _nb(course, "odd"),
        },
    )
    report = collect(course, TOY, archive)
    assert [c.student for c in report.collected] == ["bob_brown_999"]
    assert "Bob's own work" in (_submitted(course, "bob_brown_999") / "toy.ipynb").read_text()
    [(name, reason, _)] = report.unmatched
    assert name.startswith("Mal Lory_555") and reason.startswith("moodle user 555 (Mal Lory)")


def test_canvas_late_mark_is_reported_and_recorded_in_the_manifest(course, tmp_path):
    archive = _zip(
        tmp_path / "canvas.zip",
        {"ada_LATE_12345_67890_toy.ipynb": _nb(course), "bea_23456_67891_toy.ipynb": _nb(course)},
    )
    report = collect(course, TOY, archive)
    assert "ada_12345: toy.ipynb" in report.text() and report.text().count(" LATE") == 1
    manifest = json.loads((course.root / "collected" / TOY / "manifest.json").read_text())
    ada = manifest["students"]["ada_12345"]
    assert ada["late"] is True and manifest["students"]["bea_23456"]["late"] is False
    assert ada["lms"] == "canvas" and ada["lms_id"] == "12345"
    assert ada["sources"] == ["ada_LATE_12345_67890_toy.ipynb"]
    assert ada["time"].startswith("2024-01-01 10:00:00") and "zip" in ada["time_from"]
    # the submitted folder holds the notebook and collect's timestamp.txt, nothing else
    assert sorted(p.name for p in _submitted(course, "ada_12345").iterdir()) == ["timestamp.txt", "toy.ipynb"]


# --- roster -----------------------------------------------------------------------------------------------


def test_a_roster_maps_lms_ids_and_keeps_strangers_unmatched(course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("lms_id,student_id,name,email\n1111,jsmith1,John Smith,j1@uni.edu\n3333,jsmith2,John Smith,\n")
    archive = _zip(
        tmp_path / "canvas.zip",
        {
            "smithjohn_1111_67890_toy.ipynb": _nb(course, "1111"),
            "smithjohn_3333_67891_toy.ipynb": _nb(course, "3333"),
            "eve_5555_67892_toy.ipynb": _nb(course, "5555"),
        },
    )
    report = collect(course, TOY, archive, roster=roster)
    assert sorted(c.student for c in report.collected) == ["jsmith1", "jsmith2"]
    assert "# 1111" in (_submitted(course, "jsmith1") / "toy.ipynb").read_text()
    [(name, reason, kept)] = report.unmatched
    assert name == "eve_5555_67892_toy.ipynb" and reason == "canvas user 5555 (eve) is not in the roster"
    assert "# 5555" in kept.read_text() and kept.parent.name == "unmatched"
    assert "eve_5555_67892_toy.ipynb" in report.text()
    manifest = json.loads((course.root / "collected" / TOY / "manifest.json").read_text())
    assert (
        manifest["students"]["jsmith1"]["lms_id"] == "1111" and manifest["students"]["jsmith1"]["name"] == "John Smith"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("student_id,name\nann,Ann\n", r"line 1: the header must name the columns lms_id,student_id"),
        ("lms_id,student_id,name,email\n1,ann,Ann,\n2,,Bea,\n", r"line 3: lms_id and student_id must both be given"),
        ("lms_id,student_id\n1,ann\n2,bea\n1,cat\n", r"lms_id '1' appears twice, on lines 2 and 4"),
        ("lms_id,student_id\n1,ann\n2,bea\n3,ann\n", r"student_id 'ann' appears twice, on lines 2 and 4"),
        ("lms_id,student_id\n1,ann\n2,../../etc\n", r"line 3: student_id '../../etc' cannot name a folder"),
        ("lms_id,student_id\n1,ann,Ann,a@b,extra\n", r"line 2: more fields than the header's 2"),
        (b"lms_id,student_id\n1,ann\n2,b\xe9a\n", r"line 3: not UTF-8 text"),
    ],
)
def test_a_bad_roster_is_refused_with_its_line(course, tmp_path, text, message):
    roster = tmp_path / "roster.csv"
    roster.write_bytes(text if isinstance(text, bytes) else text.encode())
    archive = _zip(tmp_path / "canvas.zip", {"ann_1_2_toy.ipynb": _nb(course)})
    with pytest.raises(AutograderError, match=message) as err:
        collect(course, TOY, archive, roster=roster)
    assert str(roster) in str(err.value)
    assert not (course.root / "submitted").exists()


def test_the_command_line_takes_lms_and_roster_and_says_what_is_wrong(course, tmp_path, capsys):
    archive = _zip(tmp_path / "canvas.zip", {"ann_1_2_toy.ipynb": _nb(course)})
    roster = tmp_path / "roster.csv"
    roster.write_text("lms_id,student_id,name,email\n1,ann,Ann,ann@uni.edu\n")
    base = ["--course", str(course.root), "collect", TOY, "--from", str(archive)]
    assert main([*base, "--lms", "canvas", "--roster", str(roster)]) == 0
    assert "collected 1 submission(s) of toy (LMS: canvas)" in capsys.readouterr().out
    assert (_submitted(course, "ann") / "toy.ipynb").exists()
    assert main([*base, "--roster", str(tmp_path / "missing.csv")]) == 2
    assert f"cannot read the roster {tmp_path / 'missing.csv'}" in capsys.readouterr().err
    assert main(["--course", str(course.root), "collect", TOY, "--exchange", "--lms", "canvas"]) == 2
    assert "apply to --from" in capsys.readouterr().err


# --- zip members ------------------------------------------------------------------------------------------


def test_bad_zip_members_are_each_reported_and_skipped_while_the_good_ones_are_collected(course, tmp_path):
    good = _nb(course, "good")
    inner = tmp_path / "inner.zip"
    _zip(inner, {"bea_2_3_toy.ipynb": good})
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ada_1_2_toy.ipynb", good)
        zf.writestr("bea_2_3_inner.zip", inner.read_bytes())  # a nested archive, by its name
        zf.writestr("bea_2_4_toy.ipynb", inner.read_bytes())  # ... and by its first bytes
        link = zipfile.ZipInfo("cat_3_4_toy.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16  # a symbolic link to a file outside
        zf.writestr(link, "/etc/passwd")
        zf.writestr("../escape.ipynb", good)
        zf.writestr("/abs/evil.ipynb", good)
        zf.writestr("dan_4_5_toy.ipynb", b"\0" * (MAX_FILE_BYTES + 1))  # a bomb: 50 MB of zeros in ~50 KB
        zf.writestr("eve_5_6_toy.ipynb", good, compress_type=zipfile.ZIP_STORED)  # damaged below
        zf.writestr("fay_6_7_toy.ipynb", good)  # encrypted below
        zf.writestr("gus_7_8_toy.ipynb", b"\0" * 4 * 1024 * 1024)  # says it is 1000 bytes (below)
    assert archive.stat().st_size < 1024 * 1024

    def damage(data, local, central):
        start = local + 30 + len("eve_5_6_toy.ipynb")
        data[start + 100 : start + 104] = bytes(b ^ 0xFF for b in data[start + 100 : start + 104])

    def encrypt(data, local, central):
        data[local + 6] |= 1
        data[central + 8] |= 1

    def understate(data, local, central):
        data[local + 22 : local + 26] = struct.pack("<I", 1000)
        data[central + 24 : central + 28] = struct.pack("<I", 1000)

    _patch_member(archive, "eve_5_6_toy.ipynb", damage)
    _patch_member(archive, "fay_6_7_toy.ipynb", encrypt)
    _patch_member(archive, "gus_7_8_toy.ipynb", understate)

    report = collect(course, TOY, archive)
    assert [c.student for c in report.collected] == ["ada_1"]
    assert (_submitted(course, "ada_1") / "toy.ipynb").read_text() == good
    skipped = dict(report.skipped)
    assert skipped["bea_2_3_inner.zip"].startswith("a nested archive (by its name)")
    assert skipped["bea_2_4_toy.ipynb"].startswith("a nested archive (by its first bytes)")
    assert skipped["cat_3_4_toy.ipynb"].startswith("a symbolic link")
    assert skipped["../escape.ipynb"].startswith("a path with '..'")
    assert skipped["/abs/evil.ipynb"].startswith("an absolute path")
    assert "over the bound of 50 MB per file" in skipped["dan_4_5_toy.ipynb"]
    assert "CRC" in skipped["eve_5_6_toy.ipynb"]
    assert skipped["fay_6_7_toy.ipynb"].startswith("encrypted")
    assert "CRC" in skipped["gus_7_8_toy.ipynb"] or "past" in skipped["gus_7_8_toy.ipynb"]
    assert len(skipped) == 9 and report.unmatched == []
    text = report.text()
    assert "SKIPPED (9)" in text and "../escape.ipynb: a path with '..'" in text
    # nothing was written outside the course, nor anything but the good notebook into it
    assert not (tmp_path / "escape.ipynb").exists() and not (course.root.parent / "escape.ipynb").exists()
    assert sorted(p.name for p in (course.root / "submitted").iterdir()) == ["ada_1"]
    assert b"root:" not in _everything_in(course.root)


def test_unmatched_members_are_kept_under_safe_names(course, tmp_path):
    archive = _zip(
        tmp_path / "canvas.zip",
        {
            "ada_1_2_toy.ipynb": _nb(course),
            "notes/read me.txt": "a",
            "notes__read me.txt": "b",  # the same safe name as the one above
            "notes\\read me.txt": "c",  # a Windows separator: the same member name as the first
        },
    )
    report = collect(course, TOY, archive)
    kept = {name: path for name, _, path in report.unmatched}
    assert set(kept) == {"notes/read me.txt", "notes__read me.txt"}
    store = course.root / "collected" / TOY / "unmatched"
    assert all(p.parent == store and stat.S_ISREG(os.lstat(p).st_mode) for p in kept.values())
    assert kept["notes/read me.txt"].name == "notes__read me.txt"
    assert kept["notes__read me.txt"].name == "notes__read me-2.txt" and kept["notes__read me.txt"].read_text() == "b"
    assert report.skipped == [("notes\\read me.txt", "a second member of the same name; not extracted")]


# --- folders ----------------------------------------------------------------------------------------------


def test_links_in_a_folder_are_listed_and_never_followed(course, tmp_path):
    secret = tmp_path / "secret"
    (secret / "toy").mkdir(parents=True)
    (secret / "canary.txt").write_text(CANARY)
    (secret / "toy" / "toy.ipynb").write_text(CANARY)
    incoming = tmp_path / "incoming"
    (incoming / "ann" / "sub").mkdir(parents=True)
    (incoming / "ann" / "toy.ipynb").write_text(_nb(course, "ann"))
    (incoming / "ann" / "leak.txt").symlink_to(secret / "canary.txt")
    (incoming / "ann" / "sub" / "deep.txt").symlink_to(secret / "canary.txt")
    (incoming / "ann" / "alldata").symlink_to(secret)
    os.mkfifo(incoming / "ann" / "pipe")
    (incoming / "mallory").symlink_to(secret)  # a student folder that is itself a link
    (incoming / "bea").mkdir()
    (incoming / "bea" / "toy").symlink_to(secret / "toy")  # <student>/<assignment> as a link
    (incoming / "bea" / "toy.ipynb").write_text(_nb(course, "bea"))
    (incoming / "eve_9_9_toy.ipynb").symlink_to(secret / "canary.txt")  # a loose "Canvas" file as a link

    report = collect(course, TOY, incoming)
    assert sorted(c.student for c in report.collected) == ["ann", "bea"]
    assert sorted(p.name for p in _submitted(course, "ann").iterdir()) == ["timestamp.txt", "toy.ipynb"]
    assert CANARY.encode() not in _everything_in(course.root)
    skipped = dict(report.skipped)
    assert skipped["ann/leak.txt"] == f"a symbolic link (to {secret / 'canary.txt'}), not followed"
    assert skipped["ann/sub/deep.txt"].startswith("a symbolic link")
    assert skipped["ann/alldata"].startswith("a symbolic link")
    assert skipped["ann/pipe"].startswith("a named pipe (fifo)")
    assert skipped["mallory"] == f"a student folder or file that is a symbolic link (to {secret}), not followed"
    assert skipped["bea/toy"].startswith("a symbolic link")
    assert skipped["eve_9_9_toy.ipynb"].startswith("a student folder or file that is a symbolic link")
    text = report.text()
    assert (
        "ann/leak.txt: a symbolic link" in text and "mallory: a student folder or file that is a symbolic link" in text
    )


def test_a_student_folder_is_bounded_and_keeps_its_notebooks(course, tmp_path):
    folder = tmp_path / "incoming" / "ann"
    folder.mkdir(parents=True)
    for i in range(5000):
        (folder / f"a{i:04d}.txt").touch()
    (folder / "toy.ipynb").write_text(_nb(course))  # sorts after every a*.txt
    report = collect(course, TOY, tmp_path / "incoming")
    collected = sorted(p.name for p in _submitted(course, "ann").iterdir())
    assert len(collected) == MAX_FILES_PER_STUDENT + 1 and "toy.ipynb" in collected  # + timestamp.txt
    assert any("5001 files" in w and "over the per-student bounds" in w for w in report.warnings)
    assert len(report.skipped) == 5001 - MAX_FILES_PER_STUDENT
    assert all(r == f"over the bound of {MAX_FILES_PER_STUDENT} files per student" for _, r in report.skipped)
    assert "... and" in report.text()  # the list is cut short in the text; the manifest has it all
    manifest = json.loads((course.root / "collected" / TOY / "manifest.json").read_text())
    assert len(manifest["last_collect"]["skipped"]) == 5001 - MAX_FILES_PER_STUDENT


def test_a_students_own_timestamp_file_is_ignored(course, tmp_path):
    folder = tmp_path / "incoming" / "ann"
    folder.mkdir(parents=True)
    (folder / "toy.ipynb").write_text(_nb(course))
    (folder / "timestamp.txt").write_text("2099-12-31 23:59:59")
    os.utime(folder / "toy.ipynb", (1_700_000_000, 1_700_000_000))  # 2023-11-14
    report = collect(course, TOY, tmp_path / "incoming")
    [ann] = report.collected
    assert ann.timestamp.year == 2023 and ann.time_from == "the newest file's modification time"
    assert (_submitted(course, "ann") / "timestamp.txt").read_text().startswith("2023-11-1")
    assert any("ann/timestamp.txt ignored" in w for w in report.warnings)


def test_moodle_folders_in_a_folder_are_read_as_moodle_beside_student_folders(course, tmp_path):
    incoming = tmp_path / "incoming"
    (incoming / "Grace Hopper_222_assignsubmission_file_").mkdir(parents=True)
    (incoming / "Grace Hopper_222_assignsubmission_file_" / "toy.ipynb").write_text(_nb(course, "grace"))
    (incoming / "ann").mkdir()
    (incoming / "ann" / "toy.ipynb").write_text(_nb(course, "ann"))
    report = collect(course, TOY, incoming)
    assert report.lms == "moodle" and sorted(c.student for c in report.collected) == ["ann", "grace_hopper_222"]
    assert "# grace" in (_submitted(course, "grace_hopper_222") / "toy.ipynb").read_text()


def test_nothing_is_written_through_a_link_in_the_course(course, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text(CANARY)
    unmatched = course.root / "collected" / TOY / "unmatched"
    unmatched.mkdir(parents=True)
    (unmatched / "README.txt").symlink_to(outside / "victim.txt")
    (course.root / "submitted").mkdir()
    (course.root / "submitted" / "bea_2").symlink_to(outside)  # a student's folder of the course as a link
    archive = _zip(
        tmp_path / "canvas.zip",
        {"ada_1_2_toy.ipynb": _nb(course), "bea_2_3_toy.ipynb": _nb(course, "bea"), "README.txt": "notes"},
    )
    report = collect(course, TOY, archive)
    assert (outside / "victim.txt").read_text() == CANARY and sorted(os.listdir(outside)) == ["victim.txt"]
    assert not (unmatched / "README.txt").is_symlink() and (unmatched / "README.txt").read_text() == "notes"
    assert [c.student for c in report.collected] == ["ada_1"]
    assert any(w.startswith("bea_2:") and "is a link or not a folder" in w for w in report.warnings)
    assert [s for s, _ in report.older] == ["bea_2"]  # kept, not lost


def test_a_zip_is_bounded_in_members_and_in_bytes_extracted(course, tmp_path, monkeypatch):
    # the bounds are lowered for the test (20,000 members and 2 GB would take long to write); the code is the same
    from autograder import intake

    monkeypatch.setattr(intake, "MAX_ARCHIVE_BYTES", 3 * intake.MB)
    monkeypatch.setattr(intake, "MAX_ARCHIVE_MEMBERS", 4)
    archive = tmp_path / "canvas.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ada_1_2_toy.ipynb", _nb(course))
        zf.writestr("ada_1_3_data.bin", b"\0" * 2 * intake.MB)
        zf.writestr("bea_2_4_data.bin", b"\0" * 2 * intake.MB)  # past 3 MB in all
        zf.writestr("bea_2_5_toy.ipynb", _nb(course))
        zf.writestr("cat_3_6_toy.ipynb", _nb(course))  # the fifth member
    report = collect(course, TOY, archive)
    assert sorted(c.student for c in report.collected) == ["ada_1", "bea_2"]
    assert dict(report.skipped) == {
        "bea_2_4_data.bin": "over the bound of 3 MB extracted per archive",
        "cat_3_6_toy.ipynb": "over the bound of 4 members per archive; not read",
    }


# --- nbgrader's exchange: students write its inbound folder themselves ------------------------------------------


def _exchange_course(course: Course, tmp_path: Path) -> Path:
    """The course with an exchange of its own, the toy assignment released to it; the exchange's inbound."""
    import subprocess
    import sys

    exchange = tmp_path / "exchange"
    exchange.mkdir(mode=0o777)
    with open(course.root / "nbgrader_config.py", "a") as fh:
        fh.write(f"\nget_config().Exchange.root = {str(exchange)!r}  # noqa: F821\n")
    subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment", TOY], cwd=course.root, check=True,
                   capture_output=True)  # fmt: skip
    return exchange / "cnn-course" / "inbound"


def _inbound(inbound: Path, student: str, when: str, notebook: str) -> Path:
    folder = inbound / f"{student}+{TOY}+{when}+{os.urandom(4).hex()}"
    folder.mkdir(parents=True)
    (folder / f"{TOY}.ipynb").write_text(notebook)
    (folder / "timestamp.txt").write_text(when)
    return folder


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder owned by another user needs root")
def test_the_exchange_refuses_submissions_in_another_name_and_follows_no_link(course, tmp_path):
    """Alice's folder named as Bob's newer submission is not collected (Bob's own is); a link in a submission is
    not followed; a student id that cannot name a folder is refused. Plain `nbgrader collect` and
    `autograder collect --exchange` share the course's collector."""
    inbound = _exchange_course(course, tmp_path)
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(CANARY)
    secret.chmod(0o600)
    bob_own = _inbound(inbound, "bob", "2024-01-01 10:00:00.000000 UTC", _nb(course, "bob's own"))
    forged = _inbound(inbound, "bob", "2024-01-02 10:00:00.000000 UTC", _nb(course, "alice as bob"))
    os.chown(forged, 4242, 4242)  # made by another user of the machine
    ann = _inbound(inbound, "ann", "2024-01-01 10:00:00.000000 UTC", _nb(course, "ann"))
    (ann / "notes.txt").symlink_to(secret)
    _inbound(inbound, "-rf", "2024-01-01 10:00:00.000000 UTC", _nb(course, "odd name"))
    assert bob_own.exists()

    course = Course.open(course.root)  # with the exchange in its configuration
    report = collect(course, TOY, None, exchange=True)
    assert "bob's own" in (_submitted(course, "bob") / f"{TOY}.ipynb").read_text()
    assert "names bob but was made by uid 4242" in report.log
    assert (_submitted(course, "ann") / f"{TOY}.ipynb").exists()
    assert not (_submitted(course, "ann") / "notes.txt").exists()
    assert "notes.txt" in report.log and "symbolic link" in report.log
    assert "cannot name a folder" in report.log and not (course.root / "submitted" / "-rf").exists()
    assert CANARY.encode() not in _everything_in(course.root)
