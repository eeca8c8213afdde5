"""Kernels forked from the fork server: each in a sandbox of its own, nothing shared between two of them.

Real kernels through ``SandboxedKernelManager`` (the grader's own path), as root with bubblewrap; each test
asks the kernel what it can see and do.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

import psutil
import pytest

from autograder.sandbox import command, forkclient
from autograder.sandbox.kernel import kernel_env
from autograder.sandbox.manager import SandboxedKernelManager
from tests.support.nbcourse import ROOT

pytestmark = pytest.mark.skipif(
    command.bwrap_path() is None or not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="the fork server serves a grader running as root, with bubblewrap",
)


class Kernel:
    """A kernel started the grader's way in a fresh working copy holding ``files``."""

    def __init__(self, files: dict[str, str] | None = None, preload: list[str] | None = None, **limits) -> None:
        self.work = tempfile.mkdtemp(prefix="autograder-work-", dir=SandboxedKernelManager.work_parent())
        for name, text in (files or {}).items():
            Path(self.work, name).write_text(text)
        command.hand_over([self.work])
        self.km = SandboxedKernelManager(**limits)
        self.preload = preload if preload is not None else ["numpy"]

    async def __aenter__(self) -> Kernel:
        await self.km.start_kernel(cwd=self.work, env=kernel_env(), preload=self.preload)
        self.kc = self.km.client()
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=120)
        return self

    async def run(self, code: str, timeout: float = 60) -> tuple[str, dict]:
        """Run ``code``; its printed text and the reply's content."""
        out: list[str] = []

        def hook(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}\n")

        reply = await self.kc.execute_interactive(code, timeout=timeout, output_hook=hook)
        return "".join(out), reply["content"]

    async def __aexit__(self, *exc) -> None:
        self.kc.stop_channels()
        if await self.km.is_alive():
            await self.km.shutdown_kernel(now=True)
        else:
            await self.km.cleanup_resources()


def run(coro):
    return asyncio.run(coro)


def test_a_kernel_comes_from_the_fork_server_with_its_modules_imported():
    async def go():
        async with Kernel(files={"data.txt": "hello"}) as k:
            assert isinstance(k.km.provisioner.process, forkclient.ForkedKernel)
            code = "import sys, os\nprint('numpy' in sys.modules, os.getcwd(), open('data.txt').read())"
            out, reply = await k.run(code)
            assert reply["status"] == "ok"
            assert out.split() == ["True", k.work, "hello"]

    run(go())


@pytest.mark.parametrize(
    "preload",
    [["matplotlib.pyplot"], forkclient.modules_to_preload(["import matplotlib.pyplot"])],
    ids=["pyplot", "pyplot-and-its-backends"],
)
def test_plots_reach_the_outputs_as_in_a_kernel_started_afresh(preload):
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nprint('drawn')"

    async def go():
        async with Kernel(preload=preload) as k:
            shown: list[str] = []

            def keep(msg: dict) -> None:
                if msg["msg_type"] == "display_data":
                    shown.extend(msg["content"].get("data", {}))

            await k.kc.execute_interactive(code, timeout=60, output_hook=keep)
            assert "image/png" in shown

    run(go())


FIGURE_CELLS = [
    "import matplotlib.pyplot as plt\nfrom matplotlib.backends.backend_agg import FigureCanvasAgg\n"
    "renders = []\n_draw = FigureCanvasAgg.draw\n"
    "def counted(self, *args, **kwargs):\n    renders.append(1)\n    return _draw(self, *args, **kwargs)\n"
    "FigureCanvasAgg.draw = counted",
    "plt.figure(figsize=(3, 2))\nplt.imshow([[0, 1], [2, 3]], cmap='gray')\nplt.title('two by two')\nplt.colorbar();",
    "fig, axes = plt.subplots(1, 2, figsize=(4, 2))\naxes[0].plot([1, 3, 2])\naxes[1].bar([0, 1], [2, 1])",
    "print(len(renders))",
]


async def _figures(preload: list[str]) -> tuple[list[bytes], int]:
    """The PNGs two figure cells display, and how many times the figures were rendered, in a forked kernel."""
    async with Kernel(preload=preload) as k:
        pngs: list[bytes] = []

        def keep(msg: dict) -> None:
            if msg["msg_type"] == "display_data" and "image/png" in msg["content"]["data"]:
                pngs.append(msg["content"]["data"]["image/png"])

        for code in FIGURE_CELLS[:-1]:
            reply = await k.kc.execute_interactive(code, timeout=60, output_hook=keep)
            assert reply["content"]["status"] == "ok"
        out, _ = await k.run(FIGURE_CELLS[-1])
        return pngs, int(out)


def test_figures_are_shown_before_pyplot_redraws_them_and_look_the_same():
    standard, standard_renders = run(_figures(["matplotlib.pyplot"]))  # IPython's order: redraw, then show
    shown_first, renders = run(_figures(forkclient.modules_to_preload(["import matplotlib.pyplot"])))
    assert len(standard) == len(shown_first) == 2
    assert shown_first == standard  # the same images, byte for byte
    assert standard_renders == 6  # per figure: pyplot's redraw, and two for the PNG's tight bounding box
    assert renders == 4  # the redraw, never seen, is gone


@pytest.mark.parametrize("preloaded", [True, False], ids=["preloaded", "imported-by-the-cell"])
def test_a_preloaded_module_warms_up_once_in_the_server(preloaded):
    code = "from autograder.checks.layers import torch_values\nprint(torch_values._table is not None)"

    async def go():
        async with Kernel(preload=["autograder.checks.layers"] if preloaded else ["numpy"]) as k:
            out, reply = await k.run(code)
            assert reply["status"] == "ok", out
            assert out.strip() == str(preloaded)  # Assignment 1's recorded values, read before the kernel forked

    run(go())


def test_a_forked_kernel_is_confined_as_a_bubblewrapped_one():
    other = tempfile.mkdtemp(prefix="autograder-work-", dir=SandboxedKernelManager.work_parent())
    Path(other, "answers.txt").write_text("another student's work")
    os.environ["AUTOGRADER_TEST_SECRET"] = secret = uuid.uuid4().hex
    probe = f"""
import os, resource, socket
status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
print('caps', [status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')])
print('no_new_privs', status['NoNewPrivs'].strip())
print('uid', os.getuid(), os.geteuid(), os.getgid(), os.getgroups())
print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
print('limits', resource.getrlimit(resource.RLIMIT_CPU)[0], resource.getrlimit(resource.RLIMIT_NPROC)[0],
      resource.getrlimit(resource.RLIMIT_FSIZE)[0])
print('seen', os.path.exists({str(ROOT / "solutions")!r}), os.path.exists({other!r}),
      {secret!r} in repr(dict(os.environ)), {secret!r} in open('/proc/1/environ', 'rb').read().decode(errors='replace'))
try:
    socket.create_connection(('127.0.0.1', 22), timeout=2)
    print('network yes')
except OSError:
    print('network no')
writable = []
for top, dirs, files in os.walk('/'):
    if top in ('/proc', '/sys') or top.startswith(('/proc/', '/sys/')):
        dirs[:] = []
        continue
    if os.access(top, os.W_OK):
        writable.append(top)
print('writable', writable)
"""

    async def go():
        async with Kernel(cpu_seconds=123, max_processes=77, max_file_mb=5) as k:
            out, reply = await k.run(probe, timeout=120)
            assert reply["status"] == "ok", out
            lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
            assert eval(lines["caps"]) == ["0000000000000000"] * 5
            assert lines["no_new_privs"] == "1"
            uid = command.sandbox_uid()
            assert lines["uid"] == f"{uid} {uid} {uid} []"
            assert eval(lines["pids"]) == [1, 2]  # the sandbox's first process and the kernel: nothing else
            assert lines["limits"] == f"123 77 {5 * 1024 * 1024}"
            assert lines["seen"] == "False False False False"
            assert lines["network"] == "no"
            writable = set(eval(lines["writable"]))
            # its private /tmp (the working copy and the connection folder are shown there) and /dev/shm: no more
            assert all(p in ("/tmp", "/dev/shm") or p.startswith(("/tmp/", "/dev/shm/")) for p in writable), writable
            assert {k.work, os.path.dirname(k.km.connection_file), "/tmp", "/dev/shm"} <= writable
            assert os.path.dirname(k.work) not in writable  # the worker's folder of jobs: only this job's copy

    try:
        run(go())
    finally:
        del os.environ["AUTOGRADER_TEST_SECRET"]


def test_nothing_one_kernel_leaves_reaches_the_next():
    marker = f"left-behind-{uuid.uuid4().hex}"
    plant = f"""
import os, subprocess, sys
open('/tmp/{marker}', 'w').write('x')
open('/dev/shm/{marker}', 'w').write('x')
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '{marker}'], start_new_session=True)
print('planted')
"""
    look = f"""
import os
print(os.path.exists('/tmp/{marker}'), os.path.exists('/dev/shm/{marker}'),
      sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
"""

    def survivors() -> list[int]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            if marker in (proc.info["cmdline"] or []):
                found.append(proc.pid)
        return found

    async def go():
        async with Kernel() as first:
            out, _ = await first.run(plant)
            assert out.strip() == "planted"
            assert survivors(), "the planted process should run while its kernel runs"
            async with Kernel() as second:
                out, _ = await second.run(look)
                assert out.strip().split(maxsplit=2) == ["False", "False", "[1, 2]"]
        for _ in range(50):
            if not survivors():
                break
            await asyncio.sleep(0.1)
        assert survivors() == []  # ending the kernel ended everything it started

    run(go())


def test_two_kernels_draw_different_random_numbers():
    code = "import random, numpy\nprint(random.random(), numpy.random.rand())"

    async def go():
        draws = []
        for _ in range(2):
            async with Kernel() as k:
                out, _ = await k.run(code)
                draws.append(out.split())
        assert draws[0][0] != draws[1][0] and draws[0][1] != draws[1][1]

    run(go())


def test_interrupts_exits_and_crashes_are_seen_as_with_bubblewrap():
    async def go():
        async with Kernel() as k:
            task = asyncio.ensure_future(k.run("import time\ntime.sleep(30)"))
            await asyncio.sleep(1.5)
            await k.km.interrupt_kernel()
            out, reply = await asyncio.wait_for(task, 20)
            assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
            out, reply = await k.run("print(6 * 7)")
            assert out.strip() == "42"
        for code, kind, words in [
            ("import os\nos._exit(3)", "exit", "status 3"),
            ("import ctypes\nctypes.string_at(0)", "crash", "segmentation fault"),
        ]:
            async with Kernel() as k:
                with pytest.raises((RuntimeError, TimeoutError)):  # the kernel died: no reply
                    await k.run(code, timeout=5)
                for _ in range(50):
                    if k.km.exit_reason():
                        break
                    await asyncio.sleep(0.1)
                found = k.km.exit_reason()
                assert found is not None and found[0] == kind and words in found[1], found

    run(go())


def test_without_the_fork_server_kernels_start_with_bubblewrap(monkeypatch):
    async def go(expected: type):
        async with Kernel() as k:
            assert type(k.km.provisioner.process) is expected
            out, _ = await k.run("print(1 + 1)")
            assert out.strip() == "2"

    def refuse(*args, **kwargs):
        raise forkclient.ForkServerError("refused for the test")

    with monkeypatch.context() as patch:
        patch.setattr(forkclient, "fork_kernel", refuse)
        run(go(__import__("subprocess").Popen))
    with monkeypatch.context() as patch:
        patch.setenv(forkclient.SWITCH, "0")
        run(go(__import__("subprocess").Popen))
    run(go(forkclient.ForkedKernel))


def test_only_trusted_packages_are_imported_ahead():
    cells = [
        "import numpy as np\nimport matplotlib.pyplot as plt\nfrom skimage import data\nfrom tqdm.auto import tqdm",
        "import os, subprocess\nimport evil_module\nfrom . import local",
        "from autograder.checks import layers\nimport torch.nn.functional as F",
        "this is not python (",
    ]
    found = forkclient.modules_to_preload(cells)
    assert {"numpy", "matplotlib.pyplot", "skimage", "skimage.data"} <= set(found)
    assert {"autograder.checks", "autograder.checks.layers", "torch.nn.functional", "torch._dynamo"} <= set(found)
    assert not {"os", "subprocess", "evil_module", "local", "tqdm"} & {name.split(".")[0] for name in found}


def test_what_a_module_loads_on_first_use_is_imported_ahead_with_it():
    found = forkclient.modules_to_preload(
        ["import numpy as np\nimport matplotlib.pyplot as plt\nfrom skimage import data"]
    )
    # the kernel's fresh seeds, the renderer and the inline backend of its figures, the readers of sample images
    assert {"numpy.random", "matplotlib.backends.backend_agg", "matplotlib_inline.backend_inline"} <= set(found)
    assert "skimage.io" in found
    assert "torchvision.transforms.functional" in forkclient.modules_to_preload(["from cnnlab.train import fit"])


def test_a_sample_image_is_read_without_importing_its_readers_in_the_kernel():
    code = (
        "import sys\nbefore = set(sys.modules)\nfrom skimage import data\nimage = data.camera()\n"
        "print(image.shape, sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('skimage', 'imageio',"
        " 'scipy', 'PIL') and m.count('.') < 2 and not m.startswith(('skimage.data', 'PIL.'))))"
    )

    async def go():
        async with Kernel(preload=forkclient.modules_to_preload(["from skimage import data"])) as k:
            out, reply = await k.run(code)
            assert reply["status"] == "ok", out
            assert out.strip() == "(512, 512) []"  # skimage.io, imageio and SciPy came with the server

    run(go())


def test_the_server_runs_with_the_kernels_environment_only(monkeypatch):
    monkeypatch.setenv("LMS_API_TOKEN", "do-not-leak")

    async def go():
        async with Kernel() as k:
            pid = k.km.provisioner.process.pid
            server = psutil.Process(pid).parent().parent()  # supervisor, then the server
            assert "forkserver" in " ".join(server.cmdline())
            assert "LMS_API_TOKEN" not in server.environ()

    run(go())


def test_the_kernel_cannot_signal_its_sandboxs_first_process():
    async def go():
        async with Kernel() as k:
            code = "import os, signal, time\nos.kill(1, signal.SIGKILL)\ntime.sleep(0.5)\nprint('still here')"
            out, _ = await k.run(code)
            assert out.strip() == "still here"
            assert await k.km.is_alive()

    run(go())


def test_killing_the_kernel_ends_its_whole_sandbox():
    async def go():
        async with Kernel() as k:
            first = k.km.provisioner.process.pid
            await k.km.shutdown_kernel(now=True)
            for _ in range(50):
                if not psutil.pid_exists(first):
                    break
                await asyncio.sleep(0.1)
            assert not psutil.pid_exists(first)
            assert not await k.km.is_alive()

    run(go())


def test_a_forked_kernel_over_its_memory_limit_is_stopped():
    code = "import numpy\nblock = numpy.ones(700 * 2**20 // 8)\nimport time\ntime.sleep(30)"

    async def go():
        async with Kernel(preload=["numpy"], memory_mb=500) as k:
            with pytest.raises((RuntimeError, TimeoutError)):
                await k.run(code, timeout=8)
            found = k.km.exit_reason()
            assert found is not None and found[0] == "memory_limit", found

    run(go())


@pytest.mark.parametrize("count_root", [True, False])
def test_the_watchdog_can_leave_the_roots_own_memory_out(count_root):
    """A forked sandbox's first process holds a copy of the server's pages and nothing else: the kernel's limit
    leaves it out. Here the root holds 300 MiB, its child a little; the limit is 200 MiB."""
    import subprocess
    import time

    from autograder.sandbox.manager import MemoryWatchdog

    root = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\nblock = bytearray(300 * 2**20)\n"
         "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\ntime.sleep(60)"]
    )  # fmt: skip
    try:
        time.sleep(1.5)
        watchdog = MemoryWatchdog(root.pid, 200 * 2**20, count_root=count_root).start()
        time.sleep(1.5)
        watchdog.stop()
        assert (watchdog.exceeded is not None) is count_root
        assert (root.poll() is not None) is count_root
    finally:
        root.kill()
        root.wait()


def test_a_pool_worker_removes_its_folder_of_jobs_when_it_ends():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
        folder = pool.submit(forkclient.jobs_dir).result()
        assert os.path.isdir(folder)
    assert not os.path.exists(folder)  # a pool worker ends without running atexit


def test_packages_under_tmp_stay_visible_and_read_only_under_the_private_tmp(tmp_path, monkeypatch):
    """A checkout under /tmp (CI's fresh clone) is hidden by each kernel's fresh /tmp unless shown again."""
    assert str(tmp_path).startswith("/tmp/")
    package = tmp_path / "checkout" / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("ANSWER = 42\n")
    real = command.package_dirs
    monkeypatch.setattr(command, "package_dirs", lambda names=command.KERNEL_PACKAGES: [*real(names), str(package)])
    import autograder.sandbox.manager as manager

    monkeypatch.setattr(manager, "package_dirs", command.package_dirs)
    code = (
        "import mypkg, os\n"
        "try:\n    open(os.path.join(os.path.dirname(mypkg.__file__), 'x'), 'w')\n    print(mypkg.ANSWER, 'writable')\n"
        "except OSError:\n    print(mypkg.ANSWER, 'read-only')"
    )

    async def go():
        async with Kernel() as k:
            assert isinstance(k.km.provisioner.process, forkclient.ForkedKernel)
            out, reply = await k.run(code)
            assert reply["status"] == "ok", out
            assert out.split() == ["42", "read-only"]

    run(go())
