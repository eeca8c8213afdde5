"""Reading what ``autograder collect`` is given, safely: a folder without following links, a zip without trusting it.

Everything read is first copied into a private staging folder (:class:`Stager`) as regular files named by a
counter; the rest of ``collect`` works only on those copies, so nothing it does later can reach outside.

Folders (:func:`scan_folder`, :func:`stage_folder_files`) are walked through directory descriptors: every
entry is looked at with ``lstat`` and opened with ``O_NOFOLLOW``, directories below with ``O_DIRECTORY |
O_NOFOLLOW``. Only regular files are read; symbolic links (to files or folders), devices, fifos and sockets
are listed with the reason and left alone, and ``.ipynb_checkpoints`` folders are passed over.

Zips (:func:`stage_zip`) are read member by member with :mod:`zipfile`; only regular files with a relative path
are extracted (``.ipynb_checkpoints`` passed over). Symbolic-link members (the Unix mode in ``external_attr``),
absolute paths and ``..``, nested archives (by name and by their first bytes), encrypted members, members whose
data fail their CRC or cannot be read, and members or a whole archive over the bounds below are listed with the
reason and skipped; the rest of the archive is still read. Sizes are counted while the data are read, not taken
from the archive's word.

Bounds (module constants): :data:`MAX_FILE_BYTES` per file, :data:`MAX_FILES_PER_STUDENT` and
:data:`MAX_BYTES_PER_STUDENT` per student (:func:`within_bounds`, the assignment's notebooks first),
:data:`MAX_ARCHIVE_MEMBERS` and :data:`MAX_ARCHIVE_BYTES` per zip, :data:`MAX_SCAN_ENTRIES` and
:data:`MAX_DEPTH` per folder walked.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path

MB = 1024 * 1024
#: The largest file collected (a notebook with its outputs fits well under it).
MAX_FILE_BYTES = 50 * MB
#: Per student: at most this many files ...
MAX_FILES_PER_STUDENT = 200
#: ... and this many bytes in all; what goes over is listed and skipped, the assignment's notebooks kept first.
MAX_BYTES_PER_STUDENT = 100 * MB
#: Per zip: members read (the others are listed and skipped) ...
MAX_ARCHIVE_MEMBERS = 20_000
#: ... and bytes extracted in all (zip-bomb protection; counted while reading, not taken from the archive).
MAX_ARCHIVE_BYTES = 2048 * MB
#: Entries looked at in one folder tree of a ``--from DIR`` (links and files alike); the rest is not walked.
MAX_SCAN_ENTRIES = 50_000
#: Folder depth walked below a student's folder.
MAX_DEPTH = 16

#: Names of archives, which are never unpacked (nor collected out of a zip).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz", ".tbz2", ".xz", ".txz", ".7z", ".rar", ".zst")
#: First bytes of archives and compressed data (zip, gzip, bzip2, xz, 7z, rar, zstd); tar: ``ustar`` at 257.
ARCHIVE_MAGIC = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x07\x08",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\x28\xb5\x2f\xfd",
)
_CHUNK = MB
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
CHECKPOINTS = ".ipynb_checkpoints"


class Refused(Exception):
    """A file or member that is not collected; the message says why."""


@dataclass
class Staged:
    """A file read from the source into the staging folder."""

    rel: str  #: its ``/``-separated path in the source (in the download, or in the student's folder)
    path: Path  #: the copy, a regular file in the staging folder
    size: int
    mtime: datetime  #: the file's modification time, or the zip member's recorded time (timezone-aware)


@dataclass
class Entry:
    """A regular file found by :func:`scan_folder`, not read yet."""

    rel: str
    size: int


def megabytes(n: int) -> str:
    """``50 MB`` for a whole number of megabytes, else the bytes (``52,428,801 bytes``)."""
    return f"{n // MB} MB" if n and n % MB == 0 else f"{n:,} bytes"


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def is_archive_data(head: bytes) -> bool:
    return head.startswith(ARCHIVE_MAGIC) or head[257:262] == b"ustar"


def _kind(st: os.stat_result) -> str:
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe (fifo)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def describe_special(st: os.stat_result, name: str, dir_fd: int) -> str:
    """Why a non-regular entry is not collected; a link's target is read from the link itself, never followed."""
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            target = "?"
        return f"a symbolic link (to {target}), not followed"
    return f"{_kind(st)}, not a regular file; not read"


class Stager:
    """A private folder of copies: each file written once, as a regular file, under a name of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def _new(self) -> tuple[Path, int]:
        self.count += 1
        path = self.folder / f"{self.count:07d}"
        return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)

    def copy(self, read: Callable[[int], bytes], cap: int, check_head: bool = False) -> tuple[Path, int]:
        """Copy what ``read`` gives, refusing it past ``cap`` bytes (or, ``check_head``, when it is an archive)."""
        path, fd = self._new()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                first = True
                while True:
                    data = read(min(_CHUNK, cap + 1 - size))
                    if not data:
                        break
                    if first and check_head:
                        if len(data) < 262:  # enough of the start to see a tar header
                            data += read(262 - len(data))
                        if is_archive_data(data):
                            raise Refused("a nested archive (by its first bytes), not unpacked")
                    first = False
                    size += len(data)
                    if size > cap:
                        raise Refused(f"expands past {megabytes(cap)}")
                    out.write(data)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, size


def open_beneath(root_fd: int, rel: str) -> int:
    """Open the regular file ``rel`` below the folder ``root_fd`` without following a link at any depth."""
    parts = rel.split("/")
    fd = root_fd
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = nxt
        out = os.open(parts[-1], os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=fd)
    finally:
        if fd != root_fd:
            os.close(fd)
    st = os.fstat(out)
    if not stat.S_ISREG(st.st_mode):
        os.close(out)
        raise Refused(f"{_kind(st)}, not a regular file; not read")
    return out


def scan_folder(root_fd: int, label: str, skipped: list[tuple[str, str]]) -> list[Entry]:
    """The regular files below the folder ``root_fd``, by relative path; anything else is added to ``skipped``.

    ``label`` prefixes the names in ``skipped``. Links are never followed; ``.ipynb_checkpoints`` is passed over.
    """
    found: list[Entry] = []
    budget = [MAX_SCAN_ENTRIES]

    def walk(fd: int, prefix: str, depth: int) -> None:
        entries = []
        with os.scandir(fd) as it:
            for entry in it:
                if budget[0] <= 0:
                    skipped.append((label + prefix, f"more than {MAX_SCAN_ENTRIES} entries; the rest not looked at"))
                    break
                budget[0] -= 1
                entries.append(entry)
        for entry in sorted(entries, key=lambda e: e.name):
            rel = prefix + entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as err:
                skipped.append((label + rel, f"cannot be looked at: {err.strerror or err}"))
                continue
            if stat.S_ISDIR(st.st_mode):
                if entry.name == CHECKPOINTS:
                    continue
                if depth >= MAX_DEPTH:
                    skipped.append((label + rel + "/", f"a folder deeper than {MAX_DEPTH} levels; not read"))
                    continue
                try:
                    sub = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
                except OSError as err:
                    skipped.append((label + rel + "/", f"cannot be opened: {err.strerror or err}"))
                    continue
                try:
                    walk(sub, rel + "/", depth + 1)
                finally:
                    os.close(sub)
            elif stat.S_ISREG(st.st_mode):
                found.append(Entry(rel, st.st_size))
            else:
                skipped.append((label + rel, describe_special(st, entry.name, fd)))

    walk(root_fd, "", 0)
    return found


def within_bounds(entries: list, size: Callable, rank: Callable) -> tuple[list, list[tuple[object, str]]]:
    """The entries kept under the per-student bounds, lowest ``rank`` first; the others with the reason."""
    ordered = sorted(entries, key=rank)
    kept, over, total = [], [], 0
    for e in ordered:
        n = size(e)
        if n > MAX_FILE_BYTES:
            over.append((e, f"{megabytes(n)}, over the bound of {megabytes(MAX_FILE_BYTES)} per file"))
        elif len(kept) >= MAX_FILES_PER_STUDENT:
            over.append((e, f"over the bound of {MAX_FILES_PER_STUDENT} files per student"))
        elif total + n > MAX_BYTES_PER_STUDENT:
            over.append((e, f"over the bound of {megabytes(MAX_BYTES_PER_STUDENT)} per student"))
        else:
            kept.append(e)
            total += n
    return kept, over


def stage_folder_files(
    root_fd: int, entries: list[Entry], stager: Stager, label: str, skipped: list[tuple[str, str]]
) -> list[Staged]:
    """Copy ``entries`` (found by :func:`scan_folder`) into the staging folder, opening none through a link."""
    out = []
    for e in entries:
        try:
            fd = open_beneath(root_fd, e.rel)
        except Refused as err:
            skipped.append((label + e.rel, str(err)))
            continue
        except OSError as err:
            link = err.errno == errno.ELOOP
            skipped.append((label + e.rel, "a symbolic link, not followed" if link else f"cannot be read: {err}"))
            continue
        try:
            mtime = datetime.fromtimestamp(os.fstat(fd).st_mtime, timezone.utc)
            path, size = stager.copy(lambda n, fd=fd: os.read(fd, n), min(MAX_FILE_BYTES, max(e.size, 0)))
        except Refused as err:
            skipped.append((label + e.rel, f"{err} (it grew while being read)"))
            continue
        except OSError as err:
            skipped.append((label + e.rel, f"cannot be read: {err.strerror or err}"))
            continue
        finally:
            os.close(fd)
        out.append(Staged(e.rel, path, size, mtime))
    return out


def member_path(raw: str) -> str:
    """A zip member's name as a safe relative path; :class:`Refused` for an absolute one or one with ``..``."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise Refused("an absolute path; not extracted")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused("a path with '..'; not extracted")
    if any(any(ord(ch) < 32 for ch in p) for p in parts):
        raise Refused("a name with control characters; not extracted")
    return "/".join(parts)


def _member_time(info: zipfile.ZipInfo, fallback: datetime, tz: tzinfo | None) -> datetime:
    """The member's recorded time: a wall-clock time without a zone, read in ``tz`` (default: this machine's)."""
    try:
        naive = datetime(*info.date_time)
        return naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
    except (TypeError, ValueError, OverflowError, OSError):
        return fallback


def stage_zip(archive: Path, stager: Stager, skipped: list[tuple[str, str]], tz: tzinfo | None = None) -> list[Staged]:
    """Extract the regular-file members of ``archive`` into the staging folder; each refused one into ``skipped``.

    A zip records its members' times without a zone: they are read in ``tz`` (default: this machine's zone).

    Raises :class:`zipfile.BadZipFile` (or ``OSError``) only when the archive itself cannot be opened.
    """
    fallback = datetime.fromtimestamp(archive.stat().st_mtime, timezone.utc)
    out: list[Staged] = []
    seen: set[str] = set()
    total = 0
    with zipfile.ZipFile(archive) as zf:
        for index, info in enumerate(zf.infolist()):
            raw = info.filename
            if index >= MAX_ARCHIVE_MEMBERS:
                skipped.append((raw, f"over the bound of {MAX_ARCHIVE_MEMBERS} members per archive; not read"))
                continue
            try:
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise Refused("a symbolic link; not extracted")
                if info.is_dir() or stat.S_ISDIR(mode):
                    member_path(raw)  # a folder entry: nothing to extract, but a bad path is still said
                    continue
                if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                    raise Refused(f"not a regular file (mode {mode:o}); not extracted")
                rel = member_path(raw)
                if not rel:
                    raise Refused("an empty name; not extracted")
                if CHECKPOINTS in rel.split("/"):
                    continue  # Jupyter's own copies, passed over as in folders
                if rel in seen:
                    raise Refused("a second member of the same name; not extracted")
                seen.add(rel)
                if info.flag_bits & 0x1:
                    raise Refused("encrypted; not extracted")
                if is_archive_name(rel):
                    raise Refused("a nested archive (by its name), not unpacked")
                if info.file_size > MAX_FILE_BYTES:
                    raise Refused(
                        f"declares {megabytes(info.file_size)}, over the bound of {megabytes(MAX_FILE_BYTES)} per file"
                    )
                room = MAX_ARCHIVE_BYTES - total
                if info.file_size > room:
                    raise Refused(f"over the bound of {megabytes(MAX_ARCHIVE_BYTES)} extracted per archive")
                cap = min(MAX_FILE_BYTES, room)
                try:
                    with zf.open(info) as fh:
                        path, size = stager.copy(fh.read, cap, check_head=True)
                except Refused as err:
                    if "expands past" in str(err):
                        raise Refused(
                            f"{err} though it declares {megabytes(info.file_size)} (a zip bomb?); not extracted"
                        ) from None
                    raise
                except zipfile.BadZipFile as err:
                    if "CRC" in str(err):
                        raise Refused("its data fail their CRC check (damaged); not extracted") from None
                    raise Refused(f"cannot be read ({err}); not extracted") from None
                except Exception as err:  # zlib, lzma, bz2, EOF or unsupported-method errors: only this member
                    raise Refused(f"cannot be read ({type(err).__name__}: {err}); not extracted") from None
            except Refused as err:
                skipped.append((raw, str(err)))
                continue
            total += size
            out.append(Staged(rel, path, size, _member_time(info, fallback, tz)))
    return out
