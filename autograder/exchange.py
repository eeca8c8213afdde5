"""``SafeExchangeCollect``: nbgrader's exchange collector, made safe to run as a TA or as root.

Students can write anything into the exchange's ``inbound`` folder, not only what ``nbgrader submit`` puts
there. nbgrader's own collector trusts it: a folder named ``bob+01_layers+…`` made by Alice is only warned about
(and collected as Bob's), a submission holding a symbolic link is copied with ``shutil.copytree`` — the link's
target, anywhere on the machine, read with the collector's rights — and a name such as ``..`` becomes a path.
This collector, which the course's configuration installs (``ExchangeFactory.collect``) for ``nbgrader collect``,
Formgrader's Collect button and ``autograder collect --exchange`` alike:

- refuses a submission whose folder is owned by someone else than the student it names (the collecting user's
  own folders are accepted: a TA who submitted test notebooks), whose student id could not name a folder, or
  that is a link;
- copies the chosen submission without following any link, within the bounds of ``autograder collect``
  (:mod:`autograder.pipeline.files`), and says what it left out.
"""

from __future__ import annotations

import glob
import os
import stat

from nbgrader.exchange.default.collect import ExchangeCollect

from .lms import is_safe_student_id
from .pipeline.files import read_tree, write_tree

try:
    import pwd
except ImportError:  # Windows: no owners to compare
    pwd = None  # type: ignore[assignment]


def _owner(path: str) -> str | None:
    try:
        uid = os.lstat(path).st_uid
    except OSError:
        return None
    if pwd is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _me() -> str | None:
    if pwd is None:
        return None
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


class SafeExchangeCollect(ExchangeCollect):
    """nbgrader's collector that refuses submissions made in another student's name and copies no link."""

    def refusal(self, record: dict) -> str | None:
        """Why the inbound submission ``record`` is not collected, or ``None`` when it may be."""
        student = record["username"]
        path = os.path.join(self.inbound_path, record["filename"])
        if not is_safe_student_id(student):
            return f"its student id {student!r} cannot name a folder"
        try:
            info = os.lstat(path)
        except OSError as err:
            return f"it cannot be looked at ({err.strerror or err})"
        if not stat.S_ISDIR(info.st_mode):
            return "it is a link or not a folder"
        owner = _owner(path)
        if pwd is not None and owner not in (student, _me()):
            return f"it names {student} but was made by {owner}"
        return None

    def init_src(self) -> None:
        """nbgrader's choice of each student's submission, made among the submissions that may be collected
        (a refused one, however new, never hides the student's own)."""
        super().init_src()
        student = self.coursedir.student_id or "*"
        pattern = os.path.join(self.inbound_path, f"{student}+{self.coursedir.assignment_id}+*")
        chosen: dict[str, list[dict]] = {}
        for path in glob.glob(pattern):
            record = self._path_to_record(path)
            why = self.refusal(record)
            if why is not None:
                self.log.error("not collected: %s, because %s", record["filename"], why)
                continue
            chosen.setdefault(record["username"], []).append(record)
        self.src_records = []
        for records in chosen.values():
            records = self._sort_by_timestamp(records)
            if self.duedate is not None and self.before_duedate:
                before = [r for r in records if r["timestamp"] <= self.duedate]
                records = before or records
            self.src_records.append(records[0])

    def do_copy(self, src: str, dest: str, log=None) -> None:
        """Copy the submission at ``src`` to ``dest``: regular files only, no link followed, within bounds."""
        files, problems = read_tree(src)
        for problem in problems:
            (log or self.log).warning("%s: %s", os.path.basename(src), problem["message"])
        write_tree(dest, files)
