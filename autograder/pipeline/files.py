"""Reading and writing the grader's file trees without following links, within bounds.

Student code runs as another user in a sandbox, but the grader (often root) handles the files around it: the
collected submission, the scratch course of a job, the autograded folder of the course. Any of them could hold a
symbolic link planted by a submission, pointing anywhere on the machine. So nothing here follows a link:

- :func:`read_tree` walks a folder with ``lstat`` and opens each file with ``O_NOFOLLOW``; links, devices,
  sockets and pipes are skipped and reported; the number of files and their bytes are bounded (a sparse file
  counts at its full size, which is what reading it costs);
- :func:`write_tree` writes relative paths below a folder, refusing names that climb out of it, parents that are
  links, and existing entries that are links (``O_NOFOLLOW | O_EXCL`` after removing the entry itself);
- :func:`measure_tree` counts what a kernel left in its working copy, without following links.

Problems are plain dicts (``kind``, ``message``, ``cell``) as everywhere in the pipeline, so they reach the
journal, the gradebook's flag and the student's feedback.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..intake import MAX_BYTES_PER_STUDENT, MAX_FILE_BYTES, MAX_FILES_PER_STUDENT, Refused, open_beneath, scan_folder


@dataclass(frozen=True)
class TreeLimits:
    """Bounds on a submission's files: how many, and how many bytes in all and per file."""

    max_files: int = MAX_FILES_PER_STUDENT
    max_bytes: int = MAX_BYTES_PER_STUDENT
    max_file_bytes: int = MAX_FILE_BYTES


#: The bounds of a submission folder (what a job carries to its worker): those ``autograder collect`` keeps to.
SUBMISSION_LIMITS = TreeLimits()


@dataclass(frozen=True)
class WorkLimits:
    """Bounds on what a kernel may leave in its working copy: entries (files, folders, links) and bytes."""

    max_entries: int = 2000
    max_bytes: int = 2 * 1024 * 1024 * 1024


WORK_LIMITS = WorkLimits()


def _problem(kind: str, message: str) -> dict[str, Any]:
    return {"kind": kind, "message": message, "cell": None}


def _read_fd(fd: int, limit: int) -> bytes | None:
    chunks, left = [], limit + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    return data if len(data) <= limit else None


def read_tree(
    folder: Path | str, limits: TreeLimits = SUBMISSION_LIMITS, first: tuple[str, ...] = ()
) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """Every regular file below ``folder`` by relative POSIX path, and the problems met.

    Walked as ``autograder collect`` walks a download (:func:`autograder.intake.scan_folder`): links and other
    special files are skipped (``link_ignored``); files over the bounds are skipped (``too_many_files``,
    ``file_too_large``, ``submission_too_large``), the names in ``first`` (e.g. the assignment's notebooks) being
    read before any other file. ``.ipynb_checkpoints`` folders are ignored.
    """
    try:
        root_fd = os.open(os.fspath(folder), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return {}, [_problem("link_ignored", f"{os.path.basename(os.fspath(folder))} is not a folder; nothing read")]
    files: dict[str, bytes] = {}
    problems: list[dict[str, Any]] = []
    try:
        skipped: list[tuple[str, str]] = []
        entries = scan_folder(root_fd, "", skipped)
        problems += [_problem("link_ignored", f"{rel}: {why}") for rel, why in skipped]
        entries.sort(key=lambda e: (e.rel not in first, e.rel))
        total, over_count, over_total = 0, [], []
        for entry in entries:
            if entry.size > limits.max_file_bytes:
                text = f"{entry.rel} has {entry.size} bytes, over the limit of {limits.max_file_bytes}"
                problems.append(_problem("file_too_large", text))
            elif len(files) >= limits.max_files:
                over_count.append(entry.rel)
            elif total + entry.size > limits.max_bytes:
                over_total.append(entry.rel)
            else:
                try:
                    fd = open_beneath(root_fd, entry.rel)
                except (Refused, OSError):
                    problems.append(_problem("link_ignored", f"{entry.rel} became a link or special file; not read"))
                    continue
                try:
                    data = _read_fd(fd, limits.max_file_bytes)
                finally:
                    os.close(fd)
                if data is None:
                    problems.append(_problem("file_too_large", f"{entry.rel} grew past {limits.max_file_bytes} bytes"))
                    continue
                files[entry.rel] = data
                total += len(data)
    finally:
        os.close(root_fd)
    if over_count:
        text = f"{len(entries)} files, over the limit of {limits.max_files}; not read: {_names(over_count)}"
        problems.append(_problem("too_many_files", text))
    if over_total:
        text = f"the files add up to more than {limits.max_bytes} bytes; not read: {_names(over_total)}"
        problems.append(_problem("submission_too_large", text))
    return files, problems


def _names(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


class UnsafePath(ValueError):
    """A relative path that would leave its folder, or go through a link."""


def safe_parts(name: str) -> list[str]:
    """The components of a relative POSIX path; ``UnsafePath`` for absolute paths, ``..``, empty or NUL parts."""
    if not name or name.startswith("/") or "\0" in name or "\\" in name:
        raise UnsafePath(f"not a safe relative path: {name!r}")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(f"not a safe relative path: {name!r}")
    return parts


def _open_dir(parent_fd: int, name: str, create: bool) -> int:
    """Open (creating when asked) the folder ``name`` inside ``parent_fd``, refusing a link."""
    if create:
        try:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        except FileExistsError:
            pass
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath(f"{name} is a link or not a folder") from None
        raise


def write_tree(folder: Path | str, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative POSIX path -> bytes) below ``folder``, creating it; never through a link.

    An existing entry of the same name is replaced (a link is removed, not followed). Raises ``UnsafePath``
    for a name that leaves the folder or a parent that is a link.
    """
    root = os.fspath(folder)
    os.makedirs(root, exist_ok=True)
    if os.path.islink(root):
        raise UnsafePath(f"{root} is a link")
    for name, data in files.items():
        parts = safe_parts(name)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for part in parts[:-1]:
                inner = _open_dir(fd, part, create=True)
                os.close(fd)
                fd = inner
            _write_file(fd, parts[-1], data)
        finally:
            os.close(fd)


def _write_file(dir_fd: int, name: str, data: bytes) -> None:
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        info = None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise UnsafePath(f"{name} is a folder")
        os.unlink(name, dir_fd=dir_fd)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


@dataclass(frozen=True)
class TreeSize:
    """What a folder holds, counted without following links: entries and apparent bytes (sparse at full size)."""

    entries: int
    bytes: int
    truncated: bool = False


def measure_tree(folder: Path | str, stop_after: int = 1_000_000) -> TreeSize:
    """Count the entries below ``folder`` and the sizes of its regular files, stopping after ``stop_after``."""
    root = os.fspath(folder)
    entries = size = 0
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for entry in it:
                    entries += 1
                    if entries > stop_after:
                        return TreeSize(entries, size, truncated=True)
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(entry.path)
                    elif stat.S_ISREG(info.st_mode):
                        size += info.st_size
        except OSError:
            continue
    return TreeSize(entries, size)


def remove_tree(folder: Path | str) -> None:
    """Delete ``folder`` and everything below it, links removed rather than followed.

    A folder the kernel made unreadable is opened up first (its own mode, never through a link); whatever
    cannot be removed is left, never an error.
    """
    root = os.fspath(folder)

    def reopen(function: Any, path: str, _exc: Any) -> None:
        try:
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                os.chmod(path, 0o700)
            parent = os.path.dirname(path)
            if parent and not os.path.islink(parent):
                os.chmod(parent, 0o700)
            function(path)
        except OSError:
            pass

    if os.path.islink(root):
        os.unlink(root)
    elif os.path.isdir(root):
        shutil.rmtree(root, onerror=reopen)


def rewrite_notebook(nb, path: Path) -> None:
    """Write the notebook ``nb`` over the file at ``path`` (not a link), keeping its mode.

    nbgrader leaves autograded notebooks read-only (0444), which stops only a grader that is not root: a TA
    grading as themselves on the course hub.
    """
    import nbformat

    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePath(f"{path} is a link")
    mode = stat.S_IMODE(info.st_mode)
    os.chmod(path, mode | stat.S_IWUSR)
    try:
        nbformat.write(nb, path)
    finally:
        os.chmod(path, mode)
