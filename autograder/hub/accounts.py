"""The machine's side of the course hub: Unix users and groups, the course directory, the exchange.

Each member of the class is a local Unix user of the roster's login, and each user's Jupyter server runs as
that user, so file permissions decide who reads what:

- The course directory (solutions, the gradebook, submissions, feedback) belongs to the group
  ``<course id>-graders`` (mode 2770: TAs and instructors read and write, with the group kept on new files;
  everyone else is kept out, whatever the files inside allow).
- nbgrader's exchange root is world-writable with the sticky bit (1777, as nbgrader documents). The course's
  folders in it belong to the graders' group (nbgrader's ``groupshared`` layout, so that every TA can release
  and collect): ``outbound`` 2775 (students read releases), ``inbound`` 2773 (students drop submissions but
  cannot list them), ``feedback`` 2771 (students read their own feedback by its secret name).
- Students are in ``<course id>-students``; homes are private (0700).

Only root can create users and groups; without root the hub says which commands would do it.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..course import AutograderError
from .roster import Member

#: The first uid of a person's account (Debian's ``UID_MIN``); lower ones are system accounts.
UID_MIN = 1000
#: The course folders of nbgrader's exchange, their modes and who owns them (root, group: the graders).
EXCHANGE_FOLDERS = {"": 0o2775, "outbound": 0o2775, "inbound": 0o2773, "feedback": 0o2771}
COURSE_MODE = 0o2770
EXCHANGE_ROOT_MODE = 0o1777


@dataclass(frozen=True)
class Groups:
    """The Unix groups of a course's hub."""

    students: str
    graders: str

    @classmethod
    def of(cls, course_id: str) -> Groups:
        """The groups of the course ``course_id``; refused when the id cannot start a Unix group's name."""
        groups = cls(f"{course_id}-students", f"{course_id}-graders")
        if not re.fullmatch(r"[a-z_][a-z0-9_-]*", course_id) or len(groups.students) > 32:
            raise AutograderError(
                f"the course id {course_id!r} cannot name the hub's Unix groups ({groups.students}, {groups.graders}: "
                "lowercase letters, digits, _ and -, at most 32 characters): set CourseDirectory.course_id in the "
                "course's nbgrader_config.py"
            )
        return groups

    def of_member(self, member: Member) -> str:
        return self.graders if member.grades else self.students


@dataclass
class AccountReport:
    """What ``ensure_accounts`` did: the users it created (with their first password) and the groups it changed."""

    created: dict[str, str] = field(default_factory=dict)
    groups_created: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


def is_root() -> bool:
    return os.geteuid() == 0


def _run(argv: list[str], stdin: str | None = None) -> None:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise AutograderError(f"{' '.join(argv[:2])} ... failed ({result.returncode}): {result.stderr.strip()}")


def _user(login: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(login)
    except KeyError:
        return None


def _group(name: str) -> grp.struct_group | None:
    try:
        return grp.getgrnam(name)
    except KeyError:
        return None


def _gecos(member: Member) -> str:
    """The roster's name as a Unix account's comment (no field separators)."""
    return "".join(ch for ch in member.name if ch.isprintable() and ch not in ":,=\\")[:100]


def check_logins(members: Iterable[Member], groups: Groups, roster: Path) -> None:
    """Refuse logins that are system accounts or the hub's own groups (before anything is changed)."""
    for m in members:
        if m.login in (groups.students, groups.graders):
            raise AutograderError(f"roster {roster}, line {m.line}: {m.login!r} is the name of the hub's Unix group")
        user = _user(m.login)
        if user is not None and user.pw_uid < UID_MIN:
            raise AutograderError(
                f"roster {roster}, line {m.line}: {m.login!r} is a system account (uid {user.pw_uid}), not a person"
            )


def missing_commands(members: Iterable[Member], groups: Groups) -> list[str]:
    """The commands that would create the groups and users that do not exist yet (for a user who is not root)."""
    commands = [f"groupadd {g}" for g in (groups.students, groups.graders) if _group(g) is None]
    for m in members:
        if _user(m.login) is None:
            commands.append(f"useradd --create-home --shell /bin/bash --groups {groups.of_member(m)} {m.login}")
        elif m.login not in _group_members(groups.of_member(m)):
            commands.append(f"usermod --append --groups {groups.of_member(m)} {m.login}")
    return commands


def _group_members(name: str) -> set[str]:
    group = _group(name)
    return set(group.gr_mem) if group else set()


def ensure_accounts(members: list[Member], groups: Groups) -> AccountReport:
    """Create the hub's groups and the users that do not exist (a random first password each), and make group
    membership follow the roster: a student who was a TA leaves the graders' group. Existing users keep their
    password and home."""
    report = AccountReport()
    for name in (groups.students, groups.graders):
        if _group(name) is None:
            _run(["groupadd", name])
            report.groups_created.append(name)
    for m in members:
        group = groups.of_member(m)
        if _user(m.login) is None:
            _run(
                ["useradd", "--create-home", "--shell", "/bin/bash", "--groups", group, "--comment", _gecos(m), m.login]
            )
            os.chmod(pwd.getpwnam(m.login).pw_dir, 0o700)
            password = secrets.token_urlsafe(12)
            _run(["chpasswd"], stdin=f"{m.login}:{password}\n")
            report.created[m.login] = password
        elif m.login not in _group_members(group):
            _run(["usermod", "--append", "--groups", group, m.login])
            report.joined.append(f"{m.login} -> {group}")
        other = groups.students if m.grades else groups.graders
        if m.login in _group_members(other):
            _run(["gpasswd", "--delete", m.login, other])
            report.left.append(f"{m.login} -/> {other}")
    return report


def record_passwords(path: Path, created: dict[str, str]) -> None:
    """Append the first passwords of users just created to ``path`` (root only, 0600); earlier lines are kept."""
    if not created:
        return
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a") as out:
        if new:
            out.write("login,first_password\n")
        out.writelines(f"{login},{password}\n" for login, password in created.items())
    os.chmod(path, 0o600)


def close_course_directory(root: Path, graders: str) -> None:
    """Give the course directory to the graders' group: the root 2770 (nobody else gets in), every folder below
    group-writable with the group kept on new files, every file group-writable. Links are left alone."""
    gid = grp.getgrnam(graders).gr_gid
    os.chown(root, -1, gid)
    os.chmod(root, COURSE_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            os.chown(path, -1, gid, follow_symlinks=False)
            extra = (stat.S_IRWXG | stat.S_ISGID) if stat.S_ISDIR(st.st_mode) else (stat.S_IRGRP | stat.S_IWGRP)
            os.chmod(path, stat.S_IMODE(st.st_mode) | extra)


def make_gradebook_shared(db_url: str, graders: str) -> None:
    """Create the course's SQLite gradebook, empty, writable by the graders' group, if it does not exist yet.

    SQLite creates a database (and its journals, which copy its mode) as 0644 whatever the umask, so a gradebook
    first made by one TA's Formgrader would be read-only for the others.
    """
    if not db_url.startswith("sqlite:///"):
        return
    path = Path(db_url.removeprefix("sqlite:///"))
    if not path.exists():
        path.touch(mode=0o660)
        os.chown(path, -1, grp.getgrnam(graders).gr_gid)
        os.chmod(path, 0o660)


def prepare_exchange(root: Path, course_id: str, graders: str) -> list[str]:
    """Make nbgrader's exchange root (1777) and the course's folders in it (see the module); return what changed.
    Submissions and released files already there are kept."""
    changed = []
    if not root.exists():
        root.mkdir(mode=0o755, parents=True)
        changed.append(f"created {root}")
    if stat.S_IMODE(root.stat().st_mode) != EXCHANGE_ROOT_MODE:
        os.chmod(root, EXCHANGE_ROOT_MODE)
        changed.append(f"{root}: mode 1777")
    gid = grp.getgrnam(graders).gr_gid
    for name, mode in EXCHANGE_FOLDERS.items():
        folder = root / course_id / name if name else root / course_id
        if folder.is_symlink():
            raise AutograderError(f"{folder} is a link: the exchange's folders must be real folders")
        if not folder.exists():
            folder.mkdir()
            changed.append(f"created {folder}")
        if folder.stat().st_gid != gid or stat.S_IMODE(folder.stat().st_mode) != mode:
            os.chown(folder, -1, gid)
            os.chmod(folder, mode)
            changed.append(f"{folder}: group {graders}, mode {mode:o}")
    return changed


def unreachable_parents(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The folders above (and including) ``paths`` that a user who is neither their owner nor in their group
    cannot pass through (no ``x`` for others), outermost first. ACL entries are not read: a folder listed here
    may still be open to a group through one."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        for folder in [*reversed(path.parents), path]:
            try:
                mode = folder.stat().st_mode
            except OSError:
                break
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH and folder not in found:
                found.append(folder)
    return found


def python_paths() -> list[str]:
    """What every user's server needs to read: the interpreter and the folders Python imports from."""
    from ..sandbox.command import python_dirs

    return [os.path.realpath(sys.executable), *python_dirs()]


def _preexec(login: str):
    user = pwd.getpwnam(login)

    def switch() -> None:
        os.initgroups(login, user.pw_gid)
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return switch


def run_as(login: str, argv: list[str], env: dict[str, str], cwd: str | None = None, timeout: float = 300):
    """Run ``argv`` as the Unix user ``login`` (with their groups) and the environment ``env``; the result."""
    home = pwd.getpwnam(login).pw_dir
    return subprocess.run(
        argv,
        env={**env, "HOME": home, "USER": login, "LOGNAME": login},
        cwd=cwd or home,
        preexec_fn=_preexec(login),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def probe(login: str, env: dict[str, str], code: str) -> str:
    """Run ``code`` in the course's Python as ``login``; the error it gave (empty when it ran)."""
    try:
        result = run_as(login, [sys.executable, "-c", code], env, timeout=300)
    except OSError as err:
        return f"cannot run {sys.executable}: {err.strerror}"
    if result.returncode == 0:
        return ""
    return (result.stderr.strip() or result.stdout.strip() or f"exit status {result.returncode}")[-1500:]


def reach_advice(groups: Groups, paths: Iterable[str]) -> str:
    """Why the class's users may not reach ``paths``, and how to let them (for an error message)."""
    closed = unreachable_parents(paths)
    if not closed:
        return ""
    listed = ", ".join(f"{p} ({stat.filemode(p.stat().st_mode)} {_owner(p)})" for p in closed)
    acl = ",".join(f"g:{g}:x" for g in (groups.students, groups.graders))
    return (
        f"these folders let nobody else through: {listed}. Install the course's Python environment where every "
        f"user can read it (a virtual environment under /opt or /srv), or let the class through: "
        + "; ".join(f"setfacl -m {acl} {p}" for p in closed)
    )


def _owner(path: Path) -> str:
    st = path.stat()
    try:
        return f"{pwd.getpwuid(st.st_uid).pw_name}:{grp.getgrgid(st.st_gid).gr_name}"
    except KeyError:
        return f"{st.st_uid}:{st.st_gid}"


def copy_tree_public(source: Path, target: Path, ignore=None) -> None:
    """Copy ``source`` to the new folder ``target``, readable by everyone (folders 0755, files 0644)."""
    shutil.copytree(source, target, symlinks=False, ignore=ignore)
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
