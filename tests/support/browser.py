"""Headless Chromium for the tests: a page's DOM after its scripts had their chance, with no network.

Debian's ``chromium`` (setup.sh installs it) runs with the flags that keep it off the network and out of
the user's profile (a fresh ``--user-data-dir`` each time); as root it needs ``--no-sandbox``. Host names
resolve to nothing except the loopback address, where a test's own Jupyter server listens.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
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


class DevTools:
    """Headless Chromium driven through the DevTools protocol over a pipe (no port): open pages, fill forms,
    wait for what a page shows, take screenshots. Use as a context manager; the browser ends with it."""

    def __init__(self, width: int = 1280, height: int = 800, timeout: float = 60) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def hand_pipes() -> None:  # Chromium reads commands from fd 3 and writes answers to fd 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        command = [
            chromium(),
            *FLAGS,
            f"--user-data-dir={self._profile.name}",
            "--remote-debugging-pipe",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=hand_pipes,
            pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.session = ""
        self.width, self.height = width, height

    def __enter__(self) -> DevTools:
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=None)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=None)[
            "sessionId"
        ]
        self.call("Page.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", session=None, timeout=10)
        with contextlib.suppress(OSError):
            os.close(self._to_browser)
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=20)
        os.close(self._from_browser)
        self._profile.cleanup()

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise AssertionError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise AssertionError(f"Chromium ended (exit {self._proc.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = "", timeout: float | None = None):
        """Send one DevTools command (to the page unless ``session`` is None: the browser) and return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session or self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise AssertionError(f"{method} failed: {answer['error']}")
                return answer.get("result", {})

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} raised in the page: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        """Wait until a JavaScript expression is true in the page (it may navigate meanwhile)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(AssertionError):
                if self.evaluate(expression):
                    return
            time.sleep(0.3)
        text = ""
        with contextlib.suppress(AssertionError):
            text = self.evaluate("location.href + '\\n' + (document.body ? document.body.innerText : '')")
        raise AssertionError(f"the page never showed {expression!r} within {timeout:.0f} s; it shows:\n{text}")

    def screenshot(self, path: Path) -> bytes:
        """Save a PNG screenshot of the page at ``path``; its bytes."""
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data
