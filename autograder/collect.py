"""``autograder collect``: bring submissions into ``submitted/<student>/<assignment>/``.

Sources:

- a folder (``--from DIR``) of ``<student>/<notebook>.ipynb`` (or ``<student>/<assignment>/<notebook>.ipynb``);
  loose files at its top level, and Moodle's ``<name>_<id>_assignsubmission_file_/`` folders, are read as an
  LMS download. The folder is walked without following any link (:mod:`autograder.intake`); a student's time
  is the newest modification time of their files (a ``timestamp.txt`` of theirs is ignored, with a warning);
- an LMS zip download (``--from ZIP``): extracted member by member by :func:`autograder.intake.stage_zip`,
  which refuses links, paths out of the download, nested archives, damaged or encrypted members and members
  over the bounds, each listed; a member's time is the one the zip records (Blackboard's: the attempt time);
- nbgrader's exchange (``--exchange``), through nbgrader's own ``collect``.

Whose each LMS file is: the LMS of a download is decided once (``--lms``, default ``auto``: the one LMS whose
names the files have; :func:`autograder.lms.decide_lms`), and only that LMS's place for the identity is read.
Students are keyed by the LMS's id (Canvas user id, Moodle participant number, Blackboard user name); a
``--roster`` maps those ids to the course's ids, and without one the id is ``<name>_<LMS id>``
(:func:`autograder.lms.default_student_id`). Per student at most :data:`~autograder.intake.MAX_FILES_PER_STUDENT`
files and :data:`~autograder.intake.MAX_BYTES_PER_STUDENT` bytes are collected, the assignment's notebooks first.

Nothing is dropped silently: files that match no pattern, name a notebook the assignment does not have, or
belong to an LMS id not in the roster are listed and kept in ``collected/<assignment>/unmatched/``; when a
student has several submissions, the newest wins and the older ones are listed and kept in
``collected/<assignment>/older/<student>/``; what is not read at all (links, special files, refused members,
files over the bounds) is listed as skipped. ``collected/<assignment>/manifest.json`` records, per collected
student, the LMS and LMS id, the source files, the time used and Canvas's late mark, and the last collect's
lists. Into ``submitted/`` go only the student's files and ``timestamp.txt``.

Times are written with their UTC offset (``timestamp.txt``, the manifest), so that nbgrader, which reads a
time without one as UTC, measures lateness right: a file's modification time is an exact instant; the
wall-clock times of zip members and Blackboard attempts are read in the course's timezone
(``c.Exchange.timezone``), else in this machine's (:func:`autograder.deadlines.course_timezone`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from .course import AutograderError, Course
from .deadlines import course_timezone
from .intake import (
    CHECKPOINTS,
    MAX_FILE_BYTES,
    Refused,
    Staged,
    Stager,
    describe_special,
    megabytes,
    open_beneath,
    scan_folder,
    stage_folder_files,
    stage_zip,
    within_bounds,
)
from .lms import (
    LMS_NAMES,
    LmsName,
    RosterEntry,
    blackboard_assignment_prefix,
    decide_lms,
    default_student_id,
    is_moodle_folder,
    is_safe_student_id,
    parse_lms_path,
    read_roster,
)

TIMESTAMP_FILE = "timestamp.txt"
MANIFEST_FILE = "manifest.json"
#: Lines of each list shown by ``CollectReport.text()``; the manifest has them all.
MAX_REPORT_LINES = 50
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass
class Candidate:
    """One student's submission found in the source: its files and when it was made."""

    student: str
    files: dict[str, Path]  # name in the submission -> its staged copy
    timestamp: datetime
    order: tuple = ()
    origin: str = ""
    lms: str | None = None
    lms_id: str | None = None
    name: str = ""
    sources: list[str] = field(default_factory=list)
    time_from: str = ""
    late: bool = False


@dataclass
class CollectReport:
    """What ``collect`` did; ``text()`` lists everything a TA must look at."""

    assignment: str
    collected: list[Candidate] = field(default_factory=list)
    older: list[tuple[str, Path]] = field(default_factory=list)
    unmatched: list[tuple[str, str, Path]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    log: str = ""
    lms: str | None = None
    manifest: Path | None = None

    def text(self) -> str:
        lines = [f"collected {len(self.collected)} submission(s) of {self.assignment}"]
        if self.lms:
            lines[0] += f" (LMS: {self.lms})"
        for c in sorted(self.collected, key=lambda c: c.student):
            late = " LATE" if c.late else ""
            lines.append(
                f"  {c.student}: {', '.join(sorted(c.files))} ({c.timestamp:%Y-%m-%d %H:%M:%S %z}, {c.origin}){late}"
            )
        if self.older:
            lines.append(f"older submissions kept ({len(self.older)}); the newest of each student is graded:")
            lines += self._capped([f"  {student}: kept in {path}" for student, path in self.older])
        if self.unmatched:
            lines.append(f"UNMATCHED files ({len(self.unmatched)}), not collected, kept for you to look at:")
            lines += self._capped([f"  {name}: {reason} (kept in {path})" for name, reason, path in self.unmatched])
        if self.skipped:
            lines.append(f"SKIPPED ({len(self.skipped)}), not read and not kept:")
            lines += self._capped([f"  {name}: {reason}" for name, reason in self.skipped])
        lines += [f"warning: {w}" for w in self.warnings]
        if self.manifest:
            lines.append(f"manifest: {self.manifest}")
        if self.log:
            lines.append(self.log.rstrip())
        return "\n".join(lines)

    def _capped(self, lines: list[str]) -> list[str]:
        if len(lines) <= MAX_REPORT_LINES:
            return lines
        where = f" (all in {self.manifest})" if self.manifest else ""
        return [*lines[:MAX_REPORT_LINES], f"  ... and {len(lines) - MAX_REPORT_LINES} more{where}"]


def _in_zone(ts: datetime, tz: tzinfo) -> datetime:
    """``ts`` in the zone ``tz``: an aware time converted, a wall-clock time without a zone read in ``tz``."""
    return ts.replace(tzinfo=tz) if ts.tzinfo is None else ts.astimezone(tz)


def _stamp(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d_%H-%M-%S_%f")


def safe_name(text: str) -> str:
    """A file name made of ``text`` (an archive's path, say): separators and odd characters replaced."""
    name = re.sub(r"[^\w.()@+=,~ -]", "_", text.replace("/", "__")).lstrip(". ")
    return name[:200] or "unnamed"


def _make_dirs(path: Path, base: Path) -> None:
    """``mkdir -p path`` below the existing folder ``base``, refusing to go through a link or a file."""
    current = base
    for part in path.relative_to(base).parts:
        current = current / part
        try:
            os.mkdir(current)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                raise AutograderError(f"{current} is not a folder (a link?); nothing is written through it") from None


def _through_link(path: Path, base: Path) -> Path | None:
    """The first folder from ``base`` down to ``path`` that is a link, if one is."""
    current = base
    for part in path.relative_to(base).parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _copy_file(src: Path, dest: Path, base: Path) -> None:
    """Copy the regular file ``src`` to ``dest`` (below ``base``), keeping its time; neither end through a link."""
    _make_dirs(dest.parent, base)
    try:
        if stat.S_ISDIR(os.lstat(dest).st_mode):
            raise AutograderError(f"{dest} is a folder; a file of that name cannot be written")
        os.unlink(dest)
    except FileNotFoundError:
        pass
    fd_in = os.open(src, os.O_RDONLY | _NOFOLLOW)
    try:
        st = os.fstat(fd_in)
        if not stat.S_ISREG(st.st_mode):
            raise AutograderError(f"{src} is not a regular file")
        fd_out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
        with os.fdopen(fd_out, "wb") as out, os.fdopen(fd_in, "rb", closefd=False) as inp:
            shutil.copyfileobj(inp, out, 1024 * 1024)
            out.flush()
            os.utime(out.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(fd_in)


def _read_timestamp(folder: Path) -> datetime | None:
    """The time in ``timestamp.txt`` that collect wrote into a submitted folder (never read through a link)."""
    from nbgrader.utils import parse_utc

    try:
        fd = os.open(folder / TIMESTAMP_FILE, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = os.read(fd, 200).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    try:
        return parse_utc(text).replace(tzinfo=timezone.utc) if text else None
    except (ValueError, OverflowError):
        return None


class Collector:
    """Place candidates into the course: newest wins, older kept, unmatched kept, all of it reported."""

    def __init__(self, course: Course, assignment: str) -> None:
        self.course = course
        self.assignment = assignment
        self.notebooks = set(course.released_notebooks(assignment))
        self.report = CollectReport(assignment)
        self.store = course.root / "collected" / assignment
        self._unmatched_names: set[str] = set()
        #: the zone of wall-clock times without one (zip members, Blackboard attempts), and of the times written
        self.tz: tzinfo = course_timezone(course)

    def expected(self) -> str:
        return ", ".join(sorted(n + ".ipynb" for n in self.notebooks))

    def is_notebook(self, rel: str) -> bool:
        """Whether ``rel`` (a path in a submission) is one of the assignment's notebooks."""
        return "/" not in rel and rel.endswith(".ipynb") and rel[: -len(".ipynb")] in self.notebooks

    def rank(self, rel: str) -> int:
        """What the per-student bounds keep first: the assignment's notebooks, other notebooks, the rest."""
        return 0 if self.is_notebook(rel) else 1 if rel.endswith(".ipynb") else 2

    def unmatched(self, name: str, reason: str, path: Path) -> None:
        base = safe_name(name)
        dest_name, n = base, 1
        while dest_name in self._unmatched_names:
            n += 1
            stem, dot, suffix = base.rpartition(".")
            dest_name = f"{stem}-{n}.{suffix}" if dot and stem else f"{base}-{n}"
        self._unmatched_names.add(dest_name)
        dest = self.store / "unmatched" / dest_name
        _copy_file(path, dest, self.course.root)
        self.report.unmatched.append((name, reason, dest))

    def check_names(self, cand: Candidate) -> None:
        """Warn about a student folder whose notebooks are not named as the assignment's."""
        given = {Path(n).stem for n in cand.files if n.endswith(".ipynb") and "/" not in n}
        missing, extra = self.notebooks - given, given - self.notebooks
        if missing:
            self.report.warnings.append(
                f"{cand.student}: no {', '.join(sorted(m + '.ipynb' for m in missing))} "
                f"(found: {', '.join(sorted(e + '.ipynb' for e in extra)) or 'nothing'}); it will score zero there"
            )

    def keep_older(self, student: str, files: dict[str, Path], ts: datetime) -> None:
        dest = self.store / "older" / student / _stamp(ts)
        for name, src in files.items():
            _copy_file(src, dest / name, self.course.root)
        self.report.older.append((student, dest))

    def _existing(self, dest: Path) -> dict[str, Path]:
        """The files already collected in ``dest`` (a submitted folder), links left out."""
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
        try:
            entries = scan_folder(fd, f"{dest}/", [])
        finally:
            os.close(fd)
        return {e.rel: dest / e.rel for e in entries if e.rel != TIMESTAMP_FILE}

    def place(self, candidates: list[Candidate]) -> CollectReport:
        by_student: dict[str, list[Candidate]] = {}
        for c in candidates:
            by_student.setdefault(c.student, []).append(c)
        cd = self.course.coursedir()
        for c in candidates:
            c.timestamp = _in_zone(c.timestamp, self.tz)
        for student, cands in sorted(by_student.items()):
            cands.sort(key=lambda c: (c.timestamp, c.order))
            newest = cands[-1]
            for old in cands[:-1]:
                self.keep_older(student, old.files, old.timestamp)
            dest = Path(cd.format_path(cd.submitted_directory, student, self.assignment))
            link = _through_link(dest, self.course.root)
            if link is not None or (os.path.lexists(dest) and not dest.is_dir()):
                self.keep_older(student, newest.files, newest.timestamp)
                self.report.warnings.append(
                    f"{student}: {link or dest} is a link or not a folder; nothing written there "
                    "(the submission is kept with the older ones)"
                )
                continue
            if dest.is_dir():
                current = _read_timestamp(dest) or datetime.fromtimestamp(os.lstat(dest).st_mtime, timezone.utc)
                if current > newest.timestamp:
                    self.keep_older(student, newest.files, newest.timestamp)
                    self.report.warnings.append(f"{student}: the submission already collected is newer; kept it")
                    continue
                self.keep_older(student, self._existing(dest), current)
                shutil.rmtree(dest)
            _make_dirs(dest, self.course.root)
            for name, src in newest.files.items():
                _copy_file(src, dest / name, self.course.root)
            (dest / TIMESTAMP_FILE).write_text(newest.timestamp.isoformat(" "))
            self.check_names(newest)
            self.report.collected.append(newest)
        return self.report

    def write_manifest(self, source: Path | None) -> None:
        """Record the collected students (merged with earlier collects) and this collect's lists."""
        path = self.store / MANIFEST_FILE
        manifest: dict = {}
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            manifest = {}
        if not isinstance(manifest, dict) or not isinstance(manifest.get("students"), dict):
            manifest = {}
        now = datetime.now(timezone.utc).astimezone(self.tz).isoformat(" ", "seconds")
        students = manifest.get("students", {})
        for c in self.report.collected:
            students[c.student] = {
                "lms": c.lms,
                "lms_id": c.lms_id,
                "name": c.name,
                "sources": c.sources,
                "files": sorted(c.files),
                "time": c.timestamp.isoformat(" "),
                "time_from": c.time_from,
                "late": c.late,
                "from": str(source) if source else None,
                "collected_at": now,
            }
        manifest = {
            "assignment": self.assignment,
            "students": dict(sorted(students.items())),
            "last_collect": {
                "from": str(source) if source else None,
                "lms": self.report.lms,
                "at": now,
                "collected": sorted(c.student for c in self.report.collected),
                "older": [[s, str(p)] for s, p in self.report.older],
                "unmatched": [[n, r, str(p)] for n, r, p in self.report.unmatched],
                "skipped": [list(x) for x in self.report.skipped],
                "warnings": self.report.warnings,
            },
        }
        _make_dirs(self.store, self.course.root)
        tmp = path.with_name(f".{MANIFEST_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as fh:
            json.dump(manifest, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, path)
        self.report.manifest = path


def _lms_candidates(
    col: Collector,
    files: list[Staged],
    requested: str,
    roster: dict[str, RosterEntry] | None,
    time_from: str,
) -> list[Candidate]:
    """Candidates from the files of an LMS download; each file not collected is reported, none dropped."""
    lms = decide_lms([f.rel for f in files], requested)
    col.report.lms = lms if files or requested != "auto" else None
    if roster is not None and not files:
        col.report.warnings.append("the roster was not used: there are no LMS files")
    if not files:
        return []
    if lms is None:
        for f in files:
            col.unmatched(f.rel, "no Canvas, Moodle or Blackboard file name", f.path)
        return []
    known = set(roster) if roster is not None else None
    bb_prefix = blackboard_assignment_prefix([f.rel for f in files]) if lms == "blackboard" else None
    by_student: dict[str, list[tuple[Staged, LmsName, str]]] = {}
    for f in files:
        info = parse_lms_path(f.rel, lms, bb_prefix, known)
        if info is None:
            col.unmatched(f.rel, f"not a {lms} file name", f.path)
            continue
        if roster is not None:
            entry = roster.get(info.lms_id)
            if entry is None:
                col.unmatched(f.rel, f"{info.describe()} is not in the roster", f.path)
                continue
            student, name = entry.student_id, entry.name or info.name
        else:
            student, name = default_student_id(info.lms, info.lms_id, info.name), info.name
        by_student.setdefault(student, []).append((f, info, name))

    candidates = []
    for student, items in sorted(by_student.items()):
        kept, over = within_bounds(
            items, size=lambda it: it[0].size, rank=lambda it: col.rank(it[1].notebook_path(col.notebooks) or "")
        )
        for (f, info, _), reason in over:
            col.report.skipped.append((f.rel, f"{info.describe()}: {reason}"))
        if over:
            col.report.warnings.append(f"{student}: {len(over)} file(s) over the per-student bounds, skipped")
        attempts: dict[datetime | None, list[tuple[Staged, LmsName, str, str]]] = {}
        for f, info, name in kept:
            path = info.notebook_path(col.notebooks)
            if path is None:
                col.unmatched(f.rel, f"{info.describe()}: Blackboard's record of the attempt", f.path)
            elif not col.is_notebook(path):
                what = (
                    f"notebook name {path[: -len('.ipynb')]!r} is not the assignment's"
                    if path.endswith(".ipynb") and "/" not in path
                    else f"{path!r} is not one of the assignment's notebooks"
                )
                col.unmatched(f.rel, f"{info.describe()}: {what} ({col.expected()})", f.path)
            else:
                attempts.setdefault(info.timestamp, []).append((f, info, name, path))
        for attempt, group in attempts.items():
            best: dict[str, tuple[Staged, LmsName]] = {}
            for f, info, _, path in sorted(group, key=lambda g: (g[1].order, g[1].resubmission)):
                if path in best:  # Canvas: the same notebook uploaded again; the later upload is graded
                    earlier = best[path][0]
                    col.keep_older(student, {path: earlier.path}, earlier.mtime)
                best[path] = (f, info)
            first = group[0][1]
            chosen = list(best.values())
            candidates.append(
                Candidate(
                    student,
                    {path: f.path for path, (f, _) in best.items()},
                    attempt or max(f.mtime for f, _ in chosen),
                    order=max((*i.order, i.resubmission) for _, i in chosen),
                    origin=f"{first.describe()}: {', '.join(sorted(f.rel for f, _ in chosen))}",
                    lms=lms,
                    lms_id=first.lms_id,
                    name=group[0][2],
                    sources=sorted(f.rel for f, _ in chosen),
                    time_from="Blackboard's attempt time" if attempt else time_from,
                    late=any(i.late for _, i in chosen),
                )
            )
    return candidates


def _student_folder(col: Collector, name: str, fd: int, stager: Stager, source: Path) -> Candidate | None:
    """The candidate of one student's folder (``fd``): its regular files within the bounds, its newest time."""
    skipped = col.report.skipped
    if not is_safe_student_id(name):
        skipped.append((name + "/", "the folder's name cannot be a student id (a leading dot or dash?); not read"))
        return None
    label, folder_fd = name + "/", fd
    try:
        st = os.stat(col.assignment, dir_fd=fd, follow_symlinks=False)
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):  # <student>/<assignment>/<notebook>
        folder_fd = os.open(col.assignment, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
        label = f"{name}/{col.assignment}/"
    try:
        entries = scan_folder(folder_fd, label, skipped)
        if any(e.rel == TIMESTAMP_FILE for e in entries):
            col.report.warnings.append(
                f"{name}: {label}{TIMESTAMP_FILE} ignored (a student's own file is not trusted); "
                "the time used is the newest file's modification time"
            )
            entries = [e for e in entries if e.rel != TIMESTAMP_FILE]
        kept, over = within_bounds(entries, size=lambda e: e.size, rank=lambda e: col.rank(e.rel))
        for e, reason in over:
            skipped.append((label + e.rel, reason))
        if over:
            col.report.warnings.append(
                f"{name}: {len(entries)} files, {len(over)} of them over the per-student bounds and skipped "
                f"(collected {len(kept)}, the assignment's notebooks first)"
            )
        staged = stage_folder_files(folder_fd, kept, stager, label, skipped)
    finally:
        if folder_fd != fd:
            os.close(folder_fd)
    if not staged:
        col.report.warnings.append(f"{name}: empty folder, nothing to collect")
        return None
    return Candidate(
        name,
        {s.rel: s.path for s in staged},
        max(s.mtime for s in staged),
        origin=f"folder {source / name}",
        sources=[label + s.rel for s in staged],
        time_from="the newest file's modification time",
    )


def _read_folder(col: Collector, source: Path, stager: Stager) -> tuple[list[Candidate], list[Staged]]:
    """Student folders and LMS files of ``source``, read without following a link."""
    skipped = col.report.skipped
    candidates: list[Candidate] = []
    lms_files: list[Staged] = []
    root_fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with os.scandir(root_fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as err:
                skipped.append((entry.name, f"cannot be looked at: {err.strerror or err}"))
                continue
            if stat.S_ISDIR(st.st_mode):
                if entry.name == CHECKPOINTS:
                    continue
                try:
                    fd = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=root_fd)
                except OSError as err:
                    skipped.append((entry.name + "/", f"cannot be opened: {err.strerror or err}"))
                    continue
                try:
                    if is_moodle_folder(entry.name):  # one participant's files: bounded like a student's folder
                        label = entry.name + "/"
                        found = scan_folder(fd, label, skipped)
                        kept, over = within_bounds(found, size=lambda e: e.size, rank=lambda e: col.rank(e.rel))
                        skipped += [(label + e.rel, reason) for e, reason in over]
                        for s in stage_folder_files(fd, kept, stager, label, skipped):
                            lms_files.append(Staged(label + s.rel, s.path, s.size, s.mtime))
                    else:
                        cand = _student_folder(col, entry.name, fd, stager, source)
                        if cand is not None:
                            candidates.append(cand)
                finally:
                    os.close(fd)
            elif stat.S_ISREG(st.st_mode):
                try:
                    fd = open_beneath(root_fd, entry.name)
                except (Refused, OSError) as err:
                    skipped.append((entry.name, f"not read: {err}"))
                    continue
                try:
                    mtime = datetime.fromtimestamp(os.fstat(fd).st_mtime, timezone.utc)
                    path, size = stager.copy(lambda n, fd=fd: os.read(fd, n), MAX_FILE_BYTES)
                except Refused:
                    skipped.append((entry.name, f"over the bound of {megabytes(MAX_FILE_BYTES)} per file"))
                    continue
                finally:
                    os.close(fd)
                lms_files.append(Staged(entry.name, path, size, mtime))
            else:
                what = "a student folder or file that is " if stat.S_ISLNK(st.st_mode) else ""
                skipped.append((entry.name, what + describe_special(st, entry.name, root_fd)))
    finally:
        os.close(root_fd)
    return candidates, lms_files


def collect_folder(
    course: Course, assignment: str, source: Path, lms: str = "auto", roster: dict | None = None
) -> CollectReport:
    """Collect from a folder of student folders (and loose LMS-named files)."""
    col = Collector(course, assignment)
    with tempfile.TemporaryDirectory(prefix="autograder-collect-") as tmp:
        stager = Stager(Path(tmp))
        candidates, lms_files = _read_folder(col, source, stager)
        candidates += _lms_candidates(col, lms_files, lms, roster, "the file's modification time")
        col.place(candidates)
    col.write_manifest(source)
    return col.report


def collect_zip(
    course: Course, assignment: str, archive: Path, lms: str = "auto", roster: dict | None = None
) -> CollectReport:
    """Collect from an LMS zip: its regular-file members, extracted safely, named by one LMS's file names."""
    col = Collector(course, assignment)
    with tempfile.TemporaryDirectory(prefix="autograder-collect-") as tmp:
        try:
            staged = stage_zip(archive, Stager(Path(tmp)), col.report.skipped, col.tz)
        except (zipfile.BadZipFile, OSError, ValueError) as err:
            raise AutograderError(f"{archive} is not a readable zip file: {err}") from None
        col.place(_lms_candidates(col, staged, lms, roster, "the zip's time of the member"))
    col.write_manifest(archive)
    return col.report


def collect_exchange(course: Course, assignment: str) -> CollectReport:
    """Collect through nbgrader's exchange (students' ``nbgrader submit``); nbgrader keeps the newest."""
    from nbgrader.apps.api import NbGraderAPI

    api = NbGraderAPI(coursedir=course.coursedir(), config=course.config)
    outcome = api.collect(assignment, update=True)
    if not outcome["success"]:
        raise AutograderError(f"nbgrader collect {assignment} failed:\n{outcome.get('log', '')}")
    report = CollectReport(assignment, log=outcome.get("log", ""))
    return report


def collect(
    course: Course,
    assignment: str,
    source: Path | None,
    exchange: bool = False,
    lms: str = "auto",
    roster: Path | None = None,
) -> CollectReport:
    """Collect ``assignment`` from ``source`` (a folder or a zip) or, with ``exchange``, nbgrader's exchange.

    ``lms``: the LMS of a download (``auto``: decided from the file names); ``roster``: a CSV file mapping
    LMS ids to the course's student ids (:func:`autograder.lms.read_roster`).
    """
    course.released_notebooks(assignment)  # a clear error when it was never released
    if lms not in ("auto", *LMS_NAMES):
        raise AutograderError(f"unknown LMS {lms!r}: say {', '.join(LMS_NAMES)} or auto")
    if exchange:
        if lms != "auto" or roster is not None:
            raise AutograderError("--lms and --roster apply to --from, not to --exchange")
        return collect_exchange(course, assignment)
    entries = read_roster(roster) if roster is not None else None
    if source is None or not source.exists():
        raise AutograderError(f"nothing to collect from: {source} does not exist")
    if source.is_dir():
        return collect_folder(course, assignment, source.resolve(), lms, entries)
    if zipfile.is_zipfile(source):
        return collect_zip(course, assignment, source.resolve(), lms, entries)
    raise AutograderError(f"{source} is neither a folder nor a zip file")
