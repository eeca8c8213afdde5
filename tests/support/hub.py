"""The course hub for the tests: a temporary class of real Unix users, and clients of the hub's REST API and
of each user's Jupyter server (the same HTTP calls JupyterLab's Assignments tab and Formgrader make).

Everything a test creates on the machine (users, groups, ACL entries, folders) is listed in a ``Machine``
and undone by its ``clean_up``, in reverse order, even when a step failed.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
ACL = "system.posix_acl_access"
# POSIX ACL entry tags (linux/posix_acl_xattr.h)
USER_OBJ, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x04, 0x08, 0x10, 0x20
UNDEFINED_ID = 0xFFFFFFFF


def cli(*args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS`` as root, with this checkout first on the import path."""
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            **os.environ,
            **(env or {}),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    )


def _acl_entries(path: Path) -> list[tuple[int, int, int]]:
    try:
        blob = os.getxattr(path, ACL)
    except OSError:
        mode = path.stat().st_mode
        return [
            (USER_OBJ, mode >> 6 & 7, UNDEFINED_ID),
            (GROUP_OBJ, mode >> 3 & 7, UNDEFINED_ID),
            (OTHER, mode & 7, UNDEFINED_ID),
        ]
    return [struct.unpack("<HHI", blob[4 + 8 * i : 12 + 8 * i]) for i in range((len(blob) - 4) // 8)]


def grant_traversal(folder: Path, groups: Iterable[str]) -> Callable[[], None]:
    """Let ``groups`` pass through ``folder`` (an ACL entry ``g:NAME:x`` each, as ``setfacl -m`` adds); returns
    the function that puts the folder's ACL and mode back as they were."""
    mode = folder.stat().st_mode
    try:
        saved: bytes | None = os.getxattr(folder, ACL)
    except OSError:
        saved = None
    entries = [e for e in _acl_entries(folder) if e[0] != MASK]
    entries += [(GROUP, 1, grp.getgrnam(g).gr_gid) for g in groups]
    mask = 0
    for tag, perm, _ in entries:
        if tag in (GROUP_OBJ, GROUP):
            mask |= perm
    entries.append((MASK, mask, UNDEFINED_ID))
    entries.sort(key=lambda e: (e[0], e[2]))
    os.setxattr(folder, ACL, struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries))

    def restore() -> None:
        if saved is None:
            with contextlib.suppress(OSError):
                os.removexattr(folder, ACL)
        else:
            os.setxattr(folder, ACL, saved)
        os.chmod(folder, mode & 0o7777)

    return restore


@dataclass
class Machine:
    """What a test changed on the machine, undone in reverse order by ``clean_up``."""

    undo: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def later(self, what: str, action: Callable[[], None]) -> None:
        self.undo.append((what, action))

    def clean_up(self) -> list[str]:
        """Undo everything; what could not be undone."""
        failed = []
        for what, action in reversed(self.undo):
            try:
                action()
            except Exception as err:  # go on: the rest must still be undone
                failed.append(f"{what}: {err}")
        self.undo.clear()
        return failed


def end_processes_of(login: str) -> None:
    """End every process of the Unix user ``login`` (they were started for the test), by pid."""
    import psutil

    try:
        uid = pwd.getpwnam(login).pw_uid
    except KeyError:
        return
    procs = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)
        _, procs = psutil.wait_procs(procs, timeout=10)
        if not procs:
            return


def delete_user(login: str) -> None:
    end_processes_of(login)
    if subprocess.run(["id", login], capture_output=True).returncode == 0:
        subprocess.run(["userdel", "--remove", login], capture_output=True, check=True)


def delete_group(name: str) -> None:
    with contextlib.suppress(KeyError):
        grp.getgrnam(name)
        subprocess.run(["groupdel", name], capture_output=True, check=True)


class Hub:
    """The hub's REST API as the ``autograder-hub`` service (root's token in the state folder)."""

    def __init__(self, state: Path) -> None:
        from autograder.hub.settings import HubSettings

        self.settings = HubSettings.read(state)
        self.url = self.settings.url
        self.token = self.settings.api_token_file.read_text().strip()

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs)

    def start_servers(self, logins: Iterable[str], timeout: float = 400) -> None:
        """Start the users' servers together and wait until each one answers."""
        logins = list(logins)
        for login in logins:
            answer = self.api("POST", f"/users/{login}/server")
            assert answer.status_code in (201, 202, 400), answer.text  # 400: it already runs
        deadline = time.monotonic() + timeout
        waiting = set(logins)
        while waiting and time.monotonic() < deadline:
            for login in list(waiting):
                user = self.api("GET", f"/users/{login}").json()
                if user["server"] and not user["pending"]:
                    waiting.discard(login)
            time.sleep(1)
        assert not waiting, f"servers of {sorted(waiting)} did not start; the hub's log:\n{self.log()[-5000:]}"

    def log(self) -> str:
        return (self.settings.state / "jupyterhub.log").read_text(errors="replace")

    def server(self, login: str) -> Server:
        token = self.api("POST", f"/users/{login}/tokens", json={"note": "test", "expires_in": 3600}).json()["token"]
        return Server(f"{self.url}/user/{login}", token, login, self.settings.course_id)


@dataclass
class Server:
    """One user's Jupyter server, called with a token of that user (as their browser would, with a cookie)."""

    url: str
    token: str
    login: str
    course_id: str

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=600, **kwargs)

    def json(self, method: str, path: str, **kwargs):
        answer = self.request(method, path, **kwargs)
        assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text[:2000]}"
        return answer.json() if answer.text.strip() else None

    # nbgrader's assignment list and validation (server_extensions/assignment_list, validate_assignment)
    def assignments(self) -> list[dict]:
        answer = self.json("GET", "/assignments", params={"course_id": self.course_id})
        assert answer["success"], answer
        return answer["value"]

    def action(self, action: str, assignment: str) -> dict:
        data = {"course_id": self.course_id, "assignment_id": assignment}
        return self.json("POST", f"/assignments/{action}", data=data)

    def validate(self, path: str) -> dict:
        return self.json("POST", "/assignments/validate", data={"path": path})

    # Jupyter's contents API
    def read(self, path: str) -> dict:
        return self.json("GET", f"/api/contents/{path}", params={"content": "1"})

    def write_notebook(self, path: str, nb: dict) -> None:
        self.json("PUT", f"/api/contents/{path}", json={"type": "notebook", "format": "json", "content": nb})

    def rename(self, path: str, new_path: str) -> None:
        self.json("PATCH", f"/api/contents/{path}", json={"path": new_path})


def in_parallel(function: Callable, items: Iterable) -> list:
    """``function`` of each item, run side by side (the servers do the work); the results in order."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=len(items) or 1) as pool:
        return list(pool.map(function, items))


def home(login: str) -> Path:
    return Path(pwd.getpwnam(login).pw_dir)


def copy_course_files(target: Path, assignment: str) -> None:
    """A small course: the instructor's ``assignment``, its committed release and the welcome lecture."""
    shutil.copytree(ROOT / "solutions" / assignment, target / "solutions" / assignment)
    shutil.copytree(ROOT / "assignments" / assignment, target / "assignments" / assignment)
    (target / "course").mkdir(parents=True)
    shutil.copy(ROOT / "course" / "00_welcome.ipynb", target / "course" / "00_welcome.ipynb")
