"""What the grader gives a student's kernel, and what it takes from it.

- :func:`kernel_env`: the kernel's environment, built from an allow-list, so that a grader's secrets (an LMS
  token, cloud credentials) never reach student code;
- :class:`GuardedKernelManager`: jupyter_client's kernel manager whose clients refuse messages larger than
  :data:`MAX_MESSAGE_BYTES`, so that a kernel cannot make the grading process hold gigabytes in one message
  (libzmq drops such a message and the connection; the cell then fails or times out), and which starts and
  stops kernels without jupyter_client's fixed waits (:class:`PromptKernelClient`,
  :meth:`GuardedKernelManager._async_wait`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from queue import Empty
from typing import Any

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type

#: Largest message a grading process accepts from a kernel (outputs, replies, records).
MAX_MESSAGE_BYTES = 128 * 1024 * 1024

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

#: Environment variables a kernel may see, by exact name...
KERNEL_ENV_NAMES = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "SHELL"),
        *("PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING"),
        *("VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "LD_LIBRARY_PATH"),
        *("MPLBACKEND", "MPLCONFIGDIR", "IPYTHONDIR", "XDG_CACHE_HOME", "JUPYTER_RUNTIME_DIR"),
        *("AUTOGRADER_CACHE", "AUTOGRADER_GRADING"),
    }
)
#: ... and by prefix: locale, the course's switches, nbgrader's mode, thread counts, GPUs, PyTorch's settings.
KERNEL_ENV_PREFIXES = (
    *("LC_", "COURSE_", "NBGRADER_"),
    *("OMP_", "MKL_", "OPENBLAS_", "NUMEXPR_", "KMP_"),
    *("CUDA_", "NVIDIA_", "PYTORCH_", "TORCH_"),
)


def kernel_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: the allowed variables of ``environ`` (default: this process's), with plots
    drawn inline so that they reach the feedback (even where ``MPLBACKEND=Agg`` is set, as in CI)."""
    source = os.environ if environ is None else environ
    env = {
        name: value
        for name, value in source.items()
        if name in KERNEL_ENV_NAMES or name.startswith(KERNEL_ENV_PREFIXES)
    }
    env["MPLBACKEND"] = INLINE_BACKEND
    return env


#: Longest pause between two looks at a kernel that was told to stop (jupyter_client's fixed interval)...
STOP_POLL_MAX_S = 0.1
#: ... and the first: a killed kernel is gone within milliseconds, and the grader waits for it after every job.
STOP_POLL_FIRST_S = 0.002


class PromptKernelClient(AsyncKernelClient):
    """jupyter_client's asynchronous client, ready as soon as the kernel is.

    ``wait_for_ready`` is jupyter_client's, with one change: once the kernel has answered ``kernel_info`` on the
    shell channel and a message has come through IOPub (which shows that IOPub is connected: the check that
    matters), the messages already waiting on IOPub are dropped without then waiting 0.2 s for more, as
    jupyter_client does, at every kernel start. Messages that arrive later belong to that ``kernel_info``
    request; whoever reads IOPub next matches messages to its own request and skips them.
    """

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
        """Return when the kernel answers on the shell channel and IOPub delivers; raise if it dies or times out."""
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass  # IOPub not connected yet: ask again
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while await self.iopub_channel.msg_ready():
            await self.iopub_channel.get_msg(timeout=0)


class GuardedKernelManager(AsyncKernelManager):
    """A kernel manager whose clients accept messages of at most :data:`MAX_MESSAGE_BYTES`."""

    client_class = DottedObjectName("autograder.sandbox.kernel.PromptKernelClient", config=True)
    client_factory = Type(PromptKernelClient, klass=AsyncKernelClient, config=True)

    async def _async_wait(self, pollinterval: float = STOP_POLL_MAX_S) -> None:
        """Wait until the kernel has stopped, looking again after 2 ms, then twice as long each time up to
        ``pollinterval`` (jupyter_client sleeps ``pollinterval`` first: 0.1 s after every kernel it kills)."""
        pause = min(STOP_POLL_FIRST_S, pollinterval)
        while await self._async_is_alive():
            await asyncio.sleep(pause)
            pause = min(pause * 2, pollinterval)

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        kw.pop("preload", None)  # the modules a fork server would import first: only sandboxed kernels fork
        return await super()._async_pre_start_kernel(**kw)

    def client(self, **kwargs: Any):
        kc = super().client(**kwargs)
        # a context's socket options apply to the sockets it makes next: the channels, when they start
        kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        return kc
