"""``autograder hub start`` and ``autograder hub stop``: the course's JupyterHub on this machine.

``start`` reads the roster, creates what the class needs on the machine (:mod:`autograder.hub.accounts`),
writes the settings and the role configurations into the state folder, checks as a student and as a grader
that their servers will be able to start, then runs JupyterHub (with ``configurable-http-proxy``) in the
background and waits until it answers. ``stop`` shuts the hub down through its API (the users' servers and
the proxy with it), and ends whatever is left of them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..course import AutograderError, Course
from . import accounts
from .accounts import Groups
from .roster import Member, read_class_roster
from .settings import HubSettings, server_environment
from .singleuser import MARK

#: Where a course's hub keeps its database, logs, settings and first passwords (``--state`` to choose).
DEFAULT_STATE = Path("/srv/jupyterhub")
#: The hub's configuration file, in the repository beside the package.
HUB_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub" / "jupyterhub_config.py"
PACKAGES = ("autograder", "cnnlab")
IGNORED = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")


@dataclass
class StartReport:
    settings: HubSettings
    pid: int
    accounts: accounts.AccountReport
    exchange: list[str] = field(default_factory=list)

    def text(self) -> str:
        s = self.settings
        members = [Member(**m) for m in s.members]
        counts = {r: sum(m.role == r for m in members) for r in ("student", "ta", "instructor")}
        lines = [
            f"hub: {s.url} (pid {self.pid}); course {s.course_id}: {counts['student']} students, {counts['ta']} TAs, "
            f"{counts['instructor']} instructors",
            f"course directory: {s.course_dir} (group {s.groups['graders']}, closed to everyone else)",
            f"exchange: {Path(s.exchange_root) / s.course_id}",
        ]
        if self.accounts.created:
            lines.append(
                f"created users: {', '.join(self.accounts.created)}; their first passwords are in "
                f"{s.state / 'initial-passwords.csv'} (root only)"
            )
        lines += [f"  {change}" for change in self.accounts.joined + self.accounts.left]
        lines.append(f"log: {s.state / 'jupyterhub.log'}; stop: autograder hub stop --state {s.state}")
        return "\n".join(lines)


def state_folder(course: Course, state: Path | None) -> Path:
    return (state or DEFAULT_STATE / course.course_id).resolve()


def _free_port(avoid: set[int]) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port


def _alive(pid: int, name: str) -> bool:
    """Whether process ``pid`` runs and its command line mentions ``name``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return name in cmdline


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(state: Path) -> int | None:
    """The pid of the hub started with the state folder ``state``, if it still runs."""
    pid = _pid(state / "jupyterhub.pid")
    return pid if pid and _alive(pid, "jupyterhub") else None


def _inside(path: str | os.PathLike, folder: Path) -> bool:
    p = Path(path).resolve()
    return p == folder or folder in p.parents


def _check_prerequisites(course: Course, state: Path) -> str:
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        raise AutograderError("JupyterHub is not installed: run `bash setup.sh` (or pip install jupyterhub)") from None
    proxy = shutil.which("configurable-http-proxy")
    if proxy is None:
        raise AutograderError(
            "configurable-http-proxy is not installed: run `bash setup.sh` as root, or "
            "`npm install -g configurable-http-proxy` (Node.js from your distribution: apt-get install nodejs npm)"
        )
    if not HUB_CONFIG.is_file():
        raise AutograderError(f"the hub's configuration {HUB_CONFIG} is missing: run from a checkout of the course")
    root = course.root
    if _inside(state, root):
        raise AutograderError(f"the state folder {state} must lie outside the course directory {root}")
    for path in accounts.python_paths():
        if _inside(path, root):
            raise AutograderError(
                f"the Python environment ({path}) lies inside the course directory {root}, which the hub closes to "
                "students: use a virtual environment outside it (e.g. python3 -m venv /opt/cnn-course), "
                "or give the hub a course directory of its own (--course DIR)"
            )
    return proxy


COPIES = ("python", "student-files")


def _check_state_folder(state: Path, student_files: Path | None) -> None:
    """Refuse, before anything changes, a state folder whose copies' places hold something the hub did not make,
    and student files that are not a folder or lie in the state folder (the copy replaces them)."""
    for name in COPIES:
        folder = state / name
        if folder.is_symlink() or (folder.exists() and not (folder / MARK).is_file()):
            raise AutograderError(f"{folder} was not made by `autograder hub start`: choose another --state folder")
    if student_files is not None:
        if not student_files.is_dir():
            raise AutograderError(f"--student-files {student_files} is not a folder")
        if _inside(student_files, state):
            raise AutograderError(f"--student-files {student_files} lies in the hub's state folder {state}")


def _fresh_folder(folder: Path) -> Path:
    """An empty public folder at ``folder``, replacing the one this command made before (checked before)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    (folder / MARK).write_text("made by autograder hub start, and replaced at each start\n")
    return folder


def _public_copies(course: Course, state: Path, student_files: Path | None) -> Path:
    """The course's packages (``state/python``) and student files (``state/student-files``), readable by all."""
    from ..sandbox.command import package_dirs

    _check_state_folder(state, student_files)
    python = _fresh_folder(state / "python")
    for folder in package_dirs(PACKAGES):
        accounts.copy_tree_public(Path(folder), python / Path(folder).name, ignore=IGNORED)
    files = _fresh_folder(state / "student-files")
    if student_files is not None:
        for entry in sorted(student_files.iterdir()):
            if entry.is_dir():
                accounts.copy_tree_public(entry, files / entry.name, ignore=IGNORED)
            elif entry.is_file():
                shutil.copyfile(entry, files / entry.name)
                os.chmod(files / entry.name, 0o644)
    else:
        release = course.directory("release")
        for name, source in (("course", course.root / "course"), (release.name, release)):
            if source.is_dir():
                accounts.copy_tree_public(source, files / name, ignore=IGNORED)
    return files


def _probe_users(settings: HubSettings, members: list[Member], groups: Groups) -> None:
    """Start Python as one student and one grader, as their servers will, and import what the server needs."""
    checks = {
        False: "import jupyterhub.singleuser, nbgrader.server_extensions.assignment_list, autograder.hub.singleuser",
        True: "import os, jupyterhub.singleuser, nbgrader.server_extensions.formgrader, autograder.config; "
        f"os.listdir({settings.course_dir!r})",
    }
    for grades, code in checks.items():
        member = next((m for m in members if m.grades == grades), None)
        if member is None:
            continue
        env = server_environment(settings, member)
        error = accounts.probe(member.login, env, code)
        if error:
            paths = accounts.python_paths() + env.get("PYTHONPATH", "").split(os.pathsep)
            advice = accounts.reach_advice(groups, [p for p in paths if p])
            raise AutograderError(
                f"{member.login}'s server could not start: as {member.login}, the course's Python failed: "
                f"{error.splitlines()[-1]}" + (f"\n{advice}" if advice else "")
            )


def _local_request(port: int, method: str, path: str, body: bytes | None = None, headers=None, timeout: float = 30):
    """``(status, text)`` of an HTTP request to this machine's ``port`` (the hub and its proxy listen there)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def _wait_until_up(settings: HubSettings, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Wait until the hub answers through its proxy (both started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AutograderError(f"JupyterHub exited ({proc.returncode}); the end of {log}:\n{_tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if _local_request(settings.port, "GET", "/hub/api/", timeout=5)[0] == 200:
                return
        time.sleep(0.5)
    raise AutograderError(
        f"JupyterHub did not answer at {settings.url}/hub/api/ within {timeout:.0f} s; the end of {log}:\n{_tail(log)}"
    )


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def start(
    course: Course,
    roster: Path,
    *,
    port: int = 8000,
    ip: str = "127.0.0.1",
    state: Path | None = None,
    student_files: Path | None = None,
    extra_config: Path | None = None,
    timeout: float = 300,
) -> StartReport:
    """Start the course's hub for the class in ``roster``; see the module. Refuses, changing nothing, when the
    roster is bad, a prerequisite is missing or the hub already runs; without root it says which users and
    groups to create."""
    from nbgrader.exchange.default.exchange import Exchange

    members = read_class_roster(roster)
    course_id = course.course_id
    groups = Groups.of(course_id)
    state = state_folder(course, state)
    proxy = _check_prerequisites(course, state)
    if extra_config is not None and not extra_config.is_file():
        raise AutograderError(f"--config {extra_config} is not a file")
    accounts.check_logins(members, groups, roster)
    if not accounts.is_root():
        commands = accounts.missing_commands(members, groups)
        todo = ("; it would first run:\n  " + "\n  ".join(commands)) if commands else ""
        raise AutograderError(
            "the hub must start as root (sudo autograder hub start ...): it starts each user's server as that "
            f"Unix user, and creates the users and groups the class needs{todo}"
        )
    pid = running_pid(state)
    if pid:
        raise AutograderError(f"the hub of {state} already runs (pid {pid}): `autograder hub stop --state {state}`")
    _check_state_folder(state, student_files)
    state.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(state, 0o755)

    report = accounts.ensure_accounts(members, groups)
    accounts.record_passwords(state / "initial-passwords.csv", report.created)
    exchange_root = Path(Exchange(config=course.config).root)
    changes = accounts.prepare_exchange(exchange_root, course_id, groups.graders)
    accounts.close_course_directory(course.root, groups.graders)
    accounts.make_gradebook_shared(course.db_url, groups.graders)

    files = _public_copies(course, state, student_files)
    settings = HubSettings(
        course_id=course_id,
        course_dir=str(course.root),
        exchange_root=str(exchange_root),
        state_dir=str(state),
        ip=ip,
        port=port,
        hub_port=_free_port({port}),
        proxy_api_port=0,
        proxy=proxy,
        python=sys.executable,
        members=[asdict(m) for m in members],
        groups={"students": groups.students, "graders": groups.graders},
        student_files=str(files),
        pythonpath=os.environ.get("PYTHONPATH", ""),
        path=os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        extra_config=str(extra_config.resolve()) if extra_config else "",
    )
    settings.proxy_api_port = _free_port({port, settings.hub_port})
    from .hubconfig import write_role_configs

    write_role_configs(settings)
    token = settings.api_token_file
    token.write_text(secrets.token_hex(32) + "\n")
    os.chmod(token, 0o600)
    settings_file = settings.write()
    _probe_users(settings, members, groups)

    log = state / "jupyterhub.log"
    env = {**os.environ, "COURSE_HUB_SETTINGS": str(settings_file)}
    if settings.extra_config:
        env["COURSE_HUB_EXTRA_CONFIG"] = settings.extra_config
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)],
            cwd=state,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(settings, proc, log, timeout)
    except BaseException:
        _end(proc.pid, "jupyterhub")
        raise
    return StartReport(settings, proc.pid, report, changes)


def api(settings: HubSettings, method: str, path: str, body: dict | None = None, timeout: float = 30):
    """Call the hub's REST API as the ``autograder-hub`` service; the decoded JSON answer (None when empty)."""
    token = settings.api_token_file.read_text().strip()
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    status, text = _local_request(settings.hub_port, method, f"/hub/api{path}", data, headers, timeout)
    if status >= 400:
        raise AutograderError(f"the hub's API answered {method} {path} with {status}: {text[:500]}")
    return json.loads(text) if text.strip() else None


def _end(pid: int, name: str, grace: float = 20) -> None:
    """End process ``pid`` (if it still is ``name``): SIGTERM, then SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        if not _alive(pid, name):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _alive(pid, name):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)


def _servers_of(settings: HubSettings) -> list[int]:
    """Processes of users' servers (and their kernels) that this hub started: they carry its API address."""
    import psutil

    marker = f"127.0.0.1:{settings.hub_port}/"
    pids = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error):
            if marker in proc.environ().get("JUPYTERHUB_API_URL", ""):
                pids.append(proc.pid)
    return pids


def stop(course: Course, state: Path | None = None, timeout: float = 60) -> str:
    """Stop the hub of ``state`` (default: the course's), its proxy and the users' servers; what it did."""
    state = state_folder(course, state)
    try:
        settings = HubSettings.read(state)
    except FileNotFoundError:
        raise AutograderError(f"no hub was started with the state folder {state} (no {state / 'hub.json'})") from None
    pid = running_pid(state)
    said = []
    if pid:
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError, AutograderError):
            api(settings, "POST", "/shutdown", {"servers": True, "proxy": True})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid, "jupyterhub"):
            time.sleep(0.3)
        _end(pid, "jupyterhub")
        said.append(f"stopped the hub (pid {pid})")
    else:
        said.append("the hub was not running")
    proxy = _pid(state / "proxy.pid")
    if proxy and _alive(proxy, "configurable-http-proxy"):
        _end(proxy, "configurable-http-proxy")
        said.append(f"stopped its proxy (pid {proxy})")
    left = _servers_of(settings)
    for server in left:
        _end(server, "")
    if left:
        said.append(f"ended {len(left)} process(es) of users' servers")
    return "; ".join(said)
