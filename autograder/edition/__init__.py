"""``autograder student-edition OUT_DIR``: the tree a course publishes to its students.

It holds the lectures, the released assignments, the course library, the checks the visible tests call (with the
values they compare with, recorded from the grader's references), a students' README, pyproject.toml and
environment.yml, JupyterLab settings that hide Formgrader and Create Assignment (``contents``, ``templates``,
``recorded``), and lecture 03's visualisations replayed from a recording (``replay``). It is built only from
releases that are up to date with their solutions (``freshness``), and the build is refused when the leak scan
(``leaks``) finds an answer in it.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..course import AutograderError, Course
from . import contents, freshness, leaks, recorded, replay, templates


class EditionRefused(AutograderError):
    """The edition cannot be built as asked; the message says why."""


def _check_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise EditionRefused(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise EditionRefused(f"{out} is not empty: choose an empty folder, or pass --force to replace what is in it")


def build(
    root: Path,
    out: Path,
    *,
    force: bool = False,
    zip_file: Path | None = None,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Build the student edition of the course at ``root`` into ``out`` (and ``zip_file``); return its files.

    Refused, with nothing written, when ``out`` is not empty (unless ``force``), when a release is stale against its
    solution, or when the built tree holds a leak.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    _check_out_dir(out, force)
    if out == root or root in out.parents and out.relative_to(root).parts[0] in ("solutions", "assignments"):
        raise EditionRefused(f"{out} lies inside the course's own folders; choose a folder elsewhere")
    course = Course.open(root)
    echo("checking that every release is up to date with its solution")
    stale = freshness.stale_releases(course)
    if stale:
        raise EditionRefused(
            "refusing to build from stale releases (run `autograder release <assignment>` and commit it):\n"
            + "\n".join(f"  - {s}" for s in stale)
        )
    with tempfile.TemporaryDirectory(prefix="student-edition-") as tmp:
        staging = Path(tmp) / "edition"
        written = contents.copy(root, staging)
        written += templates.write(staging, root / "pyproject.toml")
        echo("recording the visible checks' expected values and lecture 03's visualisations (fast mode)")
        tables = recorded.record(root, staging / contents.CHECKS / "expected")
        written += [p.relative_to(staging).as_posix() for p in tables]
        written += replay.write(root, staging)
        found = leaks.scan(staging, leaks.secrets(root))
        if found:
            raise EditionRefused("the edition would leak answers:\n" + "\n".join(f"  - {leak}" for leak in found))
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(staging, out)
    if zip_file is not None:
        write_zip(out, Path(zip_file))
    echo(f"student edition in {out}: {len(written)} files; leak scan clean")
    return sorted(written)


def write_zip(edition: Path, zip_file: Path) -> Path:
    """The edition as one archive (an LMS upload): its files under one top folder named after ``zip_file``."""
    top = zip_file.stem
    zip_file.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_file, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in edition.rglob("*") if p.is_file()):
            archive.write(path, f"{top}/{path.relative_to(edition).as_posix()}")
    return zip_file
