"""The grader's side of the fork server (:mod:`autograder.sandbox.forkserver`).

:func:`fork_kernel` asks this process's fork server for a kernel (starting the server on first use, inside
bubblewrap) and returns a :class:`ForkedKernel`, which jupyter_client drives as it drives a ``Popen``: ``poll``,
``wait``, ``send_signal``, ``kill``. A grading worker keeps one server per set of modules and kernel
environment (an assignment's kernels share one); the kernels' working copies and connection folders live in the
worker's :func:`jobs_dir`, the one folder of this process the server can see.

The server serves only a grader running as root (its kernels must become users of their own); elsewhere, and
whenever it cannot start, each kernel starts its own bubblewrap as before (:func:`available` says which).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from typing import Any

#: Seconds a fork server may take to import its modules (torch on a slow machine), and a kernel to be forked.
START_TIMEOUT = 300
SPAWN_TIMEOUT = 60
#: Fork servers one process keeps (one per assignment and environment; the oldest is closed beyond this).
MAX_SERVERS = 2
#: Switch: ``AUTOGRADER_FORK_SERVER=0`` starts every kernel with its own bubblewrap.
SWITCH = "AUTOGRADER_FORK_SERVER"

#: Packages whose modules a fork server may import ahead of a notebook (installed code the grader trusts, which
#: behaves the same imported before IPython runs: not tqdm.auto, which looks for IPython when it is imported)...
PRELOADABLE = ("numpy", "matplotlib", "skimage", "scipy", "torch", "torchvision", "PIL", "cnnlab")
#: ... and the grader's checks, which test cells import.
PRELOADABLE_PREFIXES = ("autograder.checks",)
#: What a module brings with it in a kernel, imported on first use rather than with the module (each was a cost
#: paid again in every kernel): NumPy's random generators (the kernel's fresh seeds import them); pyplot, the
#: Agg renderer and the inline backend that draw a notebook's figures (the backend is switched on in the
#: kernel once IPython runs, :func:`autograder.sandbox.forkserver.run_kernel`); scikit-image's ``io``, which
#: its sample images (``skimage.data.camera()``) read through on first use, 0.35 s of CPU; the compiler
#: PyTorch's optimisers import on their first step; torchvision, which the course library's feature
#: visualisation imports when it first blurs an image (0.13 s).
COMPANIONS = {
    "numpy": ("numpy.random",),
    "matplotlib": ("matplotlib.pyplot", "matplotlib.backends.backend_agg", "matplotlib_inline.backend_inline"),
    "skimage": ("skimage.io",),
    "torch": ("torch._dynamo",),
    "cnnlab": ("torchvision.transforms.functional",),
}


class ForkServerError(RuntimeError):
    """The fork server could not start or could not give a kernel (the caller falls back to bubblewrap)."""


def available() -> bool:
    """Whether kernels may come from a fork server here: Linux, the grader is root, not switched off."""
    return sys.platform.startswith("linux") and os.geteuid() == 0 and os.environ.get(SWITCH, "1") != "0"


_jobs_dir: str | None = None


def jobs_dir() -> str:
    """This process's folder for kernels' working copies and connection folders (made on first use)."""
    global _jobs_dir
    if _jobs_dir is None or not os.path.isdir(_jobs_dir):
        _jobs_dir = tempfile.mkdtemp(prefix="autograder-jobs-")
        _at_exit(shutil.rmtree, _jobs_dir, True)
    return _jobs_dir


def _at_exit(function: Any, *args: Any) -> None:
    """Run ``function(*args)`` when this process ends: a plain exit, or a pool worker's (which skips ``atexit``)."""
    from multiprocessing import util

    atexit.register(function, *args)
    util.Finalize(None, function, args=args, exitpriority=0)


def modules_to_preload(sources: Iterable[str]) -> list[str]:
    """The modules of :data:`PRELOADABLE` that ``sources`` (cells' code) import, with their companions."""
    import ast

    found: list[str] = []
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
            for name in names:
                root = name.split(".")[0]
                if (root in PRELOADABLE or name.startswith(PRELOADABLE_PREFIXES)) and name.count(".") <= 3:
                    found += [name, *COMPANIONS.get(root, ())]
    return list(dict.fromkeys(found))


class ForkedKernel:
    """A kernel forked by the fork server, seen as jupyter_client sees a ``Popen``.

    ``pid`` is the kernel sandbox's first process (PID 1 of its namespaces, the parent of the kernel); killing it
    ends everything in the sandbox. The exit status comes from the server's supervisor over ``channel``.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, channel: socket.socket) -> None:
        self.pid, self._channel = pid, channel
        self.returncode: int | None = None

    def _read(self, timeout: float | None) -> None:
        if self.returncode is not None or self._channel.fileno() < 0:
            return
        readable, _, _ = select.select([self._channel], [], [], timeout)
        if not readable:
            return
        try:
            message = self._channel.recv(256)
        except OSError:
            message = b""
        if message.startswith(b"exit "):
            self.returncode = int(message.split()[1])
        elif not message:  # the supervisor is gone without a word (the server was killed)
            self.returncode = 128 + signal.SIGKILL
        if self.returncode is not None:
            self._channel.close()

    def poll(self) -> int | None:
        """The exit status, or ``None`` while the kernel runs."""
        self._read(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the kernel to end (at most ``timeout`` seconds); its exit status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired("forked kernel", timeout or 0)
            self._read(left)
        return self.returncode

    def kernel_pid(self) -> int | None:
        """The kernel's own process (the first child of the sandbox's first process), or ``None``."""
        import psutil

        try:
            children = psutil.Process(self.pid).children()
        except psutil.Error:
            return None
        return children[0].pid if children else None

    def send_signal(self, signum: int) -> None:
        """SIGKILL ends the whole sandbox (through the supervisor); other signals go to the kernel."""
        if self.returncode is not None:
            return
        if signum == signal.SIGKILL:
            with contextlib.suppress(OSError):
                self._channel.send(b"kill")
            return
        kernel = self.kernel_pid()
        if kernel is not None:
            with contextlib.suppress(OSError):
                os.kill(kernel, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def close(self) -> None:
        """Forget the kernel; the supervisor kills it if it still runs."""
        with contextlib.suppress(OSError):
            self._channel.close()


class ForkServer:
    """One fork server: a process inside bubblewrap that has imported ``modules`` and forks kernels."""

    def __init__(self, argv: list[str], env: dict[str, str], modules: list[str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = [*argv, sys.executable, "-m", "autograder.sandbox.forkserver", str(theirs.fileno()), *modules]
        try:
            self.process = subprocess.Popen(
                command, env=env, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
            )  # fmt: skip
        except OSError as err:
            ours.close()
            raise ForkServerError(f"the fork server could not start: {err}") from None
        finally:
            theirs.close()
        self._control = ours
        self._lock = threading.Lock()
        readable, _, _ = select.select([ours], [], [], START_TIMEOUT)
        answer = ours.recv(4096) if readable else b""
        if answer != b"ready":
            self.close()
            code = self.process.poll()
            why = f"exit status {code}" if code is not None else f"no answer in {START_TIMEOUT} s"
            said = answer.decode(errors="replace").removeprefix("error ") if answer else why
            raise ForkServerError(f"the fork server did not start ({said})")

    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self, request: dict[str, Any]) -> ForkedKernel:
        """Fork a kernel for ``request`` (see :func:`fork_kernel`); raise ``ForkServerError`` when it fails."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with self._lock:
                socket.send_fds(self._control, [json.dumps(request).encode()], [theirs.fileno()])
        except OSError as err:
            ours.close()
            raise ForkServerError(f"the fork server did not take the request: {err}") from None
        finally:
            theirs.close()
        readable, _, _ = select.select([ours], [], [], SPAWN_TIMEOUT)
        answer = ours.recv(65536).decode(errors="replace") if readable else ""
        if answer.startswith("pid "):
            return ForkedKernel(int(answer.split()[1]), ours)
        ours.close()
        if not readable:
            raise ForkServerError(f"no kernel within {SPAWN_TIMEOUT} s")
        raise ForkServerError(answer.removeprefix("error ") or "the fork server's supervisor ended without a word")

    def close(self) -> None:
        """Stop the server; kernels it forked and that still run end with it."""
        with contextlib.suppress(OSError):
            self._control.close()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_servers: dict[tuple, ForkServer] = {}
#: Servers that could not start, with why (not tried again by this process).
_broken: dict[tuple, str] = {}


def _close_all() -> None:
    for server in _servers.values():
        server.close()
    _servers.clear()


_at_exit(_close_all)


def server_env(kernel_env: dict[str, str]) -> dict[str, str]:
    """The fork server's environment: the kernels' own, without what differs from one kernel to the next."""
    return {k: v for k, v in kernel_env.items() if not k.startswith("JPY_")}


def fork_kernel(
    argv: list[str],
    env: dict[str, str],
    modules: list[str],
    request: dict[str, Any],
) -> ForkedKernel:
    """A kernel from the fork server started with bubblewrap command ``argv``, ``env`` and ``modules``.

    ``request``: ``connection_file``, ``cwd``, ``uid``, ``env`` (the kernel's), ``writable`` (folders the kernel
    may write: under :func:`jobs_dir` or bound into the server), ``readonly`` (folders and files the server sees
    that the kernel must see too, read-only, even under its private ``/tmp``), ``open_folders`` (folders made
    writable for everyone in that ``/tmp``) and ``limits``.
    """
    key = (tuple(argv), tuple(sorted(server_env(env).items())), tuple(modules))
    with _servers_lock:
        server = _server_for(key, argv, env, modules)
    return server.spawn(request)


_servers_lock = threading.Lock()


def _server_for(key: tuple, argv: list[str], env: dict[str, str], modules: list[str]) -> ForkServer:
    server = _servers.get(key)
    if server is not None and not server.alive():
        server.close()
        del _servers[key]
        server = None
    if server is None:
        if key in _broken:
            raise ForkServerError(_broken[key])
        while len(_servers) >= MAX_SERVERS:
            _servers.pop(next(iter(_servers))).close()
        try:
            server = _servers[key] = ForkServer(argv, server_env(env), modules)
        except ForkServerError as err:
            _broken[key] = str(err)
            raise
    return server
