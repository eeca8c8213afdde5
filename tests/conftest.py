"""Test-wide guards: no network, a non-interactive matplotlib backend, fast mode for notebooks, and one thread
per process when pytest runs its test files in parallel (``-n``, pytest-xdist)."""

from __future__ import annotations

import os
import socket

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("COURSE_FAST", "1")

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # Test files run side by side, each with its own kernels and grading workers. A multi-threaded torch in
    # each of them would oversubscribe the cores, and its spinning threads then run several times slower than
    # one thread each; the variables reach torch here (imported later) and every kernel the tests start.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address):  # type: ignore[no-untyped-def]
    """Allow Unix sockets and loopback (Jupyter kernels); refuse everything else."""
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("127."):
            raise OSError(f"network access to {address!r} attempted during tests: the course must work offline")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
