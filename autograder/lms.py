"""The file names of LMS downloads (Canvas, Moodle, Blackboard), the course roster, and ``LmsCollector``.

Each LMS writes the student's identity in a place of its own; only that place is read, and only with the
pattern of the LMS the download comes from (``autograder collect`` decides it once per download):

- Canvas: ``smithjohn_12345_67890_notebook.ipynb`` (name, user id, file id, the uploaded name;
  ``smithjohn_LATE_12345_...`` when late; ``notebook-1.ipynb`` for a file uploaded again). LMS id: the user
  id, the first number after the name.
- Moodle: ``John Smith_12345_assignsubmission_file_notebook.ipynb``, or the folder
  ``John Smith_12345_assignsubmission_file_/`` holding the files. LMS id: the participant number.
- Blackboard: ``Assignment_jsmith_attempt_2024-01-01-10-00-00_notebook.ipynb``. LMS id: the user name; the
  attempt time orders a student's attempts.

Canvas and Blackboard downloads are flat: the identity is at the start of the file's own name (whatever a
student named the upload comes after it). Moodle's is the first path component that carries the Moodle
prefix: folders a student uploaded come below it. Blackboard puts the assignment's name before the user
name, and both may hold ``_``: the assignment's name is the part all of a download's files share, so two
users never become one (a download of a single user takes the user name to be the part after the last ``_``).

Without a roster the course's student id is ``<name>_<LMS id>`` for Canvas and Moodle (``smithjohn_12345``,
``john_smith_12345``: readable, and unique because the LMS id is) and the user name for Blackboard. A roster
(:func:`read_roster`, a CSV file ``lms_id,student_id,name,email``) maps LMS ids to the course's own ids.

``LmsCollector`` reads the same names for nbgrader itself:
``nbgrader zip_collect --collector=autograder.lms.LmsCollector --LmsCollector.lms=canvas ID``.
Without ``LmsCollector.lms`` a name that more than one LMS would read is not collected.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Enum

from .course import AutograderError

LMS_NAMES = ("canvas", "moodle", "blackboard")

#: LMS name -> regular expression; Canvas's and Blackboard's read a file's own name, Moodle's one path component.
LMS_PATTERNS = {
    "canvas": r"^(?P<name>[A-Za-z0-9.-]+?)(?P<late>_LATE)?_(?P<lms_id>\d+)_(?P<file_id>\d+)_(?P<file>.+)$",
    "moodle": r"^(?P<name>[^_/]+)_(?P<lms_id>\d+)_assignsubmission_file_(?P<file>.*)$",
    "blackboard": r"^(?P<prefix>.+?)_attempt_(?P<timestamp>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})"
    r"(?:_(?P<file>.+)|(?P<record>\.txt))$",
}
_RE = {lms: re.compile(regex, re.DOTALL) for lms, regex in LMS_PATTERNS.items()}

#: Canvas renames a file uploaded again under a name already used: ``notebook-1.ipynb``, ``notebook-2.ipynb``.
_RESUBMISSION = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)(?P<suffix>\.[^./]+)$")

#: A student id the course can use as a folder name.
_SAFE_ID = re.compile(r"^[\w@+=,~][\w.@+=,~ -]{0,127}$")


@dataclass(frozen=True)
class LmsName:
    """What an LMS download's file name says: whose file it is, what the student uploaded, and when."""

    lms: str
    lms_id: str  #: Canvas user id, Moodle participant number, Blackboard user name
    name: str  #: the student's name as the LMS writes it (Blackboard: the user name)
    path: str | None  #: the file's path in the submission as uploaded; None for Blackboard's attempt record
    timestamp: datetime | None = None  #: Blackboard's attempt time
    order: tuple[int, ...] = ()  #: Canvas: file id (later uploads have higher ids)
    late: bool = False  #: Canvas's ``_LATE`` mark

    def notebook_path(self, notebooks: set[str]) -> str | None:
        """The path as the assignment would name it: Canvas's ``-1`` taken off unless the name is the notebook's."""
        if self.path is None:
            return None
        if self.lms == "canvas" and Path(self.path).stem not in notebooks:
            m = _RESUBMISSION.match(self.path)
            if m:
                return m["stem"] + m["suffix"]
        return self.path

    @property
    def resubmission(self) -> int:
        m = _RESUBMISSION.match(self.path or "") if self.lms == "canvas" else None
        return int(m["n"]) if m else 0

    def describe(self) -> str:
        who = f"{self.lms} user {self.lms_id}"
        return who if self.name == self.lms_id else f"{who} ({self.name})"


def student_slug(name: str) -> str:
    """A student id from a name as the LMS writes it: ``"Ada Lovelace"`` -> ``"ada_lovelace"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9.-]+", "_", ascii_name.strip().lower()).strip("_.-") or "unknown"


def is_safe_student_id(student: str) -> bool:
    """Whether ``student`` can name a folder of the course: no separator, no leading dot or dash, 1-128 characters."""
    return bool(_SAFE_ID.match(student)) and student.strip() == student


def default_student_id(lms: str, lms_id: str, name: str) -> str:
    """The course's student id of an LMS user without a roster: ``<name>_<LMS id>``; Blackboard's user name."""
    if lms != "blackboard":
        return f"{student_slug(name)}_{lms_id}"
    if is_safe_student_id(lms_id):
        return lms_id
    return f"{student_slug(lms_id)}-{hashlib.sha256(lms_id.encode()).hexdigest()[:8]}"


def _base(relpath: str) -> str:
    return relpath.rsplit("/", 1)[-1]


def matches(lms: str, relpath: str) -> bool:
    """Whether the file at ``relpath`` (``/``-separated, in the download) has a name of ``lms``."""
    if lms == "moodle":
        return _moodle(relpath) is not None
    if lms == "blackboard":
        return _blackboard(relpath, None) is not None
    return _RE[lms].match(_base(relpath)) is not None


def is_moodle_folder(name: str) -> bool:
    """Whether ``name`` is Moodle's folder of a participant's files: ``John Smith_12345_assignsubmission_file_``."""
    m = _RE["moodle"].match(name)
    return bool(m) and not m["file"]


def decide_lms(relpaths: list[str], requested: str = "auto") -> str | None:
    """The LMS of a download: ``requested``, or (``auto``) the one LMS whose names cover every file any LMS reads.

    ``None`` when no file has an LMS's name. An error, with examples, when the names fit several LMSs.
    """
    if requested != "auto":
        if requested not in LMS_NAMES:
            raise AutograderError(f"unknown LMS {requested!r}: say canvas, moodle, blackboard or auto")
        return requested
    found = {lms: [p for p in relpaths if matches(lms, p)] for lms in LMS_NAMES}
    every = set().union(*(set(v) for v in found.values()))
    if not every:
        return None
    covering = [lms for lms in LMS_NAMES if len(set(found[lms])) == len(every)]
    if len(covering) == 1:
        return covering[0]
    examples = []
    for lms in LMS_NAMES:
        only = [p for p in found[lms] if not any(matches(o, p) for o in LMS_NAMES if o != lms)]
        if found[lms]:
            examples.append(f"{lms}: {', '.join((only or found[lms])[:3])}")
    raise AutograderError(
        "the file names fit more than one LMS (" + "; ".join(examples) + "); say which LMS the download comes "
        "from with --lms canvas, --lms moodle or --lms blackboard (files without its names are then kept as unmatched)"
    )


def _canvas(relpath: str) -> LmsName | None:
    m = _RE["canvas"].match(_base(relpath))
    if not m:
        return None
    return LmsName("canvas", m["lms_id"], m["name"], m["file"], order=(int(m["file_id"]),), late=bool(m["late"]))


def _moodle(relpath: str) -> LmsName | None:
    parts = relpath.split("/")
    for i, part in enumerate(parts):
        m = _RE["moodle"].match(part)
        if not m:
            continue
        below = parts[i + 1 :]
        if m["file"] and not below:  # flat: the uploaded name follows the prefix
            return LmsName("moodle", m["lms_id"], m["name"], m["file"])
        if not m["file"] and below:  # a folder per participant
            return LmsName("moodle", m["lms_id"], m["name"], "/".join(below))
        return None
    return None


def _blackboard(relpath: str, assignment_prefix: str | None, known_ids: set[str] | None = None) -> LmsName | None:
    m = _RE["blackboard"].match(_base(relpath))
    if not m:
        return None
    prefix = m["prefix"]
    if assignment_prefix and prefix.startswith(assignment_prefix + "_"):
        user = prefix[len(assignment_prefix) + 1 :]
    else:
        user = prefix.rpartition("_")[2] if "_" in prefix else ""
    if known_ids and user not in known_ids:  # the roster's user names tell where the assignment's name ends
        splits = [prefix[i + 1 :] for i, c in enumerate(prefix) if c == "_"]
        user = max((u for u in splits if u in known_ids), key=len, default=user)
    if not user:
        return None
    timestamp = datetime.strptime(m["timestamp"], "%Y-%m-%d-%H-%M-%S")
    return LmsName("blackboard", user, user, m["file"], timestamp=timestamp)


def blackboard_assignment_prefix(relpaths: list[str]) -> str | None:
    """The assignment's name in a Blackboard download: the ``_``-ended part that all its files' names share."""
    prefixes = sorted({m["prefix"] for m in (_RE["blackboard"].match(_base(p)) for p in relpaths) if m})
    if len(prefixes) < 2:
        return None
    common = os.path.commonprefix(prefixes)
    cut = common.rfind("_")
    return common[:cut] if cut > 0 else None


def parse_lms_path(
    relpath: str, lms: str, blackboard_prefix: str | None = None, known_ids: set[str] | None = None
) -> LmsName | None:
    """What ``lms``'s name of the file at ``relpath`` says, or ``None`` when it is not such a name.

    For Blackboard, ``blackboard_prefix`` is the assignment's name in the download
    (:func:`blackboard_assignment_prefix`) and ``known_ids`` the roster's user names, when there is one.
    """
    if lms == "canvas":
        return _canvas(relpath)
    if lms == "moodle":
        return _moodle(relpath)
    if lms == "blackboard":
        return _blackboard(relpath, blackboard_prefix, known_ids)
    raise ValueError(f"unknown LMS {lms!r}")


def parse_lms_name(relpath: str, lms: str | None = None) -> dict | None:
    """``{"lms", "lms_id", "student_id", "notebook", "timestamp", "order", "late"}`` for a notebook's name.

    With ``lms`` only that LMS's pattern is tried; without it, a name more than one LMS would read is ``None``
    (a student's upload may be named like another LMS's file). ``student_id`` is :func:`default_student_id`.
    """
    found = [p for p in (parse_lms_path(relpath, x) for x in ([lms] if lms else LMS_NAMES)) if p is not None]
    if len(found) != 1 or found[0].path is None or "/" in found[0].path or not found[0].path.endswith(".ipynb"):
        return None
    info = found[0]
    notebook = Path(info.notebook_path(set()) or "").stem
    return {
        "lms": info.lms,
        "lms_id": info.lms_id,
        "student_id": default_student_id(info.lms, info.lms_id, info.name),
        "notebook": notebook,
        "timestamp": info.timestamp,
        "order": (*info.order, info.resubmission),
        "late": info.late,
    }


@dataclass(frozen=True)
class RosterEntry:
    """One student of the roster: the LMS's id, the course's id, and (optionally) name and e-mail."""

    lms_id: str
    student_id: str
    name: str = ""
    email: str = ""
    line: int = 0


ROSTER_COLUMNS = ("lms_id", "student_id", "name", "email")
#: The optional ``role`` column: students (the default when empty) and the course's staff, whom the course hub
#: (``autograder hub start``) gives Formgrader and the course directory. Staff rows are not LMS submitters.
ROLES = ("student", "ta", "instructor")


def roster_rows(path: Path, required: tuple[str, ...], columns: str):
    """The rows of the CSV roster at ``path`` as ``(line, {column: value})``, blank lines skipped.

    An unreadable file, text that is not UTF-8, a header without the ``required`` columns (``columns`` says
    which the header should name) and a row with more fields than the header are errors naming the line.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise AutograderError(f"cannot read the roster {path}: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise AutograderError(f"roster {path}, line {line}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as err:
        raise AutograderError(f"roster {path}, line {reader.line_num}: {err}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise AutograderError(
            f"roster {path}, line 1: the header must name the columns {columns}; it has {','.join(header) or 'nothing'}"
        )
    reader.fieldnames = header
    try:
        for row in reader:
            line = reader.line_num
            values = {k: (v or "").strip() for k, v in row.items() if k != "\0extra" and isinstance(v, str)}
            if not any(values.values()) and "\0extra" not in row:
                continue  # a blank line
            if "\0extra" in row:
                raise AutograderError(f"roster {path}, line {line}: more fields than the header's {len(header)}")
            yield line, values
    except csv.Error as err:
        raise AutograderError(f"roster {path}, line {reader.line_num}: {err}") from None


def roster_role(path: Path, line: int, values: dict[str, str]) -> str:
    """The ``role`` of a roster row (``student`` when the column is missing or empty); an unknown one is an error."""
    role = values.get("role", "").lower() or "student"
    if role not in ROLES:
        raise AutograderError(f"roster {path}, line {line}: role {values['role']!r} is not one of {', '.join(ROLES)}")
    return role


def read_roster(path: Path) -> dict[str, RosterEntry]:
    """The roster at ``path`` by LMS id; an unreadable file, a bad row or a repeated id is an error naming the line.

    A CSV file with a header; the columns ``lms_id`` and ``student_id`` are required, ``name`` and ``email``
    optional, others ignored. ``student_id`` is the course's id (or login) of the student. Rows whose ``role``
    is ``ta`` or ``instructor`` are the course's staff (for the course hub), not students, and are skipped.
    """
    by_lms: dict[str, RosterEntry] = {}
    by_student: dict[str, RosterEntry] = {}
    columns = f"{','.join(ROSTER_COLUMNS)} (lms_id and student_id required)"
    for line, values in roster_rows(path, ROSTER_COLUMNS[:2], columns):
        if roster_role(path, line, values) != "student":
            continue
        entry = RosterEntry(
            values.get("lms_id", ""), values.get("student_id", ""), values.get("name", ""),
            values.get("email", ""), line,
        )  # fmt: skip
        if not entry.lms_id or not entry.student_id:
            raise AutograderError(f"roster {path}, line {line}: lms_id and student_id must both be given")
        if not is_safe_student_id(entry.student_id):
            raise AutograderError(
                f"roster {path}, line {line}: student_id {entry.student_id!r} cannot name a folder "
                "(letters, digits, spaces and . _ @ + = , ~ - only, not starting with . or -, 1-128 characters)"
            )
        for key, seen, what in ((entry.lms_id, by_lms, "lms_id"), (entry.student_id, by_student, "student_id")):
            if key in seen:
                raise AutograderError(
                    f"roster {path}: {what} {key!r} appears twice, on lines {seen[key].line} and {line}"
                )
            seen[key] = entry
    return by_lms


class LmsCollector(FileNameCollectorPlugin):
    """Collector plugin for ``ZipCollectApp`` that knows Canvas, Moodle and Blackboard file names."""

    lms = Enum(
        ["", *LMS_NAMES],
        default_value="",
        help="the LMS of the download; empty: any, but a name that more than one LMS would read is not collected",
    ).tag(config=True)

    def collect(self, submitted_file: str) -> dict | None:
        # the file's name and its folder's (Moodle puts each student's files in a folder of their own)
        relpath = "/".join(submitted_file.replace(os.sep, "/").split("/")[-2:])
        info = parse_lms_name(relpath, self.lms or None)
        if info is None:
            self.log.warning("no LMS file-name pattern (or more than one) matches %s", submitted_file)
            return None
        out = {"student_id": info["student_id"], "file_id": info["notebook"] + ".ipynb"}
        if info["timestamp"] is not None:
            # Blackboard's attempt time is a wall-clock time: with the course's zone (c.Exchange.timezone, else
            # this machine's) it names an instant, which nbgrader would otherwise read as UTC
            from dateutil import tz

            from .deadlines import config_timezone

            zone = config_timezone(self.config) or tz.tzlocal()
            out["timestamp"] = info["timestamp"].replace(tzinfo=zone).isoformat(" ")
        return out
