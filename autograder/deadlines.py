"""Due dates and extensions in nbgrader's gradebook (``autograder due`` and ``autograder extend``).

nbgrader keeps the due date on the assignment (``Assignment.duedate``) and a student's extension on their
submission (``SubmittedAssignment.extension``); a submission's ``total_seconds_late`` is its timestamp minus
the due date plus the extension. The gradebook stores naive UTC times; everything here is timezone-aware:

- a time given with an offset (ISO 8601: ``2025-03-01T17:00+01:00``, ``2025-03-01 16:00Z``) is that instant;
- a time without one is read in ``--timezone`` (an IANA name such as ``Europe/Berlin``), else in the course's
  timezone, nbgrader's own setting ``c.Exchange.timezone`` in ``nbgrader_config.py`` (the zone nbgrader's
  exchange stamps submissions in); with neither, it is refused rather than guessed.

Changing a due date or an extension also reassesses the late penalties of the submissions already graded
(:func:`reassess_penalties`, with the course's ``AssignLatePenalties.plugin_class``), so the gradebook and
every export agree without grading again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from .course import AutograderError, Course

#: ``c.Exchange.timezone``: nbgrader's setting for the course's timezone, read here when the course sets it.
TIMEZONE_SETTING = "Exchange.timezone"


def zone(name: str, where: str = "--timezone") -> tzinfo:
    """The timezone ``name`` (an IANA name, ``UTC``, or an offset such as ``+05:30``); a clear error if unknown."""
    from dateutil import tz

    text = name.strip()
    m = re.fullmatch(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?", text)
    if m:
        sign = 1 if m[1] == "+" else -1
        return timezone(sign * timedelta(hours=int(m[2]), minutes=int(m[3] or 0)))
    found = tz.gettz(text) if text else None
    if found is None:
        raise AutograderError(
            f"{where}: unknown timezone {name!r} (use an IANA name such as Europe/Berlin or America/New_York, "
            "UTC, or an offset such as +05:30)"
        )
    return found


def configured_timezone(course: Course) -> tzinfo | None:
    """The course's timezone, ``c.Exchange.timezone``, when its configuration sets one; else ``None``."""
    return config_timezone(course.config, f"{TIMEZONE_SETTING} in {course.root / 'nbgrader_config.py'}")


def config_timezone(config, where: str = TIMEZONE_SETTING) -> tzinfo | None:
    """``c.Exchange.timezone`` of an nbgrader ``Config`` when it is set; else ``None``."""
    if "Exchange" in config and "timezone" in config.Exchange:
        return zone(str(config.Exchange.timezone), where)
    return None


def course_timezone(course: Course) -> tzinfo:
    """The zone for wall-clock times without an offset (zip members, Blackboard attempts): the course's, else
    this machine's local zone (what such times were always taken to be)."""
    from dateutil import tz

    return configured_timezone(course) or tz.tzlocal()


def parse_when(text: str, course: Course, timezone_name: str | None = None, what: str = "WHEN") -> datetime:
    """The instant ``text`` names, timezone-aware: an ISO 8601 time with an offset, or a local time read in
    ``timezone_name`` (``--timezone``) or else the course's timezone; an error naming ``text`` otherwise."""
    from dateutil import parser

    try:
        when = parser.isoparse(text.strip().replace(" ", "T", 1))
    except (ValueError, OverflowError):
        raise AutograderError(
            f"{what} {text!r} is not a date and time in ISO 8601 form (e.g. 2025-03-01T17:00+01:00, "
            "or 2025-03-01 17:00 with --timezone)"
        ) from None
    if when.tzinfo is not None:
        if timezone_name is not None:
            raise AutograderError(f"{what} {text!r} has its own UTC offset; leave out --timezone or the offset")
        return when
    if timezone_name is not None:
        return _localize(when, zone(timezone_name), timezone_name, text, what)
    configured = configured_timezone(course)
    if configured is None:
        raise AutograderError(
            f"{what} {text!r} has no UTC offset and the course sets no timezone: add the offset "
            f"(e.g. {when:%Y-%m-%dT%H:%M}+01:00), pass --timezone (e.g. Europe/Berlin), or set "
            f"c.{TIMEZONE_SETTING} in {course.root / 'nbgrader_config.py'}"
        )
    return _localize(when, configured, str(course.config.Exchange.timezone), text, what)


def _localize(naive: datetime, tz: tzinfo, label: str, text: str, what: str) -> datetime:
    """``naive`` read as a wall-clock time in ``tz``; refused when that time is skipped or repeated there (DST)."""
    from dateutil import tz as dtz

    aware = naive.replace(tzinfo=tz)
    if not dtz.datetime_exists(aware):
        raise AutograderError(f"{what} {text!r} does not exist in {label}: the clocks skip it (daylight saving time)")
    if dtz.datetime_ambiguous(aware):
        raise AutograderError(
            f"{what} {text!r} happens twice in {label} (the clocks go back): give the UTC offset instead"
        )
    return aware


def to_gradebook(when: datetime) -> datetime:
    """An aware time as nbgrader's gradebook stores it: naive UTC."""
    return when.astimezone(timezone.utc).replace(tzinfo=None)


def from_gradebook(value: datetime | None) -> datetime | None:
    """A naive UTC time from nbgrader's gradebook, made aware."""
    return None if value is None else value.replace(tzinfo=timezone.utc)


def describe(when: datetime | None, tz: tzinfo | None = None) -> str:
    """``2025-03-01 17:00:00 CET (16:00:00 UTC)``: the time in ``tz`` (when given) and in UTC."""
    if when is None:
        return "none"
    utc = when.astimezone(timezone.utc)
    if tz is None:
        return f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    local = utc.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or local.strftime('%z')} ({utc:%Y-%m-%d %H:%M:%S} UTC)"


def hours(delta: timedelta | None) -> str:
    """A duration in hours for messages: ``26 h``, ``1.5 h``."""
    return "0 h" if delta is None else f"{delta.total_seconds() / 3600:g} h"


@dataclass
class PenaltyChange:
    """A late penalty that :func:`reassess_penalties` changed."""

    student: str
    seconds_late: float
    before: float
    after: float


def late_plugin(course: Course):
    """The course's late-penalty plugin, made as nbgrader's ``AssignLatePenalties`` makes it."""
    from nbgrader.preprocessors import AssignLatePenalties

    assign = AssignLatePenalties(config=course.config)
    return assign.plugin_class(parent=assign)


def penalties_in(gb, plugin, assignment: str, student: str) -> dict[str, float | None]:
    """Set the late penalty of each notebook of ``student``'s submission in the open gradebook ``gb`` as nbgrader's
    ``AssignLatePenalties`` does (the plugin's penalty, kept between 0 and the notebook's score); not committed."""
    submission = gb.find_submission(assignment, student)
    seconds = submission.total_seconds_late
    found = {}
    for nb in submission.notebooks:
        penalty = None
        if seconds > 0:
            penalty = plugin.late_submission_penalty(student, nb.score, seconds)
            if penalty is not None:
                penalty = min(max(float(penalty), 0.0), float(nb.score))
        nb.late_submission_penalty = penalty
        found[nb.name] = penalty
    return found


def _graded(submission) -> bool:
    """Whether any cell of the submission has a score (an extension alone makes a submission with none)."""
    return any(g.auto_score is not None or g.manual_score is not None for nb in submission.notebooks for g in nb.grades)


def reassess_penalties(course: Course, assignment: str, students: list[str] | None = None) -> list[PenaltyChange]:
    """Recompute the late penalties of the graded submissions of ``assignment`` (all, or ``students``) from the
    gradebook's due date, extensions and timestamps with the course's plugin; return those that changed."""
    from .pipeline.job import quiet_gradebook_warnings

    quiet_gradebook_warnings()
    plugin = late_plugin(course)
    changes = []
    with course.gradebook(assignment) as gb:
        for submission in list(gb.find_assignment(assignment).submissions):
            student = submission.student_id
            if (students is not None and student not in students) or not _graded(submission):
                continue
            before = sum(nb.late_submission_penalty or 0.0 for nb in submission.notebooks)
            after = sum(p or 0.0 for p in penalties_in(gb, plugin, assignment, student).values())
            if abs(after - before) > 1e-9:
                changes.append(PenaltyChange(student, submission.total_seconds_late, before, after))
        gb.db.commit()
    return changes


def _find_assignment(gb, assignment: str):
    from nbgrader.api import MissingEntry

    try:
        return gb.find_assignment(assignment)
    except MissingEntry:
        raise AutograderError(
            f"assignment {assignment!r} is not in the gradebook: run `autograder release {assignment}` first"
        ) from None


@dataclass
class DueReport:
    """What ``autograder due`` set or shows: the due date and the extensions given."""

    assignment: str
    due: datetime | None
    previous: datetime | None
    extensions: dict[str, timedelta]
    changes: list[PenaltyChange]
    tz: tzinfo | None

    def text(self) -> str:
        lines = [f"{self.assignment}: due {describe(self.due, self.tz)}"]
        if self.previous != self.due:
            lines[0] += f" (was {describe(self.previous, self.tz)})"
        for student, ext in sorted(self.extensions.items()):
            until = describe(self.due + ext, self.tz) if self.due else "no due date"
            lines.append(f"  extension {student}: {hours(ext)}, until {until}")
        lines += [_change_line(c) for c in self.changes]
        return "\n".join(lines)


def _change_line(c: PenaltyChange) -> str:
    late = f"{c.seconds_late / 3600:.2f} h late" if c.seconds_late > 0 else "not late"
    return f"  late penalty of {c.student}: {c.before:g} -> {c.after:g} points ({late})"


def set_due(course: Course, assignment: str, when: datetime | None) -> DueReport:
    """Set the due date of ``assignment`` (an aware time; ``None`` only shows it) and reassess the late penalties."""
    with course.gradebook(assignment) as gb:
        a = _find_assignment(gb, assignment)
        previous = from_gradebook(a.duedate)
        if when is not None:
            a.duedate = to_gradebook(when)
            gb.db.commit()
        due = from_gradebook(a.duedate)
        extensions = {s.student_id: s.extension for s in a.submissions if s.extension}
    changes = reassess_penalties(course, assignment) if when is not None else []
    shown = when.tzinfo if when is not None else configured_timezone(course)
    return DueReport(assignment, due, previous, extensions, changes, shown)


def _known_students(course: Course, gb, assignment: str) -> set[str]:
    known = {s.id for s in gb.students}
    submitted = course.directory("submitted")
    if submitted.is_dir():
        known |= {p.name for p in submitted.iterdir() if (p / assignment).is_dir() and not p.is_symlink()}
    return known


@dataclass
class ExtensionReport:
    student: str
    assignment: str
    extension: timedelta | None
    due: datetime
    changes: list[PenaltyChange]
    tz: tzinfo | None

    def text(self) -> str:
        if not self.extension:
            head = f"{self.student}: no extension on {self.assignment}; due {describe(self.due, self.tz)}"
        else:
            until = describe(self.due + self.extension, self.tz)
            head = f"{self.student}: extension of {hours(self.extension)} on {self.assignment}, until {until}"
        return "\n".join([head, *(_change_line(c) for c in self.changes)])


def extend(
    course: Course, assignment: str, student: str, *, hours_: float | None = None, until: datetime | None = None
) -> ExtensionReport:
    """Give ``student`` an extension on ``assignment``: ``hours_`` more hours (0 removes it), or ``until`` a time.

    nbgrader's extension replaces any earlier one (they do not add up). The student must be in the gradebook
    or have a collected submission; their submission entry is made if there is none yet.
    """
    from nbgrader.api import MissingEntry

    from .pipeline.job import quiet_gradebook_warnings

    if (hours_ is None) == (until is None):
        raise AutograderError("say either --hours N or --until WHEN")
    if hours_ is not None and not (0 <= hours_ < 24 * 366):
        raise AutograderError(f"--hours must be 0 (no extension) or more, and under a year; got {hours_:g}")
    quiet_gradebook_warnings()
    with course.gradebook(assignment) as gb:
        a = _find_assignment(gb, assignment)
        if a.duedate is None:
            raise AutograderError(
                f"{assignment} has no due date: set one first with `autograder due {assignment} WHEN`"
            )
        due = from_gradebook(a.duedate)
        if student not in _known_students(course, gb, assignment):
            known = sorted(_known_students(course, gb, assignment))
            shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
            raise AutograderError(
                f"unknown student {student!r}: not in the gradebook nor in {course.directory('submitted')} "
                f"(known: {shown or 'none'}); to add a student who has not submitted yet, "
                f"run `nbgrader db student add {student}`"
            )
        if until is not None:
            extension = until - due
            if extension <= timedelta(0):
                raise AutograderError(
                    f"--until {describe(until)} is not after the due date {describe(due)}: nothing to extend"
                )
        else:
            extension = timedelta(hours=hours_) if hours_ else None
        gb.update_or_create_student(student)
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            submission = gb.add_submission(assignment, student)
        submission.extension = extension
        gb.db.commit()
    changes = reassess_penalties(course, assignment, [student])
    shown = until.tzinfo if until is not None else configured_timezone(course)
    return ExtensionReport(student, assignment, extension, due, changes, shown)


def extension_seconds(course: Course, assignment: str) -> dict[str, float]:
    """Each student's extension on ``assignment`` in seconds (those with one)."""
    from nbgrader.api import MissingEntry

    with course.gradebook(assignment) as gb:
        try:
            submissions = gb.find_assignment(assignment).submissions
        except MissingEntry:
            return {}
        return {s.student_id: s.extension.total_seconds() for s in submissions if s.extension}
