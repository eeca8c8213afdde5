"""JupyterHub's configuration of the course hub, read from the settings ``autograder hub start`` wrote.

``deploy/jupyterhub/jupyterhub_config.py`` calls :func:`configure`. The hub:

- listens where the settings say; its proxy is ``configurable-http-proxy``, its database, cookie secret and
  logs are in the state folder;
- logs users in with PAM (their Unix passwords) and lets in only the roster's logins; instructors are the
  hub's administrators; the groups ``<course id>-graders`` and ``<course id>-students`` mirror the roster;
- starts each user's server as that Unix user (``LocalProcessSpawner``) through
  :mod:`autograder.hub.singleuser`, with the environment of their role (:func:`server_environment`): TAs and
  instructors get Formgrader in the course directory, students the assignment list and validation in their
  home, without Formgrader, the course list or the assignment-creation toolbar;
- has one API-only service, ``autograder-hub``, with the admin role, whose token (in the state folder,
  readable by root only) the ``autograder hub`` commands use.
"""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

from .roster import Member
from .settings import SERVICE, HubSettings, server_environment

#: nbgrader's server extensions: students get the assignment list and validation only.
SERVER_EXTENSIONS = {
    "student": {
        "nbgrader.server_extensions.assignment_list": True,
        "nbgrader.server_extensions.validate_assignment": True,
        "nbgrader.server_extensions.formgrader": False,
        "nbgrader.server_extensions.course_list": False,
    },
    "grader": {
        "nbgrader.server_extensions.assignment_list": True,
        "nbgrader.server_extensions.validate_assignment": True,
        "nbgrader.server_extensions.formgrader": True,
        "nbgrader.server_extensions.course_list": True,
    },
}
#: nbgrader's JupyterLab plugins that students do not get (nbgrader's documentation names the same).
STUDENT_DISABLED_PLUGINS = [
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:create-assignment",
]
#: Nobody's JupyterLab asks to fetch Jupyter's news from the internet (the course works offline).
DISABLED_PLUGINS = ["@jupyterlab/apputils-extension:announcements"]


def write_role_configs(settings: HubSettings) -> None:
    """The Jupyter configuration folders of the two roles (``JUPYTER_CONFIG_PATH`` of their servers).

    Both name the course and the exchange for nbgrader; graders use nbgrader's ``groupshared`` layout (so that
    every TA can release, collect and return feedback), students have ``ExchangeSubmit.strict`` (a submission
    that lacks a released notebook, e.g. one saved under another name, is refused with nbgrader's message).
    """
    for role in ("student", "grader"):
        folder = settings.state / "jupyter" / role
        (folder / "labconfig").mkdir(parents=True, exist_ok=True)
        nbgrader = {
            "CourseDirectory": {"course_id": settings.course_id},
            "Exchange": {"root": settings.exchange_root},
        }
        if role == "grader":
            nbgrader["CourseDirectory"]["groupshared"] = True
        else:
            nbgrader["ExchangeSubmit"] = {"strict": True}
        files = {
            folder / "nbgrader_config.json": nbgrader,
            # answer_yes: the hub stops a server with SIGINT, which otherwise asks on the terminal it has not
            folder / "jupyter_server_config.json": {
                "ServerApp": {"jpserver_extensions": SERVER_EXTENSIONS[role], "answer_yes": True}
            },
            folder / "labconfig" / "page_config.json": {
                "disabledExtensions": {
                    p: True for p in DISABLED_PLUGINS + (STUDENT_DISABLED_PLUGINS if role == "student" else [])
                }
            },
        }
        for path, data in files.items():
            path.write_text(json.dumps(data, indent=1) + "\n")
        for path in [folder, folder / "labconfig", *files]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)


def prepare_server(spawner, settings: HubSettings) -> None:
    """JupyterHub's ``pre_spawn_hook``: the user's role decides the server's folder, environment and config."""
    member: Member = settings.member(spawner.user.name)
    env = server_environment(settings, member)
    spawner.environment = {**spawner.environment, **env}
    spawner.notebook_dir = settings.course_dir if member.grades else pwd.getpwnam(member.login).pw_dir
    spawner.disable_user_config = not member.grades


def configure(c, settings_file: str | os.PathLike) -> HubSettings:
    """Fill JupyterHub's configuration ``c`` from the settings file; returns the settings."""
    settings = HubSettings.read(Path(settings_file).parent)
    state = settings.state
    members = [Member(**m) for m in settings.members]

    c.JupyterHub.ip = settings.ip
    c.JupyterHub.port = settings.port
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings.hub_port}"
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.command = [settings.proxy]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False
    c.Authenticator.allowed_users = {m.login for m in members}
    c.Authenticator.admin_users = {m.login for m in members if m.role == "instructor"}
    c.JupyterHub.load_groups = {
        settings.groups["graders"]: {"users": sorted(m.login for m in members if m.grades)},
        settings.groups["students"]: {"users": sorted(m.login for m in members if not m.grades)},
    }
    c.JupyterHub.services = [{"name": SERVICE, "api_token": settings.api_token_file.read_text().strip()}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": [SERVICE]}]
    c.JupyterHub.template_vars = {
        "announcement_login": "Log in with your course login and password (your instructor gave you the first one).",
    }

    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [settings.python, "-m", "autograder.hub.singleuser"]
    c.Spawner.default_url = "/lab"
    # a server's first start imports JupyterLab and nbgrader: give a busy 2-core machine time
    c.Spawner.start_timeout = 300
    c.Spawner.http_timeout = 300
    c.Spawner.pre_spawn_hook = lambda spawner: prepare_server(spawner, settings)
    return settings
