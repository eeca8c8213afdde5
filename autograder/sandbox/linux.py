"""The Linux system calls the fork server needs and Python 3.11 does not offer: namespaces, mounts, ``prctl``.

Each call raises ``OSError`` with the system's error number and the words of what it tried, so that a failure
while a kernel's sandbox is being built reaches the grader as a sentence.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def unshare(flags: int) -> None:
    """Move this process into new namespaces (``CLONE_NEW*`` flags)."""
    _check(_libc.unshare(flags), f"unshare({flags:#x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    """``mount(2)``."""
    result = _libc.mount(_bytes(source), _bytes(target), _bytes(fstype), flags, _bytes(data))
    _check(result, f"mount {source!r} on {target!r} ({fstype or 'bind'})")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    """``umount2(2)``, by default detaching the mount (it goes once nothing uses it)."""
    _check(_libc.umount2(_bytes(target), flags), f"umount {target!r}")


def prctl(option: int, arg: int = 0, arg3: int = 0) -> None:
    """``prctl(2)`` with up to two arguments."""
    _check(_libc.prctl(option, arg, arg3, 0, 0), f"prctl({option}, {arg})")


def mount_private_tree() -> None:
    """Stop mounts made from now on in this mount namespace from reaching any other (and the other way)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def mount_tmpfs(target: str, mode: int, size_mb: int | None = None) -> None:
    """A fresh, empty ``tmpfs`` on ``target`` (files there cannot be devices or setuid programs)."""
    options = f"mode={mode:o}" + (f",size={size_mb}m" if size_mb else "")
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)


def bind(source: str, target: str, readonly: bool = False) -> None:
    """Show ``source`` (a path, or ``/proc/self/fd/N``) at ``target`` too; read-only when asked."""
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def clear_capabilities() -> None:
    """Empty this process's effective, permitted and inheritable capability sets (``capset(2)``)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset (no capabilities)")


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 40


def drop_bounding_set() -> None:
    """Remove every capability from the bounding set and the ambient set: nothing run later can regain one."""
    for cap in range(last_capability() + 1):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
