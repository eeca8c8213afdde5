"""``SandboxedKernelManager``: a jupyter_client kernel manager that starts each kernel under bubblewrap.

nbclient and nbgrader take a ``kernel_manager_class``; set it to this class (the grading pipeline does) and
every student kernel runs confined (see :mod:`autograder.sandbox.command`). The kernel talks to the grader
over ZeroMQ ``ipc`` sockets in a private folder that is the only thing, besides the working copy, it shares
with the outside. A watchdog thread enforces the memory limit on all of the kernel's processes together, and
:meth:`SandboxedKernelManager.exit_reason` says in words why a kernel died.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from typing import Any

from traitlets import Bool, Integer

from . import forkclient
from .command import (
    SANDBOX_ENV,
    bwrap_argv,
    hand_over,
    kernel_pythonpath,
    package_dirs,
    python_dirs,
    runs_as_root,
    sandbox_uid,
)
from .fontcache import SANDBOX_MPLCONFIGDIR, font_list
from .kernel import GuardedKernelManager
from .policy import MIB, SandboxPolicy

SIGNAL_WORDS = {
    signal.SIGSEGV: "crashed with a segmentation fault (SIGSEGV)",
    signal.SIGBUS: "crashed with a bus error (SIGBUS)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGFPE: "crashed with a floating-point exception (SIGFPE)",
    signal.SIGILL: "crashed with an illegal instruction (SIGILL)",
}


#: The programs between the grader and the kernel process (the last is where the kernel begins).
WRAPPERS = {"prlimit", "bwrap", "setpriv"}


def descendants(pid: int) -> list[int] | None:
    """The processes under ``pid`` (children, theirs, ...), from each thread's ``/proc/<pid>/task/<tid>/children``:
    a read per thread of the tree, where ``psutil``'s ``children`` reads every process of the machine (several
    milliseconds, ten times a second, for each kernel). ``None`` where Linux does not offer those files."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # ended meanwhile
        for tid in threads:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except FileNotFoundError:
                if not os.path.exists(f"/proc/{parent}/task/{tid}"):
                    continue  # the thread ended meanwhile
                return None  # no children files on this system
            except OSError:
                continue
            found += kids
            todo += kids
    return found


class MemoryWatchdog:
    """Kills a process tree whose resident memory, summed over its processes, goes above ``limit_bytes``.

    ``count_root=False`` leaves the root's own memory out of the sum (a forked sandbox's first process shares the
    fork server's pages with the kernel and does nothing else; counting them twice would shrink the limit).
    """

    def __init__(self, pid: int, limit_bytes: int, interval: float = 0.1, count_root: bool = True) -> None:
        self.pid, self.limit_bytes, self.interval, self.count_root = pid, limit_bytes, interval, count_root
        self.exceeded: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"memory-watchdog-{pid}", daemon=True)

    def start(self) -> MemoryWatchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.wait(self.interval):
            try:
                below = descendants(self.pid)
                if below is None:
                    procs = [root, *root.children(recursive=True)]
                else:
                    procs = [root, *(psutil.Process(child) for child in below if psutil.pid_exists(child))]
                if not root.is_running():
                    return
            except psutil.NoSuchProcess:
                continue  # a process of the tree ended between two reads: look again next time
            except psutil.Error:
                return
            used = 0
            for proc in procs if self.count_root else procs[1:]:
                try:
                    used += proc.memory_info().rss
                except psutil.Error:
                    pass
            if used > self.limit_bytes:
                self.exceeded = (
                    f"its memory reached {used / MIB:.0f} MiB in {len(procs)} process(es), over the sandbox's "
                    f"limit of {self.limit_bytes / MIB:.0f} MiB, and it was stopped"
                )
                for proc in reversed(procs):
                    try:
                        proc.kill()
                    except psutil.Error:
                        pass
                return


class SandboxedKernelManager(GuardedKernelManager):
    """Starts the kernel inside bubblewrap with the limits of a :class:`~autograder.sandbox.SandboxPolicy`."""

    memory_mb = Integer(SandboxPolicy.memory_mb, help="Memory limit of the kernel's processes (MiB).").tag(config=True)
    cpu_seconds = Integer(SandboxPolicy.cpu_seconds, help="CPU-time limit of each kernel process (s).").tag(config=True)
    max_processes = Integer(SandboxPolicy.max_processes, help="Processes and threads the kernel may run.").tag(
        config=True
    )
    max_file_mb = Integer(SandboxPolicy.max_file_mb, help="Largest file the kernel may write (MiB).").tag(config=True)
    network = Bool(SandboxPolicy.network, help="Let the kernel use the network (default: no).").tag(config=True)
    fork_server = Bool(
        True,
        help="Fork kernels from a server that has imported their modules once (only when the grader is root; "
        "each kernel still gets a sandbox of its own). AUTOGRADER_FORK_SERVER=0 switches it off.",
    ).tag(config=True)

    _watchdog: MemoryWatchdog | None = None
    _sandbox_dir: str | None = None
    _fork_plan: dict[str, Any] | None = None

    @classmethod
    def work_parent(cls) -> str | None:
        """Where the grader should make a kernel's working copy: the folder the fork server sees, when it serves."""
        return forkclient.jobs_dir() if forkclient.available() else None

    def _forking(self) -> bool:
        return self.fork_server and forkclient.available() and runs_as_root()

    @property
    def policy(self) -> SandboxPolicy:
        return SandboxPolicy(
            self.memory_mb, self.cpu_seconds, self.max_processes, self.max_file_mb, self.network, self.fork_server
        )

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        preload = kw.pop("preload", None) or []
        forking = self._forking()
        self._sandbox_dir = tempfile.mkdtemp(prefix="autograder-kernel-", dir=self.work_parent() if forking else None)
        self.transport = "ipc"
        self.ip = os.path.join(self._sandbox_dir, "kernel")
        self.connection_file = os.path.join(self._sandbox_dir, "kernel.json")
        kernel_cmd, kw = await super()._async_pre_start_kernel(**kw)
        cwd = os.fspath(kw.get("cwd") or os.getcwd())
        hand_over([self._sandbox_dir, cwd])
        shared = shared_cache()
        writable = [self._sandbox_dir, cwd, *([shared] if shared else [])]
        bwrapped = bwrap_argv(self.policy, writable, cwd) + list(kernel_cmd)
        self._fork_plan = None
        if forking:
            self._fork_plan = self._plan_fork(list(kernel_cmd), kw, cwd, writable, list(preload), bwrapped)
        return (list(kernel_cmd) if self._fork_plan else bwrapped), kw

    def _plan_fork(
        self, kernel_cmd: list[str], kw: dict[str, Any], cwd: str, writable: list[str], preload: list[str],
        bwrapped: list[str],
    ) -> dict[str, Any] | None:  # fmt: skip
        """What the fork server needs to start this kernel, or ``None`` when it cannot (another kernel program,
        a folder it cannot see)."""
        import sys

        launcher = kernel_cmd[1:3] == ["-m", "ipykernel_launcher"] and "-f" in kernel_cmd
        same_python = bool(kernel_cmd) and os.path.realpath(kernel_cmd[0]) == os.path.realpath(sys.executable)
        jobs = forkclient.jobs_dir()
        shared = shared_cache()
        seen = all(os.path.commonpath([jobs, p]) == jobs or p == shared for p in writable)
        if not (launcher and same_python and seen):
            return None
        env = env_inside(dict(kw.get("env") or os.environ))
        fonts = font_list()
        lent_fonts = [f"{SANDBOX_MPLCONFIGDIR}/{os.path.basename(fonts)}"] if fonts else []
        address_space = next((a for a in bwrapped if a.startswith("--as=")), None)
        request = {
            "connection_file": kernel_cmd[kernel_cmd.index("-f") + 1],
            "cwd": cwd,
            "uid": sandbox_uid(),
            "env": env,
            "writable": writable,
            # what the kernel reads at the same paths as in the server, which its private /tmp would hide: a
            # checkout or an interpreter under /tmp, matplotlib's font list
            "readonly": [*python_dirs(), *package_dirs(), *lent_fonts],
            "open_folders": [SANDBOX_MPLCONFIGDIR],
            "limits": {
                "cpu": self.cpu_seconds,
                "nproc": self.max_processes,
                "fsize": self.max_file_mb * MIB,
                "address_space": int(address_space.split("=")[1]) if address_space else None,
            },
        }
        return {"argv": fork_server_argv(self.policy), "env": env, "modules": preload, "request": request,
                "fallback": bwrapped}  # fmt: skip

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        plan = self._fork_plan
        if plan is not None:
            try:
                process = forkclient.fork_kernel(plan["argv"], plan["env"], plan["modules"], plan["request"])
            except forkclient.ForkServerError as err:
                self.log.warning("the fork server gave no kernel (%s); starting it with bubblewrap", err)
                kernel_cmd = plan["fallback"]
            else:
                assert self.provisioner is not None
                provisioner: Any = self.provisioner
                provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, None
                provisioner.cwd = plan["request"]["cwd"]
                self._reconcile_connection_info(provisioner.connection_info)
                self._watchdog = MemoryWatchdog(process.pid, self.memory_mb * MIB, count_root=False).start()
                return
        await super()._async_launch_kernel(kernel_cmd, **kw)
        process = getattr(self.provisioner, "process", None)
        if process is not None:
            self._watchdog = MemoryWatchdog(process.pid, self.memory_mb * MIB).start()

    def kernel_process(self):
        """The kernel's own process (the first below bubblewrap's), or ``None`` when it is gone."""
        import psutil

        process = getattr(self.provisioner, "process", None)
        if process is None:
            return None
        if isinstance(process, forkclient.ForkedKernel):
            pid = process.kernel_pid()
            try:
                return psutil.Process(pid) if pid is not None else None
            except psutil.Error:
                return None
        try:
            for child in psutil.Process(process.pid).children(recursive=True):
                if child.name() not in WRAPPERS:
                    return child
        except psutil.Error:
            pass
        return None

    async def _async_interrupt_kernel(self) -> None:
        """Interrupt the kernel itself: SIGINT to the whole process group would end bubblewrap instead."""
        if self.kernel_spec is not None and self.kernel_spec.interrupt_mode == "message":
            await super()._async_interrupt_kernel()
            return
        kernel = self.kernel_process()
        if kernel is not None:
            try:
                kernel.send_signal(signal.SIGINT)
            except Exception:
                pass

    interrupt_kernel = _async_interrupt_kernel  # AsyncKernelManager binds the name to the base method

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        process = getattr(self.provisioner, "process", None)
        await super()._async_cleanup_resources(restart=restart)
        if isinstance(process, forkclient.ForkedKernel):
            process.close()
        if self._watchdog is not None:
            self._watchdog.stop()
        if self._sandbox_dir is not None:
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)
            self._sandbox_dir = None

    def exit_reason(self) -> tuple[str, str] | None:
        """Why the kernel ended, as (kind, words), or ``None`` while it runs or when nothing is known."""
        if self._watchdog is not None and self._watchdog.exceeded:
            return "memory_limit", self._watchdog.exceeded
        process = getattr(self.provisioner, "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return None
        return describe_exit(code, self.cpu_seconds)


def env_inside(env: dict[str, str]) -> dict[str, str]:
    """A kernel's environment inside the sandbox, as bubblewrap sets it: ``env`` with the sandbox's home, caches
    and ``PYTHONPATH``, without the launching process's id."""
    inside = {k: v for k, v in env.items() if k != "JPY_PARENT_PID"}
    return {**inside, **SANDBOX_ENV, "PYTHONPATH": kernel_pythonpath()}


def fork_server_argv(policy: SandboxPolicy) -> list[str]:
    """The bubblewrap command of this process's fork server: it sees what a kernel sees, and writes only the
    folder of jobs (and the shared trainability cache when there is one)."""
    shared = shared_cache()
    return bwrap_argv(policy, [forkclient.jobs_dir(), *([shared] if shared else [])], "/", fork_server=True)


def shared_cache() -> str | None:
    """The trainability cache (``AUTOGRADER_CACHE``), made writable for every sandbox user, or ``None``.

    The cache is opt-in and meant for trusted runs (the test suite grades the same networks many times): a
    kernel that can write it could forge an entry, so a TA grading students leaves it unset.
    """
    folder = os.environ.get("AUTOGRADER_CACHE")
    if not folder:
        return None
    for path in (folder, os.path.join(folder, "trainability")):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o777)  # kernels run as different users and replace each other's entries
    return os.path.abspath(folder)


def describe_exit(code: int, cpu_seconds: int) -> tuple[str, str]:
    """Words for the exit status of a sandboxed kernel (bubblewrap passes on 128 + signal for a signal)."""
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    if sig == signal.SIGXCPU or sig == signal.SIGKILL:
        limit = f"it used up its CPU-time limit of {cpu_seconds} s" if sig == signal.SIGXCPU else "it was killed"
        return ("cpu_limit" if sig == signal.SIGXCPU else "killed"), limit
    if sig in SIGNAL_WORDS:
        return "crash", f"it {SIGNAL_WORDS[signal.Signals(sig)]}"
    if sig:
        return "crash", f"it was ended by signal {sig}"
    return "exit", f"it exited with status {code} (os._exit, sys.exit outside a cell, or a fatal error)"
