"""What ``autograder hub start`` decided, as JupyterHub's configuration reads it: ``<state>/hub.json``.

It also holds the environment of each user's server (:func:`server_environment`), which the spawner gives
to servers and which a TA's shell on the hub machine should have too (their ``nbgrader`` and ``autograder``
commands then see the course as Formgrader does).
"""

from __future__ import annotations

import json
import os
import pwd
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .roster import Member

SETTINGS_FILE = "hub.json"
#: The name of the hub's service whose API token (``<state>/api_token``) the ``autograder hub`` commands use.
SERVICE = "autograder-hub"


@dataclass
class HubSettings:
    course_id: str
    course_dir: str
    exchange_root: str
    state_dir: str
    ip: str
    port: int
    hub_port: int
    proxy_api_port: int
    proxy: str
    python: str
    members: list[dict] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    student_files: str = ""
    pythonpath: str = ""
    path: str = ""
    extra_config: str = ""

    @property
    def state(self) -> Path:
        return Path(self.state_dir)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.ip in ("", "0.0.0.0") else self.ip
        return f"http://{host}:{self.port}"

    def member(self, login: str) -> Member:
        for m in self.members:
            if m["login"] == login:
                return Member(**m)
        raise KeyError(f"{login} is not in the class of the hub")

    def config_dir(self, member: Member) -> Path:
        """The Jupyter configuration folder of the member's role (``JUPYTER_CONFIG_PATH`` of their server)."""
        return self.state / "jupyter" / ("grader" if member.grades else "student")

    @property
    def student_python(self) -> Path:
        """The course's packages as students import them (a copy everyone can read)."""
        return self.state / "python"

    @property
    def api_token_file(self) -> Path:
        return self.state / "api_token"

    def write(self) -> Path:
        path = self.state / SETTINGS_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.chmod(path, 0o600)
        return path

    @classmethod
    def read(cls, state_dir: str | os.PathLike) -> HubSettings:
        return cls(**json.loads((Path(state_dir) / SETTINGS_FILE).read_text()))


def server_environment(settings: HubSettings, member: Member) -> dict[str, str]:
    """The environment of ``member``'s Jupyter server (and of their kernels and terminals).

    TAs and instructors start in the course directory (so nbgrader and Formgrader load its configuration),
    with umask 002 (what they write stays writable by the other graders). Students start in their home, with
    umask 077; the course's student files are copied there under ``<course id>/`` (what they already have is
    kept), and they import the course's packages from the hub's public copy (nothing of the course directory
    or of a checkout of the repository, which may hold the solutions).
    """
    home = pwd.getpwnam(member.login).pw_dir
    bindir = os.path.dirname(settings.python)
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([bindir, *settings.path.split(os.pathsep)])),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "JUPYTER_CONFIG_PATH": str(settings.config_dir(member)),
        "COURSE_HUB_HOME": home,
    }
    if member.grades:
        env.update(COURSE_HUB_CWD=settings.course_dir, COURSE_HUB_UMASK="002", PYTHONPATH=settings.pythonpath)
    else:
        env.update(
            COURSE_HUB_CWD=home,
            COURSE_HUB_UMASK="077",
            COURSE_HUB_FILES=settings.student_files,
            COURSE_HUB_FILES_DEST=settings.course_id,
            PYTHONPATH=str(settings.student_python),
        )
    return {k: v for k, v in env.items() if v}
