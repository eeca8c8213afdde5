"""``autograder collect``: bring submissions into ``submitted/<student>/<assignment>/``.

Sources:

- a folder of ``<student>/<notebook>.ipynb`` (or ``<student>/<assignment>/<notebook>.ipynb``); loose files
  at its top level are read as LMS downloads;
- an LMS zip download: extracted by nbgrader's ``ZipCollectApp`` (its extractor), each file named through
  :class:`autograder.lms.LmsCollector`;
- nbgrader's exchange (``--exchange``), through nbgrader's own ``collect``.

Nothing is dropped silently: files that match no pattern, or name a notebook the assignment does not have,
are listed and kept in ``collected/<assignment>/unmatched/``; when a student has several submissions, the
newest wins and the older ones are listed and kept in ``collected/<assignment>/older/<student>/``.
"""

from __future__ import annotations

import copy
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .course import AutograderError, Course, quiet_logger
from .lms import parse_lms_name

TIMESTAMP_FILE = "timestamp.txt"


@dataclass
class Candidate:
    """One student's submission found in the source: its files and when it was made."""

    student: str
    files: dict[str, Path]  # name in the submission -> file in the source
    timestamp: datetime
    order: tuple = ()
    origin: str = ""


@dataclass
class CollectReport:
    """What ``collect`` did; ``text()`` lists everything a TA must look at."""

    assignment: str
    collected: list[Candidate] = field(default_factory=list)
    older: list[tuple[str, Path]] = field(default_factory=list)
    unmatched: list[tuple[str, str, Path]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    log: str = ""

    def text(self) -> str:
        lines = [f"collected {len(self.collected)} submission(s) of {self.assignment}"]
        for c in sorted(self.collected, key=lambda c: c.student):
            lines.append(f"  {c.student}: {', '.join(sorted(c.files))} ({c.timestamp:%Y-%m-%d %H:%M:%S}, {c.origin})")
        if self.older:
            lines.append(f"older submissions kept ({len(self.older)}); the newest of each student is graded:")
            lines += [f"  {student}: kept in {path}" for student, path in self.older]
        if self.unmatched:
            lines.append(f"UNMATCHED files ({len(self.unmatched)}), not collected, kept for you to look at:")
            lines += [f"  {name}: {reason} (kept in {path})" for name, reason, path in self.unmatched]
        lines += [f"warning: {w}" for w in self.warnings]
        if self.log:
            lines.append(self.log.rstrip())
        return "\n".join(lines)


def _stamp(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d_%H-%M-%S_%f")


def _read_timestamp(folder: Path) -> datetime | None:
    from nbgrader.utils import parse_utc

    path = folder / TIMESTAMP_FILE
    if path.is_file() and path.read_text().strip():
        return parse_utc(path.read_text().strip()).replace(tzinfo=None)
    return None


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime)


class Collector:
    """Place candidates into the course: newest wins, older kept, unmatched kept, all of it reported."""

    def __init__(self, course: Course, assignment: str) -> None:
        self.course = course
        self.assignment = assignment
        self.notebooks = set(course.released_notebooks(assignment))
        self.report = CollectReport(assignment)
        self.store = course.root / "collected" / assignment

    def unmatched(self, name: str, reason: str, path: Path) -> None:
        dest = self.store / "unmatched" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
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

    def _keep_older(self, student: str, files: dict[str, Path], ts: datetime) -> None:
        dest = self.store / "older" / student / _stamp(ts)
        for name, src in files.items():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
        self.report.older.append((student, dest))

    def place(self, candidates: list[Candidate]) -> CollectReport:
        by_student: dict[str, list[Candidate]] = {}
        for c in candidates:
            by_student.setdefault(c.student, []).append(c)
        cd = self.course.coursedir()
        for student, cands in sorted(by_student.items()):
            cands.sort(key=lambda c: (c.timestamp, c.order))
            newest = cands[-1]
            for old in cands[:-1]:
                self._keep_older(student, old.files, old.timestamp)
            dest = Path(cd.format_path(cd.submitted_directory, student, self.assignment))
            current = _read_timestamp(dest) if dest.is_dir() else None
            if dest.is_dir():
                current = current or _mtime(dest)
                if current > newest.timestamp:
                    self._keep_older(student, newest.files, newest.timestamp)
                    self.report.warnings.append(f"{student}: the submission already collected is newer; kept it")
                    continue
                existing = {p.relative_to(dest).as_posix(): p for p in dest.rglob("*") if p.is_file()}
                existing.pop(TIMESTAMP_FILE, None)
                self._keep_older(student, existing, current)
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            for name, src in newest.files.items():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)
            (dest / TIMESTAMP_FILE).write_text(newest.timestamp.isoformat(" "))
            self.check_names(newest)
            self.report.collected.append(newest)
        return self.report


def _lms_candidates(col: Collector, files: list[tuple[str, Path, datetime]]) -> list[Candidate]:
    """Candidates from loose LMS-named files; each unrecognised or misnamed file is reported, not dropped."""
    out: dict[tuple, Candidate] = {}
    for relpath, path, fallback_time in files:
        info = parse_lms_name(relpath)
        if info is None:
            col.unmatched(path.name, "no LMS file-name pattern matches it", path)
            continue
        if info["notebook"] not in col.notebooks:
            expected = ", ".join(sorted(n + ".ipynb" for n in col.notebooks))
            col.unmatched(path.name, f"notebook name {info['notebook']!r} is not the assignment's ({expected})", path)
            continue
        ts = info["timestamp"] or fallback_time
        key = (info["student_id"], ts, info["order"])
        cand = out.setdefault(key, Candidate(info["student_id"], {}, ts, info["order"], f"{info['lms']}: {relpath}"))
        cand.files[info["notebook"] + ".ipynb"] = path
    return list(out.values())


def collect_folder(course: Course, assignment: str, source: Path) -> CollectReport:
    """Collect from a folder of student folders (and loose LMS-named files)."""
    col = Collector(course, assignment)
    candidates, loose = [], []
    for entry in sorted(source.iterdir()):
        if entry.is_dir():
            folder = entry / assignment if (entry / assignment).is_dir() else entry
            files = {
                p.relative_to(folder).as_posix(): p
                for p in sorted(folder.rglob("*"))
                if p.is_file() and p.name != TIMESTAMP_FILE and ".ipynb_checkpoints" not in p.parts
            }
            if not files:
                col.report.warnings.append(f"{entry.name}: empty folder, nothing to collect")
                continue
            ts = _read_timestamp(folder) or max(_mtime(p) for p in files.values())
            candidates.append(Candidate(entry.name, files, ts, origin=f"folder {entry}"))
        elif entry.is_file():
            loose.append((entry.name, entry, _mtime(entry)))
    candidates += _lms_candidates(col, loose)
    return col.place(candidates)


def collect_zip(course: Course, assignment: str, archive: Path) -> CollectReport:
    """Collect from an LMS zip: nbgrader's ``ZipCollectApp`` extracts it, LMS names say whose each file is."""
    from nbgrader.apps.zipcollectapp import ZipCollectApp
    from nbgrader.utils import capture_log

    try:
        with zipfile.ZipFile(archive) as zf:
            times = {info.filename.rstrip("/"): datetime(*info.date_time) for info in zf.infolist()}
    except zipfile.BadZipFile as err:
        raise AutograderError(f"{archive} is not a readable zip file: {err}") from None
    col = Collector(course, assignment)
    config = copy.deepcopy(course.config)
    config.CourseDirectory.assignment_id = assignment
    config.ZipCollectApp.collector_plugin = "autograder.lms.LmsCollector"
    app = ZipCollectApp(config=config, log=quiet_logger("zip_collect"))
    app.coursedir = course.coursedir(assignment_id=assignment)
    archive_dir = Path(app._format_collect_path(app.archive_directory))
    extracted = Path(app._format_collect_path(app.extracted_directory))
    if archive_dir.exists():
        shutil.rmtree(archive_dir)
    archive_dir.mkdir(parents=True)
    shutil.copy2(archive, archive_dir / archive.name)
    app.init_plugins()
    outcome = capture_log(_Step(app, app.extract_archive_files))
    if not outcome["success"]:
        raise AutograderError(f"could not extract {archive}:\n{outcome.get('log', '')}")
    root = extracted / archive.stem  # nbgrader extracts each archive into a folder of its name
    root = root if root.is_dir() else extracted
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        files.append((rel, path, times.get(rel, _mtime(path))))
    return col.place(_lms_candidates(col, files))


class _Step:
    """Adapter so that nbgrader's ``capture_log`` can run one step of an app and capture its log."""

    def __init__(self, app, step) -> None:
        self.log = app.log
        self.start = step


def collect_exchange(course: Course, assignment: str) -> CollectReport:
    """Collect through nbgrader's exchange (students' ``nbgrader submit``); nbgrader keeps the newest."""
    from nbgrader.apps.api import NbGraderAPI

    api = NbGraderAPI(coursedir=course.coursedir(), config=course.config)
    outcome = api.collect(assignment, update=True)
    if not outcome["success"]:
        raise AutograderError(f"nbgrader collect {assignment} failed:\n{outcome.get('log', '')}")
    report = CollectReport(assignment, log=outcome.get("log", ""))
    return report


def collect(course: Course, assignment: str, source: Path | None, exchange: bool = False) -> CollectReport:
    """Collect ``assignment`` from ``source`` (a folder or a zip) or, with ``exchange``, nbgrader's exchange."""
    course.released_notebooks(assignment)  # a clear error when it was never released
    if exchange:
        return collect_exchange(course, assignment)
    if source is None or not source.exists():
        raise AutograderError(f"nothing to collect from: {source} does not exist")
    if source.is_dir():
        return collect_folder(course, assignment, source.resolve())
    if zipfile.is_zipfile(source):
        return collect_zip(course, assignment, source.resolve())
    raise AutograderError(f"{source} is neither a folder nor a zip file")
