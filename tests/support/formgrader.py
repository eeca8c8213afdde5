"""A real Jupyter server with nbgrader's Formgrader for a course, on the loopback address, for one test module.

The server loads no Jupyter configuration but the course's ``nbgrader_config.py`` (it starts in the course
root, which is also its root directory) and runs Formgrader alone, with a random token. Its login cookie is
set for the whole site, as Jupyter's login page does (opened with ``?token=`` on a Formgrader page, the
cookie would otherwise be limited to that page's folder and Formgrader's own API calls would fail).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    token: str
    log: Path

    def page(self, path: str) -> str:
        return f"{self.url}{path}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the Jupyter server exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise AssertionError(f"the Jupyter server did not listen within {timeout:.0f} s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def formgrader_server(course: Path, scratch: Path) -> Iterator[Server]:
    """Run Formgrader for ``course``; ``scratch`` holds the server's runtime files and its log."""
    scratch.mkdir(parents=True, exist_ok=True)
    port, token, log = _free_port(), secrets.token_hex(24), scratch / "server.log"
    env = {
        **os.environ,
        "JUPYTER_NO_CONFIG": "1",
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
        "JUPYTER_DATA_DIR": str(scratch / "data"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, "-m", "jupyter_server",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={course}", "--ServerApp.open_browser=False", "--ServerApp.allow_root=True",
        f"--IdentityProvider.token={token}", "--IdentityProvider.cookie_options=path=/",
        "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=True",
    ]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command, cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_port(port, proc, log)
        yield Server(f"http://127.0.0.1:{port}", token, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
