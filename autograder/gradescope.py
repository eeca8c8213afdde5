"""A Gradescope autograder for an assignment (``autograder export ID --format gradescope-autograder``).

The zip is what Gradescope's programming assignments take: at its top ``setup.sh`` (run once when Gradescope
builds the image; it installs the course's Python requirements) and ``run_autograder`` (run for each
submission), beside the ``autograder`` and ``cnnlab`` packages and ``course/``: the course's
``nbgrader_config.py``, the instructor and released notebooks of the assignment, and a gradebook holding the
assignment alone (with its due date). Gradescope unpacks the zip into ``/autograder/source/`` and puts a
submission's files in ``/autograder/submission/``; ``run_autograder`` grades them with this project's pipeline
(nbgrader's ``Autograde`` in a scratch course, the same checks, flags and late policy as ``autograder grade``)
and writes ``/autograder/results/results.json`` as ``autograder export --format gradescope`` does. The root
``/autograder`` can be moved with the environment variable ``AUTOGRADER_ROOT`` (the tests do).

The submission's time is Gradescope's ``created_at`` in ``submission_metadata.json``; the course's due date and
late policy apply, and a later due date that Gradescope gives the student (an extension there) counts as their
extension. Student kernels run in the bubblewrap sandbox when it works in Gradescope's container, else
unconfined inside that container (the log says which).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
import traceback
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from .course import CONFIG_FILE, AutograderError, Course

ROOT_ENV = "AUTOGRADER_ROOT"
DEFAULT_ROOT = "/autograder"
#: The student id of the one submission a run grades.
STUDENT = "student"
ASSIGNMENT_FILE = "assignment.json"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, from /autograder/source, when it builds the autograder's image.
set -euo pipefail
cd "$(dirname "$0")"
if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3 python3-pip >/dev/null
    # the grader's sandbox; student kernels run unconfined in the container when it cannot be used
    apt-get install -y -qq bubblewrap >/dev/null || echo "bubblewrap not installed"
fi
# a system Python that forbids pip (PEP 668) is the image's own: this image grades and does nothing else
PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir -r requirements.txt
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission (copied to /autograder/run_autograder).
# AUTOGRADER_ROOT moves /autograder (source/, submission/, results/ below it).
ROOT="$(cd "${AUTOGRADER_ROOT:-/autograder}" && pwd)"
# from source/, so that its autograder and cnnlab packages are the ones imported
cd "$ROOT/source"
export PYTHONPATH="$ROOT/source${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m autograder.gradescope "$ROOT"
"""


def requirements() -> list[str]:
    """The course's Python requirements: the project's dependencies (not the optional extras), from the
    checkout's ``pyproject.toml`` when the package runs from one, else from the installed package's metadata."""
    import autograder

    pyproject = Path(autograder.__file__).resolve().parents[1] / "pyproject.toml"
    try:
        import tomllib

        return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    except (ImportError, OSError, KeyError, ValueError):
        pass
    from importlib import metadata

    try:
        reqs = metadata.requires("cnn-course") or []
    except metadata.PackageNotFoundError:
        raise AutograderError(
            "the course package is not installed (pip install -e .), so its requirements are unknown"
        ) from None
    return [r for r in reqs if "extra ==" not in r and "extra==" not in r]


def _package_files(module) -> dict[str, bytes]:
    """The source files of an imported package, by path relative to the package's parent (no caches)."""
    base = Path(module.__file__).resolve().parent
    found = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base.parent).as_posix()
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            found[rel] = path.read_bytes()
    return found


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, data)


def build_autograder(course: Course, assignment: str, out: Path) -> Path:
    """Write ``<assignment>_gradescope_autograder.zip`` into ``out``; see the module's documentation."""
    import autograder
    import cnnlab

    from .pipeline.gradebook import assignment_template
    from .pipeline.job import read_folder

    notebooks = course.released_notebooks(assignment)
    release = course.directory("release") / assignment
    missing = [n for n in notebooks if not (release / f"{n}.ipynb").is_file()]
    if missing:
        raise AutograderError(
            f"{release} lacks {', '.join(m + '.ipynb' for m in missing)}: run `autograder release {assignment}`"
        )
    config = course.root / CONFIG_FILE
    if not config.is_file():
        raise AutograderError(f"{config} does not exist: the autograder takes the course's nbgrader settings")
    cd = course.coursedir()
    files: dict[str, bytes] = {
        "setup.sh": SETUP_SH.encode(),
        "run_autograder": RUN_AUTOGRADER.encode(),
        "requirements.txt": ("\n".join(requirements()) + "\n").encode(),
        f"course/{CONFIG_FILE}": config.read_bytes(),
        "course/gradebook.db": assignment_template(course, assignment),
        f"course/{ASSIGNMENT_FILE}": json.dumps({"assignment": assignment, "notebooks": notebooks}).encode(),
    }
    for kind, folder in (("source", cd.source_directory), ("release", cd.release_directory)):
        for rel, data in read_folder(course.directory(kind) / assignment).items():
            files[f"course/{folder}/{assignment}/{rel}"] = data
    files.update(_package_files(autograder))
    files.update(_package_files(cnnlab))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{assignment}_gradescope_autograder.zip"
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in sorted(files.items()):
            _zip_write(zf, name, data, executable=name in ("setup.sh", "run_autograder"))
    tmp.replace(path)
    return path


def _metadata(root: Path) -> dict:
    path = root / "submission_metadata.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _time(value) -> datetime | None:
    from dateutil import parser

    if not isinstance(value, str):
        return None
    try:
        when = parser.isoparse(value)
    except (ValueError, OverflowError):
        return None
    return when if when.tzinfo is not None else None


def _extension(metadata: dict, due: datetime | None) -> timedelta | None:
    """A later due date Gradescope gives the submitter (its extension), as an extension over the course's."""
    users = metadata.get("users") if isinstance(metadata.get("users"), list) else []
    dues = [_time((u.get("assignment") or {}).get("due_date")) for u in users if isinstance(u, dict)]
    dues = [d for d in dues if d is not None]
    if due is None or not dues or max(dues) <= due:
        return None
    return max(dues) - due


def _place_submission(submission: Path, dest: Path, notebooks: list[str]) -> list[str]:
    """The submission's files into ``dest`` (links not followed, within bounds); a notebook uploaded in a
    folder (a repository, a zip) is taken from there when it is not at the top. Returns the notes."""
    from .pipeline.files import SUBMISSION_LIMITS, read_tree, write_tree

    files, problems = read_tree(submission, SUBMISSION_LIMITS, tuple(f"{n}.ipynb" for n in notebooks))
    notes = [p["message"] for p in problems]
    for name in notebooks:
        wanted = f"{name}.ipynb"
        deeper = [rel for rel in files if rel.endswith("/" + wanted)]
        if wanted not in files and len(deeper) == 1:
            files[wanted] = files[deeper[0]]
            notes.append(f"{wanted} taken from {deeper[0]}")
    write_tree(dest, files)
    return notes


def _sandbox(log):
    from .pipeline.coordinator import DEFAULT_SANDBOX
    from .sandbox import SandboxUnavailable, check_sandbox

    try:
        check_sandbox()
    except SandboxUnavailable as err:
        log(f"sandbox: none ({err}); the submission runs unconfined inside Gradescope's container")
        return None
    return DEFAULT_SANDBOX


def grade_one(root: Path, log=print) -> dict:
    """Grade the submission under ``root`` (Gradescope's layout) and return its ``results.json`` content."""
    from .deadlines import from_gradebook
    from .export import gradescope_results
    from .pipeline.coordinator import grade

    source = root / "source"
    meta = json.loads((source / "course" / ASSIGNMENT_FILE).read_text())
    assignment, notebooks = meta["assignment"], meta["notebooks"]
    metadata = _metadata(root)
    with tempfile.TemporaryDirectory(prefix="autograder-gradescope-") as tmp:
        work = Path(tmp) / "course"
        shutil.copytree(source / "course", work, symlinks=True)
        course = Course.open(work)
        course.config.CourseDirectory.db_url = f"sqlite:///{work / 'gradebook.db'}"
        cd = course.coursedir()
        dest = Path(cd.format_path(cd.submitted_directory, STUDENT, assignment))
        for note in _place_submission(root / "submission", dest, notebooks):
            log(note)
        submitted = _time(metadata.get("created_at"))
        if submitted is not None:
            (dest / "timestamp.txt").write_text(submitted.isoformat(" "))
        with course.gradebook(assignment) as gb:
            due = from_gradebook(gb.find_assignment(assignment).duedate)
            extension = _extension(metadata, due)
            if extension:
                gb.update_or_create_student(STUDENT)
                gb.update_or_create_submission(assignment, STUDENT).extension = extension
                gb.db.commit()
        log(f"grading {assignment} with {Path(sys.modules['autograder'].__file__).parent}")
        report = grade(course, assignment, workers=0, sandbox=_sandbox(log), progress=False, echo=log)
        if report.failed:
            tail = report.failed[0].log.strip().splitlines()[-1:] or ["unknown error"]
            raise AutograderError(f"the grader could not run this submission ({tail[0]})")
        return gradescope_results(course, assignment)[STUDENT]


def run(root: Path, log=print) -> int:
    """``run_autograder``: grade, then write ``results/results.json`` (a failure is reported there, too)."""
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    try:
        result, status = grade_one(root, log), 0
    except Exception as err:  # Gradescope shows results.json to the student: say what happened there
        log(traceback.format_exc())
        message = str(err) if isinstance(err, AutograderError) else f"{type(err).__name__}: {err}"
        result = {
            "score": 0.0,
            "output": f"The autograder could not grade this submission: {message}. Please tell the course staff.",
            "tests": [],
        }
        status = 1
    tmp = results / ".results.json.tmp"
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, results / "results.json")
    return status


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else os.environ.get(ROOT_ENV, DEFAULT_ROOT))
    return run(root)


if __name__ == "__main__":
    sys.exit(main())
