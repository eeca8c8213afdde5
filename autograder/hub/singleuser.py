"""How each user's Jupyter server starts on the course hub (the spawner's command; it runs as the user).

It sets the umask of the user's role, copies the course's student files into a student's home (files the
student already has are kept: nothing they changed is overwritten), moves to the server's start folder (the
course directory for TAs and instructors, so that nbgrader loads the course's configuration), and then
becomes JupyterHub's single-user server.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

#: The file that marks the hub's own copies in its state folder (never copied to a student).
MARK = ".made-by-autograder-hub"


def copy_missing(source: Path, target: Path) -> list[Path]:
    """Copy every file of ``source`` to the same place under ``target`` unless something is already there.

    Nothing is overwritten and no link is followed on either side (a link in the way is left alone, and so is
    what lies under it). Returns the files copied.
    """
    copied = []
    if not source.is_dir() or target.is_symlink():
        return copied
    for folder, dirs, files in os.walk(source):
        rel = Path(folder).relative_to(source)
        dest = target / rel
        if any(p.is_symlink() for p in [dest, *dest.parents] if target in [p, *p.parents]):
            dirs[:] = []
            continue
        if dest.exists() and not dest.is_dir():
            dirs[:] = []
            continue
        dest.mkdir(parents=True, exist_ok=True)
        for name in sorted(files):
            src, out = Path(folder) / name, dest / name
            if name == MARK or src.is_symlink() or out.exists() or out.is_symlink():
                continue
            with open(src, "rb") as inp, open(out, "xb") as outp:
                shutil.copyfileobj(inp, outp)
            copied.append(out)
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
    return copied


def main() -> None:
    os.umask(int(os.environ.pop("COURSE_HUB_UMASK", "077"), 8))
    files = os.environ.pop("COURSE_HUB_FILES", "")
    dest = os.environ.pop("COURSE_HUB_FILES_DEST", "course")
    home = Path(os.environ.get("COURSE_HUB_HOME") or Path.home())
    if files:
        try:
            copy_missing(Path(files), home / dest)
        except OSError as err:  # the server still starts; the student's own files are untouched
            print(f"course hub: could not copy the course's files into {home / dest}: {err}", file=sys.stderr)
    os.chdir(os.environ.pop("COURSE_HUB_CWD", "") or home)
    os.execv(sys.executable, [sys.executable, "-m", "jupyterhub.singleuser", *sys.argv[1:]])


if __name__ == "__main__":
    main()
