"""``LmsCollector``: an nbgrader ``FileNameCollectorPlugin`` for the file names of common LMS downloads.

Recognised (first match wins; the notebook name is what follows the LMS's own prefix):

=========== ================================================================ ===========================
LMS         file name in the download                                        student id
=========== ================================================================ ===========================
Canvas      ``student_12345_67890_notebook.ipynb`` (``_LATE_`` after the     ``student``
            name when late; ``notebook-1.ipynb`` for a resubmission)
Moodle      ``Full Name_12345_assignsubmission_file_notebook.ipynb``, or     ``full_name``
            the folder ``Full Name_12345_assignsubmission_file_/``
            holding ``notebook.ipynb``
Blackboard  ``Assignment_student_attempt_2024-01-01-10-00-00_notebook.ipynb`` ``student`` (the timestamp
                                                                             orders attempts)
=========== ================================================================ ===========================

It also works with nbgrader itself: ``nbgrader zip_collect --collector=autograder.lms.LmsCollector ID``.
"""

from __future__ import annotations

import os
import re
from datetime import datetime

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Dict

#: LMS name -> regular expression over the file's path relative to the download (``/`` separated).
LMS_PATTERNS = {
    "blackboard": r"^(?:.*/)?(?P<assignment>.+?)_(?P<student_id>[^_/]+)_attempt_"
    r"(?P<timestamp>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})_(?P<file_id>[^/]+?)\.ipynb$",
    "moodle": r"^(?:.*/)?(?P<student_id>[^_/]+)_(?P<lms_id>\d+)_assignsubmission_file_/?(?P<file_id>[^/]+?)\.ipynb$",
    "canvas": r"^(?:.*/)?(?P<student_id>[A-Za-z0-9.-]+?)(?:_LATE)?_(?P<lms_id>\d+)_(?P<submission_id>\d+)_"
    r"(?P<file_id>[^/]+?)(?:-(?P<resubmission>\d+))?\.ipynb$",
}


def student_slug(name: str) -> str:
    """A student id from a name as the LMS writes it: ``"Ada Lovelace"`` -> ``"ada_lovelace"``."""
    return re.sub(r"[^a-z0-9.-]+", "_", name.strip().lower()).strip("_") or "unknown"


def parse_lms_name(relpath: str, patterns: dict[str, str] | None = None) -> dict | None:
    """``{"lms", "student_id", "notebook", "timestamp", "order"}`` for a recognised name, else ``None``."""
    for lms, regex in (patterns or LMS_PATTERNS).items():
        m = re.match(regex, relpath)
        if not m:
            continue
        gd = m.groupdict()
        timestamp = None
        if gd.get("timestamp"):
            timestamp = datetime.strptime(gd["timestamp"], "%Y-%m-%d-%H-%M-%S")
        # Canvas numbers submissions increasingly and suffixes resubmitted files with -1, -2, ...
        order = (int(gd.get("submission_id") or 0), int(gd.get("resubmission") or 0))
        return {
            "lms": lms,
            "student_id": student_slug(gd["student_id"]),
            "notebook": gd["file_id"],
            "timestamp": timestamp,
            "order": order,
        }
    return None


class LmsCollector(FileNameCollectorPlugin):
    """Collector plugin for ``ZipCollectApp`` that knows Canvas, Moodle and Blackboard file names."""

    patterns = Dict(LMS_PATTERNS, help="LMS name -> regular expression with student_id and file_id").tag(config=True)

    def collect(self, submitted_file: str) -> dict | None:
        # the file's name and its folder's (Moodle puts each student's files in a folder of their own)
        relpath = "/".join(submitted_file.replace(os.sep, "/").split("/")[-2:])
        info = parse_lms_name(relpath, self.patterns)
        if info is None:
            self.log.warning("no LMS file-name pattern matches %s", submitted_file)
            return None
        out = {"student_id": info["student_id"], "file_id": info["notebook"] + ".ipynb"}
        if info["timestamp"] is not None:
            out["timestamp"] = info["timestamp"].isoformat(" ")
        return out
