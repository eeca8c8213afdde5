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

CHECKPOINTS = ".ipynb_checkpoints"


@dataclass(frozen=True)
class TreeLimits:
    """Bounds on a submission's files: how many, and how many bytes in all and per file."""

    max_files: int = 200
    max_bytes: int = 200 * 1024 * 1024
    max_file_bytes: int = 100 * 1024 * 1024


#: The bounds of a collected submission folder (what a job carries to its worker).
SUBMISSION_LIMITS = TreeLimits()


@dataclass(frozen=True)
class WorkLimits:
    """Bounds on what a kernel may leave in its working copy: entries (files, folders, links) and bytes."""

    max_entries: int = 2000
    max_bytes: int = 2 * 1024 * 1024 * 1024


WORK_LIMITS = WorkLimits()


def _problem(kind: str, message: str) -> dict[str, Any]:
    return {"kind": kind, "message": message, "cell": None}


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _read_regular(path: str, limit: int) -> bytes | None:
    """The bytes of the regular file at ``path`` (never through a link), or ``None`` if it is not one any more."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data if len(data) <= limit else None
    finally:
        os.close(fd)


def _walk(folder: str, relative: str = "") -> list[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every entry below ``folder``, depth first, never entering a link."""
    found = []
    try:
        entries = sorted(os.scandir(os.path.join(folder, relative) if relative else folder), key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        rel = f"{relative}/{entry.name}" if relative else entry.name
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        found.append((rel, info))
        if stat.S_ISDIR(info.st_mode) and entry.name != CHECKPOINTS:
            found += _walk(folder, rel)
    return found


def read_tree(
    folder: Path | str, limits: TreeLimits = SUBMISSION_LIMITS, first: tuple[str, ...] = ()
) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """Every regular file below ``folder`` by relative POSIX path, and the problems met.

    Links and other special files are skipped (``link_ignored``); files over the bounds are skipped
    (``too_many_files``, ``file_too_large``, ``submission_too_large``), the names in ``first`` (e.g. the
    assignment's notebooks) being read before any other file. ``.ipynb_checkpoints`` folders are ignored.
    """
    root = os.fspath(folder)
    if os.path.islink(root) or not os.path.isdir(root):
        return {}, [_problem("link_ignored", f"{os.path.basename(root)} is not a folder; nothing was read from it")]
    entries = [(rel, info) for rel, info in _walk(root) if CHECKPOINTS not in rel.split("/")]
    files: dict[str, bytes] = {}
    problems: list[dict[str, Any]] = []
    for rel, info in entries:
        if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
            problems.append(_problem("link_ignored", f"{rel} is {_kind_of(info.st_mode)}; it was not read"))
    regular = [(rel, info) for rel, info in entries if stat.S_ISREG(info.st_mode)]
    regular.sort(key=lambda item: (item[0] not in first, item[0]))
    total, over_count, over_total = 0, [], []
    for rel, info in regular:
        if info.st_size > limits.max_file_bytes:
            problems.append(
                _problem("file_too_large", f"{rel} has {info.st_size} bytes, over the limit of {limits.max_file_bytes}")
            )
            continue
        if len(files) >= limits.max_files:
            over_count.append(rel)
            continue
        if total + info.st_size > limits.max_bytes:
            over_total.append(rel)
            continue
        data = _read_regular(os.path.join(root, rel), limits.max_file_bytes)
        if data is None:
            problems.append(_problem("link_ignored", f"{rel} changed into a link or special file; it was not read"))
            continue
        files[rel] = data
        total += len(data)
    if over_count:
        problems.append(
            _problem(
                "too_many_files",
                f"{len(regular)} files, over the limit of {limits.max_files}; not read: {_names(over_count)}",
            )
        )
    if over_total:
        problems.append(
            _problem(
                "submission_too_large",
                f"the files add up to more than {limits.max_bytes} bytes; not read: {_names(over_total)}",
            )
        )
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
