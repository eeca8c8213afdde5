"""Where jobs run: a local process pool (one GPU per worker when there are GPUs) or a Dask cluster.

Both are ``concurrent.futures`` executors; the coordinator does not know which one it drives.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

GPU_ENV = "CUDA_VISIBLE_DEVICES"


def _no_nvidia_driver() -> bool:
    """True where no NVIDIA driver can be present (Linux without its /proc entry, WSL's /dev/dxg or nvidia-smi)."""
    if not sys.platform.startswith("linux"):
        return False
    markers = ("/proc/driver/nvidia", "/dev/dxg")
    return not any(os.path.exists(m) for m in markers) and shutil.which("nvidia-smi") is None


def count_gpus() -> int:
    """CUDA GPUs visible to this process (0 without torch, without CUDA, or with ``COURSE_DEVICE=cpu``).

    Asks ``torch.cuda.device_count()``, except where there is plainly no NVIDIA driver (importing torch
    takes seconds that a CPU-only batch need not spend).
    """
    if os.environ.get("COURSE_DEVICE", "").strip().lower() == "cpu" or _no_nvidia_driver():
        return 0
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        return 0


def default_workers(n_gpus: int, n_cpus: int | None = None) -> int:
    """One worker per GPU where there are GPUs, else one per core."""
    return n_gpus if n_gpus > 0 else max(1, n_cpus or os.cpu_count() or 1)


def gpu_plan(n_workers: int, n_gpus: int, visible: str | None = None) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` of each worker: GPUs dealt round-robin; ``None`` (unchanged) without GPUs.

    ``visible`` is the coordinator's own ``CUDA_VISIBLE_DEVICES``: workers get entries of that list, so a
    coordinator restricted to GPUs "2,3" hands out "2" and "3", not "0" and "1".
    """
    if n_workers < 1:
        raise ValueError(f"need at least one worker, got {n_workers}")
    if n_gpus <= 0:
        return [None] * n_workers
    ids = [s.strip() for s in visible.split(",") if s.strip()] if visible else []
    if len(ids) < n_gpus:
        ids = [str(i) for i in range(n_gpus)]
    return [ids[i % n_gpus] for i in range(n_workers)]


THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(n_workers: int, n_cpus: int | None = None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Thread settings for each worker's kernels: the cores shared out, so that workers do not oversubscribe.

    PyTorch starts one thread per core in every process; N workers each training with all the cores spend
    their time waiting on each other (measured: several times slower than one worker). A setting the user
    made in the environment is kept.
    """
    environ = os.environ if environ is None else environ
    share = str(max(1, (n_cpus or os.cpu_count() or 1) // max(1, n_workers)))
    return {name: share for name in THREAD_ENV if name not in environ}


def _init_worker(slots: Any, threads: dict[str, str]) -> None:
    """Process-pool initializer: take one GPU slot (the worker's only visible GPU) and the worker's threads."""
    os.environ.update(threads)
    gpu = slots.get()
    if gpu is not None:
        os.environ[GPU_ENV] = gpu


#: Imported once by the fork server; every worker process forks from it with them loaded (torch included,
#: its CUDA not yet initialised, so each worker can still open the GPU it is given; pyplot, which the outside
#: verdicts import with the test cells' own imports: 0.8 s of CPU in each worker's first job otherwise).
PRELOAD = ["autograder.pipeline.job", "cnnlab.device", "matplotlib.pyplot"]


def local_executor(n_workers: int, n_gpus: int) -> Executor:
    """A pool of ``n_workers`` processes, each with its own ``CUDA_VISIBLE_DEVICES``.

    Workers are forked from a clean fork server (not from the coordinator, whose threads and CUDA state must
    not be inherited), which has imported nbgrader and torch once for all of them.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    slots = ctx.Queue()
    for gpu in gpu_plan(n_workers, n_gpus, os.environ.get(GPU_ENV)):
        slots.put(gpu)
    threads = thread_env(n_workers)
    return ProcessPoolExecutor(
        max_workers=n_workers, mp_context=ctx, initializer=_init_worker, initargs=(slots, threads)
    )


class InlineExecutor(Executor):
    """Runs each job in the calling process when it is submitted (``--workers 0``: debugging, small batches)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # the job's own failure travels in its future, as in a pool
            future.set_exception(err)
        return future


def dask_executor(address: str, resources: dict[str, float] | None = None) -> tuple[Executor, Any]:
    """An executor over the Dask cluster at ``address`` (e.g. ``tcp://host:8786``) and its client.

    ``resources`` (e.g. ``{"GPU": 1}``) are Dask worker resources each job needs: start GPU workers with
    ``dask worker ADDRESS --resources GPU=1`` and their own ``CUDA_VISIBLE_DEVICES``.
    """
    from distributed import Client

    client = Client(address)
    return client.get_executor(resources=resources or None, pure=False), client
