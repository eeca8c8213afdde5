"""Test-wide guards: no network, a non-interactive matplotlib backend, and fast mode for notebooks."""

from __future__ import annotations

import os
import socket

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("COURSE_FAST", "1")

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
