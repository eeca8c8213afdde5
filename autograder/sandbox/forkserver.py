"""The fork server: an interpreter that has imported a kernel's heavy modules once and forks a fresh, sandboxed
kernel from itself for each notebook.

Starting a kernel the usual way costs every submission the same seconds: Python, ipykernel, and the
notebook's own imports (numpy, matplotlib, torch...). This program does that work once per grading worker and
then forks. It runs inside bubblewrap (:func:`autograder.sandbox.command.fork_server_argv`), which already shows
it only what a kernel may see (the system and Python read-only, the grader's packages, a private ``/tmp``,
a minimal ``/dev``, no network), and it keeps the capabilities it needs to give each kernel a sandbox of its own:

1. the *supervisor* (a child of the server) moves into new mount, PID, network, IPC, UTS and cgroup
   namespaces and reports to the grader, over a socket of that kernel's own, the kernel's process id and, at the
   end, its exit status; when the grader closes that socket it kills the kernel's namespace;
2. the *sandbox's first process* (PID 1 of the new namespace) mounts a fresh ``/proc``, a fresh empty ``/tmp``
   and ``/dev/shm`` (so nothing one kernel leaves there reaches the next, and the other jobs' folders under
   ``/tmp`` disappear), shows this kernel's working copy and connection folder again at their paths, sets the
   resource limits, drops every capability (bounding set included), becomes the kernel's own user, forbids
   gaining privileges, and then only reaps processes until the kernel ends (passing on its exit status as
   bubblewrap does: ``128 + signal`` for a signal);
3. the *kernel* (PID 2) takes the kernel's environment, reseeds the random generators it inherited, and runs
   ipykernel on the connection file.

The server never runs student code and holds nothing a student may not see: its environment is the kernel's.
Started by :class:`autograder.sandbox.forkclient.ForkServer`; ``python -m autograder.sandbox.forkserver FD
MODULE...`` (FD: the control socket).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import resource
import select
import signal
import socket
import sys
from typing import Any

from . import linux

#: Namespaces each kernel gets of its own.
NAMESPACES = (
    linux.CLONE_NEWNS | linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
) | linux.CLONE_NEWCGROUP
#: Largest request the server reads (the kernel's environment and paths, as JSON).
MAX_REQUEST_BYTES = 1 << 20
#: Always imported: what every kernel starts with.
BASE_MODULES = ("ipykernel.kernelapp", "ipykernel.ipkernel", "autograder.verify.hooks", "autograder.verify.record")


#: A preloaded module may name what else to do once for all kernels (read its data): a function without arguments.
WARMUP = "fork_server_warmup"


def preload(modules: list[str]) -> None:
    """Import the kernel's modules once (a module that fails to import is left to the kernel, as without this),
    then run each one's :data:`WARMUP` function, if it has one (one that fails leaves the work to the kernel)."""
    for name in (*BASE_MODULES, *modules):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    for name in (*BASE_MODULES, *modules):
        warmup = getattr(sys.modules.get(name), WARMUP, None)
        if callable(warmup):
            with contextlib.suppress(Exception):
                warmup()
    gc.collect()
    gc.freeze()  # what is imported stays shared with the kernels: their collector never writes to it


def serve(control: socket.socket) -> None:
    """Answer requests until the grader closes the control socket: fork a supervisor for each."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the system
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MAX_REQUEST_BYTES, 1)
        except (ConnectionError, OSError):
            return
        if not message:
            return
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            continue
        status = fds[0]
        if os.fork() == 0:
            code = 1
            try:
                fd = control.detach()
                os.close(fd)
                supervise(json.loads(message), status)
                code = 0
            finally:
                os._exit(code)
        os.close(status)


def _send(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, text.encode()[:60_000])


def supervise(request: dict[str, Any], status: int) -> None:
    """The supervisor: new namespaces, the sandbox's first process, then its exit status to the grader."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    server = os.getppid()
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server:
        return
    try:
        linux.unshare(NAMESPACES)
    except OSError as err:
        _send(status, f"error could not make the kernel's namespaces: {err}")
        return
    ready_r, ready_w = os.pipe()
    first = os.fork()
    if first == 0:
        os.close(ready_r)
        code = 1
        try:
            code = sandbox_init(request, ready_w, keep={ready_w})
        finally:
            os._exit(code)
    os.close(ready_w)
    report = b""
    while chunk := os.read(ready_r, 65536):
        report += chunk
    os.close(ready_r)
    if report != b"ok":
        _send(status, "error " + (report.decode(errors="replace") or "the kernel's sandbox could not be made"))
        with contextlib.suppress(OSError):
            os.kill(first, signal.SIGKILL)
        os.waitpid(first, 0)
        return
    _send(status, f"pid {first}")
    code = _wait_or_kill(first, status)
    _send(status, f"exit {code}")


def _wait_or_kill(pid: int, status: int) -> int:
    """Wait for ``pid`` to end; kill it when the grader says ``kill`` or closes the socket. Its exit code."""
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    watched = [status] + ([pidfd] if pidfd is not None else [])
    killed = False
    while True:
        readable, _, _ = select.select(watched, [], [], 0.5 if pidfd is None else None)
        if status in readable and not killed:
            try:
                said = os.read(status, 64)
            except OSError:
                said = b""
            if said in (b"", b"kill"):
                killed = True
                watched = [w for w in watched if w != status]
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def _close_all_but(keep: set[int]) -> None:
    for fd in sorted(int(name) for name in os.listdir("/proc/self/fd")):
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def sandbox_init(request: dict[str, Any], ready: int, keep: set[int]) -> int:
    """PID 1 of the kernel's namespaces: build the sandbox, start the kernel, reap until it ends."""
    try:
        _close_all_but(keep)
        _build_sandbox(request)
    except Exception as err:
        os.write(ready, f"{type(err).__name__}: {err}".encode()[:4000])
        return 1
    os.write(ready, b"ok")
    os.close(ready)
    kernel = os.fork()
    if kernel == 0:
        code = 1
        try:
            code = run_kernel(request)
        finally:
            os._exit(code)
    while True:
        try:
            pid, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == kernel:
            code = os.waitstatus_to_exitcode(wait_status)
            return 128 - code if code < 0 else code


#: Where each kernel gets fresh, empty mounts (what the server sees there is hidden from the kernel).
PRIVATE_MOUNTS = ("/tmp", "/dev/shm")


def _hidden(path: str) -> bool:
    return any(path == root or path.startswith(root + "/") for root in PRIVATE_MOUNTS)


def _build_sandbox(request: dict[str, Any]) -> None:
    """Mounts, limits and the kernel's user (see the module's docstring, step 2)."""
    linux.mount_private_tree()
    # what the private mounts would hide and the kernel must see (its working copy and connection folder; the
    # Python and packages of a checkout under /tmp, read-only; matplotlib's font list) is opened first
    wanted = [(path, False) for path in request["writable"]] + [(path, True) for path in request.get("readonly", [])]
    shown = sorted(
        (path, readonly, os.path.isdir(path), os.open(path, os.O_PATH))
        for path, readonly in wanted
        if _hidden(path) and os.path.exists(path)
    )
    linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV)
    linux.mount_tmpfs("/tmp", 0o1777)
    if os.path.isdir("/dev/shm"):
        linux.mount_tmpfs("/dev/shm", 0o1777)
    for folder in ("/tmp/home", *request.get("open_folders", [])):
        os.makedirs(folder, exist_ok=True)
        os.chmod(folder, 0o777)
    for path, readonly, is_dir, fd in shown:
        if not os.path.exists(path):
            _make_parents(path)
            if is_dir:
                os.mkdir(path, 0o755)
            else:
                with open(path, "w"):
                    pass
        linux.bind(f"/proc/self/fd/{fd}", path, readonly=readonly)
        os.close(fd)
    with contextlib.suppress(OSError):
        socket.sethostname("sandbox")
    limits = request["limits"]
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"] + 5))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"], limits["nproc"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if limits.get("address_space"):
        resource.setrlimit(resource.RLIMIT_AS, (limits["address_space"], limits["address_space"]))
    uid = int(request["uid"])
    linux.drop_bounding_set()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another user: the permitted and effective capabilities go too
    linux.clear_capabilities()  # the inheritable set too
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    linux.prctl(linux.PR_SET_DUMPABLE, 1)  # as after exec: the kernel may read its own /proc entries
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # cleared by the change of user, so set after it
    with open("/proc/self/status") as fh:
        caps = [line.split()[1] for line in fh if line.startswith(("CapInh", "CapEff", "CapPrm", "CapBnd", "CapAmb"))]
    if any(int(value, 16) for value in caps) or os.getuid() != uid or os.geteuid() != uid:
        raise PermissionError(f"the kernel's privileges were not dropped (uid {os.getuid()}, capabilities {caps})")


def _make_parents(path: str) -> None:
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        _make_parents(parent)
        os.mkdir(parent, 0o755)


def run_kernel(request: dict[str, Any]) -> int:
    """The kernel: its environment, fresh random seeds, then ipykernel on the connection file."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    _reseed()
    sys.argv = ["ipykernel_launcher", "-f", request["connection_file"]]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:])
    inline = sys.modules.get("matplotlib_inline.backend_inline")
    if inline is not None:  # imported before IPython ran: its hooks (figures shown after each cell) wait for it
        inline._enable_matplotlib_integration()
        show_figures_before_redrawing(app.shell)
    app.start()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return 0


def show_figures_before_redrawing(shell: Any) -> None:
    """After each cell, let the inline backend show (and close) the cell's figures before pyplot redraws them.

    IPython runs two hooks after a cell: pyplot's ``_draw_all_if_interactive``, which renders every changed
    figure, then the inline backend's ``flush_figures``, which renders each figure again into its PNG (twice,
    for the tight bounding box) and closes it. The first render is never seen: run the other way round, the
    figures are shown and closed first and the redraw finds nothing to draw (a third of the drawing of a
    figure). What the cell displays is the same; a figure the backend does not show or close (``plt.ioff()``,
    ``close_figures`` off) is redrawn as before. A later switch of backend puts IPython's order back.
    """
    callbacks = shell.events.callbacks.get("post_execute", [])
    flush = [f for f in callbacks if getattr(f, "__name__", "") == "flush_figures"]
    redraw = [f for f in callbacks if getattr(f, "__name__", "") == "_draw_all_if_interactive"]
    if len(flush) == 1 and len(redraw) == 1 and callbacks.index(redraw[0]) < callbacks.index(flush[0]):
        callbacks.remove(flush[0])
        callbacks.insert(callbacks.index(redraw[0]), flush[0])


def _reseed() -> None:
    """Fresh seeds for the generators seeded when the server imported them (else every kernel draws the same)."""
    import random

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()


def main(argv: list[str]) -> None:
    """``python -m autograder.sandbox.forkserver FD MODULE...``."""
    control = socket.socket(fileno=int(argv[0]))
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # nothing is imported from the folder the server was started in
    preload(argv[1:])
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():  # a forked CUDA context does not work in the child
        control.send(b"error a preloaded module initialised CUDA")
        return
    control.send(b"ready")
    serve(control)


if __name__ == "__main__":
    main(sys.argv[1:])
