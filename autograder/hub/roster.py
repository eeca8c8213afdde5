"""The class of the course hub: who logs in, and who grades.

The roster is the CSV file ``autograder collect --roster`` reads (``lms_id,student_id,name,email``) with one
more column, ``role``: ``student`` (the default when the column is missing or empty), ``ta`` or
``instructor``. ``student_id`` is the login: the JupyterHub user and the local Unix user of the same name. TAs
and instructors need no ``lms_id``; students may leave it empty too when the roster only serves the hub.
Instructors are also the hub's administrators. A bad row is refused with its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..course import AutograderError
from ..lms import roster_role, roster_rows

#: A login the hub can create as a Unix user and JupyterHub keeps as it is (JupyterHub lowercases names).
LOGIN = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
LOGIN_RULE = "lowercase letters, digits, _ and -, starting with a letter or _, at most 32 characters"
STAFF = ("ta", "instructor")


@dataclass(frozen=True)
class Member:
    """One person of the class: their login, role, name and the roster line they come from."""

    login: str
    role: str
    name: str = ""
    email: str = ""
    line: int = 0

    @property
    def grades(self) -> bool:
        """TAs and instructors: Formgrader, the course directory, the grading commands."""
        return self.role in STAFF


def read_class_roster(path: Path) -> list[Member]:
    """The members of the class listed in the roster at ``path``, in its order.

    Refused, with the line: a missing ``student_id`` column or login, a login that cannot be a Unix user, an
    unknown role, a login listed twice; and a roster without any TA or instructor (nobody could release or
    grade).
    """
    members: list[Member] = []
    seen: dict[str, int] = {}
    columns = "student_id (the login), and optionally role (student, ta, instructor), name, email, lms_id"
    for line, values in roster_rows(path, ("student_id",), columns):
        role = roster_role(path, line, values)
        login = values.get("student_id", "")
        if not login:
            raise AutograderError(f"roster {path}, line {line}: student_id (the login) is empty")
        if not LOGIN.match(login):
            raise AutograderError(f"roster {path}, line {line}: {login!r} cannot be a login of the hub ({LOGIN_RULE})")
        if login in seen:
            raise AutograderError(
                f"roster {path}: the login {login!r} appears twice, on lines {seen[login]} and {line}"
            )
        seen[login] = line
        members.append(Member(login, role, values.get("name", ""), values.get("email", ""), line))
    if not any(m.grades for m in members):
        raise AutograderError(
            f"roster {path}: nobody can grade: give at least one row the role ta or instructor (a column role)"
        )
    return members
