"""Headless Chromium for the tests: a page's DOM after its scripts had their chance, with no network.

Debian's ``chromium`` (setup.sh installs it) runs with the flags that keep it off the network and out of
the user's profile (a fresh ``--user-data-dir`` each time); as root it needs ``--no-sandbox``. Host names
resolve to nothing except the loopback address, where a test's own Jupyter server listens.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


def chromium() -> str:
    """The Chromium executable; skips the test where there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (setup.sh installs Debian's chromium)")


def dump_dom(url: str, budget_ms: int = 5000, timeout: float = 120) -> str:
    """The DOM of the page at ``url`` (``file://`` or the loopback) once ``budget_ms`` of virtual time ran:
    timers fire, pending loads (images, frames, API calls) finish first."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            url,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or "<html" not in result.stdout:
        raise AssertionError(f"Chromium could not open {url} (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def file_url(path: Path) -> str:
    return Path(path).resolve().as_uri()
