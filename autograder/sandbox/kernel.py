"""What the grader gives a student's kernel, and what it takes from it.

- :func:`kernel_env`: the kernel's environment, built from an allow-list, so that a grader's secrets (an LMS
  token, cloud credentials) never reach student code;
- :class:`GuardedKernelManager`: jupyter_client's kernel manager whose clients refuse messages larger than
  :data:`MAX_MESSAGE_BYTES`, so that a kernel cannot make the grading process hold gigabytes in one message
  (libzmq drops such a message and the connection; the cell then fails or times out).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import zmq
from jupyter_client.manager import AsyncKernelManager

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


class GuardedKernelManager(AsyncKernelManager):
    """A kernel manager whose clients accept messages of at most :data:`MAX_MESSAGE_BYTES`."""

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        kw.pop("preload", None)  # the modules a fork server would import first: only sandboxed kernels fork
        return await super()._async_pre_start_kernel(**kw)

    def client(self, **kwargs: Any):
        kc = super().client(**kwargs)
        # a context's socket options apply to the sockets it makes next: the channels, when they start
        kc.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        return kc
