"""The ``bwrap`` command line that confines one kernel.

Inside the sandbox the kernel sees: the system and Python read-only (``/usr``, ``/etc``, the interpreter's
prefix, the ``autograder`` and ``cnnlab`` packages — their folders only, not the repository around them), a
private ``/tmp`` (holding, read-only, matplotlib's font list built once by the grader), a minimal ``/dev``
(plus the NVIDIA devices when there are any), its own ``/proc``, and two writable folders: the submission's
working copy and the folder of the kernel's connection sockets. Solutions, the gradebook, the exchange and
other students' files are simply not there. It has no network (a network namespace with nothing in it, not
even a working loopback), its own PID namespace (it cannot see or signal the grader's processes; when it ends,
everything it started ends), and resource limits set with ``prlimit``. When the grader runs as root,
bubblewrap runs privileged and the kernel is switched to ``nobody`` inside (``setpriv``, with every capability
dropped) so that the process limit holds and nothing it writes is owned by root; otherwise bubblewrap makes a
user namespace.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from .fontcache import SANDBOX_MPLCONFIGDIR, font_list_argv
from .policy import MIB, SandboxPolicy

#: Kernels run as uid ``SANDBOX_UID_BASE + <grading process id>`` when the grader is root: a user of their own,
#: so that one kernel's fork bomb, which fills its process limit, does not stop a kernel graded beside it.
SANDBOX_UID_BASE = 1_000_000


def sandbox_uid() -> int:
    """The uid of the kernels this process starts (unique among processes running at the same time)."""
    return SANDBOX_UID_BASE + os.getpid()


#: Packages from this repository that student kernels import (the checks, the course library).
KERNEL_PACKAGES = ("autograder", "cnnlab")
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt")
#: Folders the sandbox makes itself (their modes must stay as set).
PRIVATE_DIRS = ("/tmp", "/tmp/home")
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap), "
    "or run `bash setup.sh` as root"
)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine; the message says how to fix it."""


def bwrap_path() -> str | None:
    """The ``bwrap`` executable, or ``None`` when bubblewrap is not installed."""
    return shutil.which("bwrap")


def runs_as_root() -> bool:
    return os.geteuid() == 0


def package_dirs(names: Iterable[str] = KERNEL_PACKAGES) -> list[str]:
    """The folders the kernel's own packages are imported from (an editable install points into a checkout)."""
    dirs = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        for location in spec.submodule_search_locations or [os.path.dirname(spec.origin or "")]:
            if location and location not in dirs:
                dirs.append(location)
    return dirs


def python_dirs() -> list[str]:
    """The interpreter's prefixes and the site-packages folders outside them (user site, virtualenvs)."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for entry in sys.path:
        if entry and os.path.isdir(entry) and ("site-packages" in entry or "dist-packages" in entry):
            dirs.add(entry)
    return sorted(d for d in dirs if d and os.path.isdir(d))


def kernel_pythonpath() -> str:
    """``PYTHONPATH`` inside the sandbox: the folders holding the grader's own packages first, so the kernel
    imports the same ``autograder`` and ``cnnlab`` as the grader (an editable install may point elsewhere)."""
    parents = [os.path.dirname(d) for d in package_dirs()]
    existing = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(parents + existing))


def gpu_devices() -> list[str]:
    """NVIDIA device files to pass through (empty on a machine without them)."""
    return sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri/*"))


def parent_dirs(paths: Iterable[str]) -> list[str]:
    """``bwrap`` options that create the folders above ``paths`` traversable (mode 0755) inside the sandbox.

    bubblewrap copies the mode of a bound folder's parents (``/root`` is 0700), which would hide an
    interpreter installed under a home folder from the unprivileged kernel.
    """
    made: list[str] = []
    argv: list[str] = []
    for path in paths:
        parts = Path(path).parts
        for depth in range(2, len(parts)):
            parent = str(Path(*parts[:depth]))
            if parent not in made and parent not in PRIVATE_DIRS and not parent.startswith(SYSTEM_PATHS):
                made.append(parent)
                argv += ["--perms", "0755", "--dir", parent]
    return argv


def user_tasks() -> int:
    """Processes and threads this user already runs (an unprivileged sandbox's limit counts them too)."""
    try:
        import psutil

        uid = os.getuid()
        procs = psutil.process_iter(["uids", "num_threads"])
        return sum(p.info["num_threads"] or 1 for p in procs if p.info["uids"] and p.info["uids"].real == uid)
    except Exception:
        return 0


def limit_argv(policy: SandboxPolicy, address_space: bool) -> list[str]:
    """``prlimit`` options for ``policy``. ``address_space`` adds a virtual-memory cap as a backstop.

    The address-space cap is set to the memory limit plus 4 GiB (PyTorch maps about 3 GiB it never uses) so
    that one enormous allocation fails at once with ``MemoryError``; the watchdog enforces the real limit on
    the resident memory. CUDA maps far more address space than it uses, so the cap is left out with GPUs.
    """
    argv = [
        "prlimit",
        f"--cpu={policy.cpu_seconds}:{policy.cpu_seconds + 5}",
        f"--nproc={policy.max_processes + (0 if runs_as_root() else user_tasks())}",
        f"--fsize={policy.max_file_mb * MIB}",
        "--core=0",
    ]
    if address_space:
        cap = (policy.memory_mb + 4096) * MIB
        argv.append(f"--as={cap}")
    return argv + ["--"]


#: What the fork server keeps to give each kernel namespaces, mounts and a user of its own (it runs no student code).
FORK_SERVER_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")


def bwrap_argv(
    policy: SandboxPolicy,
    writable: Iterable[str],
    cwd: str,
    *,
    drop_root: bool | None = None,
    fork_server: bool = False,
) -> list[str]:
    """The command prefix that runs a program confined by ``policy`` with only ``writable`` folders writable.

    ``fork_server``: the prefix of :mod:`autograder.sandbox.forkserver` instead, which sees what a kernel sees but
    keeps root and :data:`FORK_SERVER_CAPS`, the machine's process ids and no limits (it applies ``policy`` to
    each kernel it forks, with namespaces of the kernel's own).
    """
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    drop_root = runs_as_root() if drop_root is None else drop_root
    gpus = gpu_devices()
    argv = [] if fork_server else limit_argv(policy, address_space=not gpus)
    argv += [bwrap, "--die-with-parent", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not fork_server:
        argv.append("--unshare-pid")
    if not policy.network:
        argv.append("--unshare-net")
    if fork_server:
        for cap in FORK_SERVER_CAPS:
            argv += ["--cap-add", cap]
    elif drop_root:  # bwrap runs privileged (no user namespace); only the switch to "nobody" keeps its capability
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:  # an unprivileged bwrap needs a user namespace
        argv.append("--unshare-user")
    for path in SYSTEM_PATHS:
        argv += ["--ro-bind-try", path, path]
    # the private /tmp first: binds below it (a checkout or a course under /tmp) are mounted on top of it
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    argv += ["--perms", "0777", "--dir", "/tmp/home"]
    argv += font_list_argv()  # matplotlib's font scan, done once outside instead of in every kernel
    readonly = python_dirs() + package_dirs()
    argv += parent_dirs([*readonly, *writable])
    for path in readonly:
        argv += ["--ro-bind", path, path]
    for dev in gpus:
        argv += ["--dev-bind", dev, dev]
    if gpus:
        argv += ["--ro-bind-try", "/sys", "/sys"]
    for path in writable:
        argv += ["--bind", path, path]
    argv += ["--chdir", cwd, "--unsetenv", "JPY_PARENT_PID"]
    for name, value in SANDBOX_ENV.items():
        argv += ["--setenv", name, value]
    argv += ["--setenv", "PYTHONPATH", kernel_pythonpath()]
    argv.append("--")
    if drop_root and not fork_server:
        uid = sandbox_uid()
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    return argv


#: Environment inside the sandbox: home, caches and temporary files in the private /tmp.
SANDBOX_ENV = {
    "HOME": "/tmp/home",
    "TMPDIR": "/tmp",
    "MPLCONFIGDIR": SANDBOX_MPLCONFIGDIR,
    "IPYTHONDIR": "/tmp/home/.ipython",
    "XDG_CACHE_HOME": "/tmp/home/.cache",
    "JUPYTER_RUNTIME_DIR": "/tmp/home/.jupyter-runtime",
    "USER": "student",  # the kernel's uid has no /etc/passwd entry; getpass reads these first
    "LOGNAME": "student",
}


def hand_over(paths: Iterable[str | Path]) -> None:
    """Make ``paths`` (folders, recursively) writable by the sandbox user when the grader runs as root."""
    if not runs_as_root():
        return
    uid = sandbox_uid()
    for top in paths:
        for root, dirs, files in os.walk(top):
            os.chown(root, uid, uid)
            for name in dirs + files:
                os.lchown(os.path.join(root, name), uid, uid)


@functools.lru_cache(maxsize=1)
def check_sandbox() -> str:
    """Start a trivial program in the sandbox; return bubblewrap's version, or raise ``SandboxUnavailable``."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    argv = bwrap_argv(SandboxPolicy(), writable=[], cwd="/") + [sys.executable, "-c", "print('ok')"]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SandboxUnavailable(f"bubblewrap could not start a sandbox: {err}") from None
    if run.returncode != 0 or run.stdout.strip() != "ok":
        detail = (run.stderr.strip().splitlines() or ["no message"])[-1]
        raise SandboxUnavailable(
            f"bubblewrap is installed but cannot create a sandbox here ({detail}); it needs user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu 24.04+ an AppArmor profile for bwrap)"
        )
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    return version or "bubblewrap"
