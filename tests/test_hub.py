"""A class on the course hub, end to end, through the real servers: JupyterHub (PAM logins, the REST API, the
proxy), each user's Jupyter server running as that user, nbgrader's exchange, Formgrader, the TA's commands.

An instructor and three students are Unix users made for the module (and removed after it). The instructor
releases ``01_layers`` through Formgrader; each student lists, fetches, edits, validates and submits it through
their own server (one pastes the instructor's solution, after a first submission with a mistake; one leaves it
blank, after trying a notebook under another name; one makes a typical mistake and submits after the due
date); the TA collects, grades (sandboxed), writes and releases feedback; each student fetches it and sees
their score, the late one with the course's penalty. Students cannot read each other's work or the
instructor's files; an unreleased assignment takes no more submissions and loses none. A student's
Assignments tab is opened in headless Chromium after a real login and kept as ``tests/artifacts/``.
"""

from __future__ import annotations

import datetime
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from autograder.course import AutograderError
from autograder.hub.roster import read_class_roster
from autograder.hub.singleuser import copy_missing
from autograder.lms import read_roster
from tests.support.assignment01 import MISTAKES
from tests.support.hub import (
    ROOT,
    Hub,
    Machine,
    cli,
    copy_course_files,
    delete_group,
    delete_user,
    grant_traversal,
    home,
    in_parallel,
)
from tests.support.nbcourse import make_submission

ASSIGNMENT = NOTEBOOK = "01_layers"
TAG = secrets.token_hex(2)
COURSE_ID = f"hubtest-{TAG}"
PROF, ANN, BEN, CAT = (f"ht{TAG}{name}" for name in ("prof", "ann", "ben", "cat"))
STUDENTS = (ANN, BEN, CAT)
GROUPS = (f"{COURSE_ID}-students", f"{COURSE_ID}-graders")
ARTIFACTS = ROOT / "tests" / "artifacts"
LATE_PER_DAY = 0.1


# --- the roster, without a hub -------------------------------------------------------------------------------


def _roster(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "lms_id,student_id,role\n,prof,instructor\n1,ann,\n2,bea,student\n3,ann,\n",
            r"'ann' appears twice, on lines 3 and 5",
        ),
        ("student_id,role\nprof,instructor\nAnn Smith,student\n", r"line 3: 'Ann Smith' cannot be a login of the hub"),
        ("student_id,role\nprof,instructor\n-ann,student\n", r"line 3: '-ann' cannot be a login"),
        ("student_id,role\nprof,professor\n", r"line 2: role 'professor' is not one of student, ta, instructor"),
        ("student_id,role\nprof,instructor\n,student\n", r"line 3: student_id \(the login\) is empty"),
        ("login,role\nprof,instructor\n", r"line 1: the header must name the columns student_id"),
        ("student_id,role\nann,student\nbea,\n", r"nobody can grade"),
        ("student_id,role\nprof,instructor,extra\n", r"line 2: more fields than the header's 2"),
    ],
)
def test_a_bad_class_roster_is_refused_with_its_line(tmp_path, text, message):
    roster = _roster(tmp_path, text)
    with pytest.raises(AutograderError, match=message) as err:
        read_class_roster(roster)
    assert str(roster) in str(err.value)


def test_the_command_refuses_a_bad_roster_before_it_changes_anything(tmp_path):
    roster = _roster(tmp_path, "lms_id,student_id,name,email,role\n,prof,P,,instructor\n1,ann,A,,\n2,ann,B,,\n")
    state = tmp_path / "state"
    result = cli("hub", "start", "--roster", str(roster), "--course", str(ROOT), "--state", str(state))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"autograder: error: roster {roster}: the login 'ann' appears twice, on lines 3 and 4" in result.stderr
    assert not state.exists()


@pytest.mark.parametrize("course_id", ["", "CNN course", "a-course-id-that-is-far-too-long"])
def test_a_course_id_that_cannot_name_unix_groups_is_refused(course_id):
    from autograder.hub.accounts import Groups

    with pytest.raises(AutograderError, match=r"cannot name the hub's Unix groups .* CourseDirectory.course_id"):
        Groups.of(course_id)
    assert Groups.of("cnn-course") == Groups("cnn-course-students", "cnn-course-graders")


def test_a_state_folder_the_hub_did_not_make_is_refused_before_anything_changes(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the check comes after the one for root")
    if shutil.which("configurable-http-proxy") is None:
        pytest.skip("configurable-http-proxy is not installed (setup.sh installs it)")
    login = f"ht{TAG}zed"
    roster = _roster(tmp_path, f"student_id,role\n{login},instructor\n")
    state = tmp_path / "state"
    (state / "python").mkdir(parents=True)
    (state / "python" / "mine.py").write_text("kept")
    result = cli("hub", "start", "--roster", str(roster), "--course", str(ROOT), "--state", str(state))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{state / 'python'} was not made by `autograder hub start`: choose another --state" in result.stderr
    assert (state / "python" / "mine.py").read_text() == "kept"
    with pytest.raises(KeyError):
        pwd.getpwnam(login)
    missing = cli("hub", "start", "--roster", str(roster), "--course", str(ROOT), "--state", str(tmp_path / "s2"),
                  "--student-files", str(tmp_path / "nothing"))  # fmt: skip
    assert missing.returncode == 2 and f"--student-files {tmp_path / 'nothing'} is not a folder" in missing.stderr


def test_the_hub_copies_what_students_get_where_everyone_reads_it(tmp_path):
    from autograder.course import Course
    from autograder.hub.service import _public_copies

    edition = tmp_path / "student-edition"
    (edition / "lectures").mkdir(parents=True)
    (edition / "lectures" / "01.ipynb").write_text("{}")
    (edition / "README.md").write_text("welcome")
    state = tmp_path / "state"
    state.mkdir()
    files = _public_copies(Course.open(ROOT), state, edition)
    assert sorted(str(p.relative_to(files)) for p in files.rglob("*")) == [
        ".made-by-autograder-hub", "README.md", "lectures", "lectures/01.ipynb",
    ]  # fmt: skip
    assert stat.S_IMODE((files / "lectures").stat().st_mode) == 0o755
    assert stat.S_IMODE((files / "lectures" / "01.ipynb").stat().st_mode) == 0o644
    assert (state / "python" / "autograder" / "checks").is_dir() and (state / "python" / "cnnlab").is_dir()
    # by default: the course's lectures and its release folder
    files = _public_copies(Course.open(ROOT), state, None)
    assert (files / "course" / "00_welcome.ipynb").is_file() and (files / "assignments" / "01_layers").is_dir()
    assert not (files / "README.md").exists()


def test_one_roster_serves_the_hub_and_collect():
    text = (
        "lms_id,student_id,name,email,role\n"
        ",prof,Pat Prof,,instructor\n"
        ",tina,Tina TA,,ta\n"
        "101,ann,Ann A,ann@example.edu,student\n"
        "102,bea,Bea B,,\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        roster = _roster(Path(tmp), text)
        members = read_class_roster(roster)
        collect_view = read_roster(roster)
    assert [(m.login, m.role, m.grades) for m in members] == [
        ("prof", "instructor", True),
        ("tina", "ta", True),
        ("ann", "student", False),
        ("bea", "student", False),
    ]
    # collect maps LMS ids of students only: the staff have none, and are not refused for it
    assert {k: v.student_id for k, v in collect_view.items()} == {"101": "ann", "102": "bea"}


def test_the_student_files_never_overwrite_what_a_student_has(tmp_path):
    source, target = tmp_path / "files", tmp_path / "home" / "course"
    (source / "lectures").mkdir(parents=True)
    (source / "lectures" / "a.ipynb").write_text("course a")
    (source / "lectures" / "b.ipynb").write_text("course b")
    (source / "notes.md").write_text("course notes")
    (source / ".made-by-autograder-hub").write_text("the hub's mark of its own copy")
    (target / "lectures").mkdir(parents=True)
    (target / "lectures" / "a.ipynb").write_text("the student's own work")
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "notes.md").symlink_to(outside / "notes.md")  # a link in the way is left alone, not followed
    copied = copy_missing(source, target)
    assert copied == [target / "lectures" / "b.ipynb"]
    assert (target / "lectures" / "a.ipynb").read_text() == "the student's own work"
    assert not (outside / "notes.md").exists()
    (target / "lectures" / "b.ipynb").write_text("edited by the student")
    assert copy_missing(source, target) == []
    assert (target / "lectures" / "b.ipynb").read_text() == "edited by the student"


# --- the class on a running hub ------------------------------------------------------------------------------


class Class:
    """The module's hub and what the tests learn along the way."""

    def __init__(self, top: Path, hub: Hub, refusal, passwords: dict[str, str]) -> None:
        self.top = top
        self.course = top / "course"
        self.exchange = top / "exchange" / COURSE_ID
        self.hub = hub
        self.refusal = refusal
        self.passwords = passwords
        self.servers = {}

    def server(self, login: str):
        if login not in self.servers:
            self.servers[login] = self.hub.server(login)
        return self.servers[login]

    def as_ta(self, *argv: str, timeout: float = 900):
        """Run a command as the instructor, in the environment of their server's terminals."""
        from autograder.hub.accounts import run_as
        from autograder.hub.settings import server_environment

        settings = self.hub.settings
        env = server_environment(settings, settings.member(PROF))
        result = run_as(PROF, list(argv), env, cwd=str(self.course), timeout=timeout)
        assert result.returncode == 0, f"{' '.join(argv)} as the TA failed:\n{result.stdout}\n{result.stderr}"
        return result


def _course(root: Path, exchange: Path) -> None:
    copy_course_files(root, ASSIGNMENT)
    (root / "nbgrader_config.py").write_text(
        "from autograder.config import configure\n\n"
        "c = get_config()  # noqa: F821\n"
        f"configure(c, root={str(root)!r}, course_id={COURSE_ID!r})\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        "# the course's late policy: 10% of the points earned per started day late\n"
        'c.AssignLatePenalties.plugin_class = "autograder.late.LatePolicy"\n'
        f"c.LatePolicy.per_day = {LATE_PER_DAY}\n"
    )


@pytest.fixture(scope="module")
def klass():
    if os.geteuid() != 0:
        pytest.skip("the hub creates Unix users: run as root (CI does)")
    if shutil.which("configurable-http-proxy") is None:
        pytest.skip("configurable-http-proxy is not installed (setup.sh installs it)")
    from autograder.hub.accounts import python_paths, unreachable_parents
    from autograder.sandbox.command import package_dirs

    machine = Machine()
    top = Path(tempfile.mkdtemp(prefix="hub-test-", dir="/tmp"))
    machine.later(f"remove {top}", lambda: shutil.rmtree(top, ignore_errors=True))
    os.chmod(top, 0o755)
    for login in (PROF, *STUDENTS):
        machine.later(f"remove user {login}", lambda login=login: delete_user(login))
    for group in GROUPS:
        machine.later(f"remove group {group}", lambda group=group: delete_group(group))
    _course(top / "course", top / "exchange")
    roster = top / "roster.csv"
    roster.write_text(
        "lms_id,student_id,name,email,role\n"
        f",{PROF},Pat Professor,,instructor\n"
        f"101,{ANN},Ann Archer,ann@example.edu,student\n"
        f"102,{BEN},Ben Baker,,student\n"
        f"103,{CAT},Cat Carter,,\n"
    )
    start = ["hub", "start", "--roster", str(roster), "--course", str(top / "course"), "--state", str(top / "state")]
    start += ["--port", str(_free_port())]
    try:
        refusal = None
        closed = unreachable_parents(python_paths() + package_dirs())
        if closed:  # this machine's Python is where other users cannot reach (pyenv under /root): said, then let in
            refusal = cli(*start)
            for folder in closed:
                machine.later(f"restore the ACL of {folder}", grant_traversal(folder, GROUPS))
        machine.later(
            "stop the hub", lambda: cli("hub", "stop", "--course", str(top / "course"), "--state", str(top / "state"))
        )
        started = cli(*start)
        assert started.returncode == 0, started.stdout + started.stderr
        passwords_file = top / "state" / "initial-passwords.csv"
        assert stat.S_IMODE(passwords_file.stat().st_mode) == 0o600
        passwords = dict(line.split(",") for line in passwords_file.read_text().split()[1:])
        yield Class(top, Hub(top / "state"), refusal, passwords)
    finally:
        problems = machine.clean_up()
        assert not problems, problems


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_users_who_cannot_reach_the_python_are_told_how_to_let_them(klass):
    if klass.refusal is None:
        pytest.skip("every user can reach this machine's Python")
    assert klass.refusal.returncode == 2
    err = klass.refusal.stderr
    assert f"{ANN}'s server could not start" in err and "Permission denied" in err, err
    assert f"setfacl -m g:{GROUPS[0]}:x,g:{GROUPS[1]}:x" in err, err


def test_the_class_has_its_accounts_groups_and_private_homes(klass):
    students, graders = (grp.getgrnam(g).gr_mem for g in GROUPS)
    assert sorted(students) == sorted(STUDENTS) and graders == [PROF]
    for login in (PROF, *STUDENTS):
        assert stat.S_IMODE(home(login).stat().st_mode) == 0o700
    course = klass.course.stat()
    assert stat.S_IMODE(course.st_mode) == 0o2770 and grp.getgrgid(course.st_gid).gr_name == GROUPS[1]
    folders = [klass.exchange.parent, klass.exchange, *klass.exchange.iterdir()]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folders}
    assert modes == {"exchange": 0o1777, COURSE_ID: 0o2775, "outbound": 0o2775, "inbound": 0o2773, "feedback": 0o2771}
    hub_users = {u["name"]: u for u in klass.hub.api("GET", "/users").json()}
    assert set(hub_users) == {PROF, *STUDENTS}
    assert hub_users[PROF]["admin"] and not any(hub_users[s]["admin"] for s in STUDENTS)
    assert hub_users[PROF]["groups"] == [GROUPS[1]] and hub_users[ANN]["groups"] == [GROUPS[0]]


def test_without_root_the_command_says_which_accounts_to_make(klass):
    from autograder.hub.accounts import run_as

    newcomer = f"ht{TAG}dan"
    roster = klass.top / "newcomer.csv"
    roster.write_text(f"student_id,role\n{PROF},instructor\n{newcomer},student\n")
    roster.chmod(0o644)
    env = {"PATH": klass.hub.settings.path, "PYTHONPATH": str(ROOT)}
    argv = [
        klass.hub.settings.python,
        "-m",
        "autograder",
        "hub",
        "start",
        "--roster",
        str(roster),
        "--course",
        str(ROOT),
    ]
    result = run_as(ANN, argv, env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the hub must start as root" in result.stderr
    assert f"useradd --create-home --shell /bin/bash --groups cnn-course-students {newcomer}" in result.stderr
    with pytest.raises(KeyError):
        pwd.getpwnam(newcomer)


def _login(klass, login: str, password: str):
    import requests

    session = requests.Session()
    page = session.get(f"{klass.hub.url}/hub/login", timeout=60)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    form = {"username": login, "password": password, "_xsrf": xsrf}
    return session.post(f"{klass.hub.url}/hub/login", data=form, allow_redirects=False, timeout=60)


def test_students_log_in_with_their_password_and_nobody_else_gets_in(klass):
    assert _login(klass, ANN, klass.passwords[ANN]).status_code == 302
    refused = _login(klass, ANN, klass.passwords[BEN])
    assert refused.status_code == 403 and "course login" in refused.text  # the login page again, with its hint
    assert _login(klass, "root", "whatever").status_code == 403


def _lab_config(server) -> dict:
    """The page configuration JupyterLab's page gives the browser (its plugins, what is disabled)."""
    page = server.request("GET", "/lab")
    assert page.status_code == 200, page.text[:500]
    data = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page.text, re.S)
    return json.loads(data.group(1))


def test_students_get_the_assignment_list_and_instructors_formgrader(klass):
    klass.hub.start_servers([PROF, *STUDENTS])
    prof, ann = klass.server(PROF), klass.server(ANN)
    assert prof.request("GET", "/formgrader/api/status").json() == {"status": True}
    assert ann.request("GET", "/formgrader/api/status").status_code == 404
    assert ann.request("GET", "/formgraders").status_code == 404  # nbgrader's course_list
    assert prof.request("GET", "/formgraders").status_code == 200
    # and JupyterLab shows students no Formgrader, course list or assignment-creation toolbar
    disabled = {login: _lab_config(klass.server(login))["disabledExtensions"] for login in (PROF, ANN)}
    nbgrader_ui = {
        "@jupyter/nbgrader:formgrader",
        "@jupyter/nbgrader:course-list",
        "@jupyter/nbgrader:create-assignment",
    }
    assert nbgrader_ui <= set(disabled[ANN]) and not nbgrader_ui & set(disabled[PROF])
    assert "@jupyter/nbgrader:assignment-list" not in disabled[ANN]
    assert ann.assignments() == []
    # the course's student files are in the student's home, theirs
    files = ann.read(COURSE_ID)
    assert sorted(c["name"] for c in files["content"]) == ["assignments", "course"]
    assert ann.read(f"{COURSE_ID}/course/00_welcome.ipynb")["type"] == "notebook"
    assert (home(ANN) / COURSE_ID / "course" / "00_welcome.ipynb").stat().st_uid == home(ANN).stat().st_uid
    # a student's token opens their own server, not another student's
    from tests.support.hub import Server

    ben_with_ann_token = Server(klass.server(BEN).url, ann.token, ANN, COURSE_ID)
    assert klass.server(BEN).request("GET", "/api/contents").status_code == 200
    assert ben_with_ann_token.request("GET", "/api/contents", allow_redirects=False).status_code in (302, 403)


def _edited(klass, login: str, mutations=(), fill: bool = True) -> dict:
    """The student's fetched notebook, filled in through the contents API as they would in JupyterLab."""
    server = klass.server(login)
    model = server.read(f"{ASSIGNMENT}/{NOTEBOOK}.ipynb")
    scratch = klass.top / f"{login}-{NOTEBOOK}.ipynb"
    scratch.write_text(json.dumps(model["content"]))
    return json.loads(nbformat.writes(make_submission(scratch, ASSIGNMENT, NOTEBOOK, mutations, fill=fill)))


def _submissions(klass) -> list[str]:
    return sorted(p.name for p in (klass.exchange / "inbound").iterdir())


def test_students_fetch_edit_validate_and_submit(klass):
    prof = klass.server(PROF)
    for step in ("assign", "release"):
        outcome = prof.json("POST", f"/formgrader/api/assignment/{ASSIGNMENT}/{step}")
        assert outcome["success"], outcome["log"]
    servers = {login: klass.server(login) for login in STUDENTS}
    for server in servers.values():
        [listed] = server.assignments()
        assert (listed["assignment_id"], listed["status"]) == (ASSIGNMENT, "released")
        [fetched] = server.action("fetch", ASSIGNMENT)["value"]
        assert (fetched["status"], fetched["path"]) == ("fetched", ASSIGNMENT)
    path = f"{ASSIGNMENT}/{NOTEBOOK}.ipynb"
    # Ann submits a first try with a mistake (without validating it), then corrects it: both submissions are kept
    servers[ANN].write_notebook(path, _edited(klass, ANN, MISTAKES[1].mutations))  # flipped kernel
    assert servers[ANN].action("submit", ASSIGNMENT)["success"]
    servers[ANN].write_notebook(path, _edited(klass, ANN))
    servers[BEN].write_notebook(path, _edited(klass, BEN, fill=False))
    servers[CAT].write_notebook(path, _edited(klass, CAT, MISTAKES[0].mutations))  # padding ignored

    results = dict(zip(STUDENTS, in_parallel(lambda s: servers[s].validate(path), STUDENTS)))
    assert all(r["success"] for r in results.values()), results
    failed = {s: [c["source"] for c in r["value"].get("failed", [])] for s, r in results.items()}
    assert failed[ANN] == [], results[ANN]
    assert any("conv2d" in src for src in failed[CAT]) and len(failed[BEN]) > len(failed[CAT]), failed
    time.sleep(1.1)  # nbgrader's timestamps tell Ann's two submissions apart
    assert servers[ANN].action("submit", ASSIGNMENT)["success"]

    # Ben saves the notebook under another name: nbgrader (strict) refuses the submission, his file stays
    servers[BEN].rename(path, f"{ASSIGNMENT}/{NOTEBOOK}_final.ipynb")
    before = _submissions(klass)
    refused = servers[BEN].action("submit", ASSIGNMENT)
    assert not refused["success"] and "There are missing notebooks for the submission" in refused["value"]
    assert f"{NOTEBOOK}.ipynb: MISSING" in refused["value"] and f"{NOTEBOOK}_final.ipynb: EXTRA" in refused["value"]
    assert _submissions(klass) == before
    assert servers[BEN].read(f"{ASSIGNMENT}/{NOTEBOOK}_final.ipynb")["type"] == "notebook"
    servers[BEN].rename(f"{ASSIGNMENT}/{NOTEBOOK}_final.ipynb", path)
    assert servers[BEN].action("submit", ASSIGNMENT)["success"]

    # the instructor sets the due date; Cat submits after it
    due = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    body = {"duedate_notimezone": due.strftime("%Y-%m-%dT%H:%M:%S"), "duedate_timezone": "+0000"}
    assert prof.json("PUT", f"/formgrader/api/assignment/{ASSIGNMENT}", json=body)["duedate"]
    time.sleep(3)
    assert servers[CAT].action("submit", ASSIGNMENT)["success"]

    names = _submissions(klass)
    assert [n.split("+")[0] for n in names].count(ANN) == 2 and len(names) == 4
    listed = {s: servers[s].assignments() for s in STUDENTS}
    submitted = {s: next(a for a in v if a["status"] == "submitted") for s, v in listed.items()}
    assert len(submitted[ANN]["submissions"]) == 2 and len(submitted[CAT]["submissions"]) == 1


def _gradebook(klass) -> dict[str, tuple[float, float, float]]:
    """(score before the penalty, penalty, max score) of each student's notebook, read from the gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{klass.course / 'gradebook.db'}", COURSE_ID) as gb:
        for student in STUDENTS:
            nb = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
            out[student] = (nb.score, nb.late_submission_penalty or 0.0, nb.max_score)
    return out


def test_the_ta_collects_grades_and_returns_feedback(klass):
    klass.as_ta("autograder", "collect", ASSIGNMENT, "--exchange")
    assert sorted(p.name for p in (klass.course / "submitted").iterdir()) == sorted(STUDENTS)
    graded = klass.as_ta("autograder", "grade", ASSIGNMENT, "--no-progress", "--workers", "2")
    assert "graded 3" in graded.stdout and "sandbox: bubblewrap" in graded.stdout, graded.stdout
    klass.as_ta("autograder", "feedback", ASSIGNMENT)
    klass.as_ta("nbgrader", "release_feedback", ASSIGNMENT)
    scores = _gradebook(klass)
    assert scores[ANN] == (100.0, 0.0, 100.0), scores  # the newer of her two submissions
    assert scores[BEN][0] == 0.0 and scores[BEN][1] == 0.0
    raw, penalty, _ = scores[CAT]
    assert 0 < raw < 100 and penalty == pytest.approx(raw * LATE_PER_DAY), scores  # late by less than a day
    klass.scores = scores


def _feedback(klass, login: str) -> str:
    server = klass.server(login)
    listed = server.action("fetch_feedback", ASSIGNMENT)["value"]
    submitted = next(a for a in listed if a["status"] == "submitted")
    latest = submitted["submissions"][-1]
    assert latest["has_local_feedback"] and not latest["feedback_updated"], latest
    folder = latest["local_feedback_path"]
    return server.read(f"{folder}/{NOTEBOOK}.html")["content"]


def test_each_student_fetches_their_feedback_and_sees_their_score(klass):
    pages = {s: _feedback(klass, s) for s in STUDENTS}
    assert f"{NOTEBOOK} (Score: 100 / 100)" in pages[ANN]
    assert f"{NOTEBOOK} (Score: 0 / 100)" in pages[BEN]
    # Cat's late notebook: the score after the course's penalty, and the penalty
    raw, penalty, _ = klass.scores[CAT]
    assert f"{NOTEBOOK} (Score: {raw - penalty:g} / 100)" in pages[CAT], pages[CAT]
    assert f"Late submission penalty: -{penalty:g}" in pages[CAT]
    assert "Late submission penalty" not in pages[ANN] + pages[BEN]


def _as_student(klass, login: str, code: str) -> str:
    """What ``code`` printed when run as the student (their own Python, groups and permissions)."""
    from autograder.hub.accounts import run_as

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(klass.hub.settings.student_python)}
    result = run_as(login, [klass.hub.settings.python, "-c", code], env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_student_reads_neither_other_students_work_nor_the_instructors_files(klass):
    ben_submission = next(p for p in (klass.exchange / "inbound").iterdir() if p.name.startswith(BEN))
    targets = {
        "inbound": klass.exchange / "inbound",
        "feedback": klass.exchange / "feedback",
        "solutions": klass.course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
        "gradebook": klass.course / "gradebook.db",
        "submitted": klass.course / "submitted" / BEN,
        "ben's home": home(BEN) / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
        "ben's cache": home(BEN) / ".local" / "share" / "jupyter" / "nbgrader_cache",
        "instructor's home": home(PROF),
    }
    for name, path in targets.items():
        assert path.exists(), name
    code = (
        "import os, sys\n"
        f"for name, path in { ({k: str(v) for k, v in targets.items()})!r}.items():\n"
        "    try:\n"
        "        os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(1)\n"
        "        print('READ', name)\n"
        "    except PermissionError:\n"
        "        print('denied', name)\n"
    )
    assert _as_student(klass, ANN, code).split("\n")[:-1] == [f"denied {name}" for name in targets]
    # Ben's submission's folder name is a secret (timestamp and random string): listing inbound is refused
    assert ben_submission.name not in _as_student(klass, ANN, f"import os; print(os.listdir({str(klass.exchange)!r}))")

    # through her own server: paths outside her home are not served, and links out of it do not help
    ann = klass.server(ANN)
    escapes = (f"..%2F{BEN}", f"%2E%2E%2F{BEN}%2F{ASSIGNMENT}", f"{COURSE_ID}%2F..%2F..%2F{PROF}", "%2Fetc%2Fpasswd")
    for path in escapes:  # "/" encoded: one path segment for the proxy, which would resolve a bare ".." itself
        answer = ann.request("GET", f"/api/contents/{path}", params={"content": "1"})
        assert answer.status_code in (400, 403, 404), (path, answer.status_code, answer.text[:300])
    links = {
        "peek-course": klass.course / "solutions",
        "peek-ben": home(BEN),
        "peek-inbound": klass.exchange / "inbound",
    }
    for name, target in links.items():
        _as_student(klass, ANN, f"import os; os.symlink({str(target)!r}, {str(home(ANN) / name)!r})")
        answer = ann.request("GET", f"/api/contents/{name}", params={"content": "1"})
        assert answer.status_code >= 400 or not answer.json().get("content"), (name, answer.text[:500])


def test_a_students_assignments_tab_shows_the_submissions_and_feedback(klass):
    from tests.support.browser import DevTools

    ann = klass.server(ANN)
    key = "nbgrader-assignment-list:nbgrader-assignment-list"
    layout = {"dock": {"type": "tab-area", "currentIndex": 0, "widgets": [key]}, "current": key}
    workspace = {
        "data": {
            "layout-restorer:data": {
                "main": layout,
                "left": {"collapsed": True, "visible": True, "widgets": []},
                "right": {"collapsed": True, "visible": True, "widgets": []},
            },
            key: {"data": {}},
        },
        "metadata": {"id": "assignments"},
    }
    assert ann.request("PUT", "/lab/api/workspaces/assignments", json=workspace).status_code == 204
    shot = ARTIFACTS / "hub-student-assignments-tab.png"
    with DevTools(1280, 800) as page:
        page.open(f"{klass.hub.url}/hub/login?next=/user/{ANN}/lab/workspaces/assignments")
        page.wait_for("!!document.querySelector('#username_input')")
        page.evaluate(
            f"document.querySelector('#username_input').value = {ANN!r};"
            f"document.querySelector('#password_input').value = {klass.passwords[ANN]!r};"
            "document.querySelector('#login_submit').click(); true"
        )
        tab = "document.querySelector('.nbgrader-mainarea-widget')"
        page.wait_for(f"!!{tab} && {tab}.innerText.includes('Submitted assignments') && "
                      f"{tab}.innerText.includes('{ASSIGNMENT}')", timeout=180)  # fmt: skip
        time.sleep(1)
        text = page.evaluate(f"{tab}.innerText")
        png = page.screenshot(shot)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert COURSE_ID in text and ASSIGNMENT in text, text
    assert text.count(" UTC") == 2 and text.count("view feedback") == 1, text  # her two submissions, one graded


def test_an_unreleased_assignment_takes_no_submission_and_loses_none(klass):
    before = _submissions(klass)
    collected = sorted(p.name for p in (klass.course / "submitted").iterdir())
    prof = klass.server(PROF)
    assert prof.json("POST", f"/formgrader/api/assignment/{ASSIGNMENT}/unrelease")["success"]
    ben = klass.server(BEN)
    assert not any(a["status"] == "released" for a in ben.assignments())
    refused = ben.action("submit", ASSIGNMENT)
    assert not refused["success"] and "Assignment not found" in refused["value"], refused
    assert _submissions(klass) == before
    assert sorted(p.name for p in (klass.course / "submitted").iterdir()) == collected
    assert ben.read(f"{ASSIGNMENT}/{NOTEBOOK}.ipynb")["type"] == "notebook"


def _gone(pid: int) -> bool:
    """Whether process ``pid`` ended (a zombie has ended: it waits only for its parent, here not the test)."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stop_ends_the_hub_its_proxy_and_every_server(klass):
    import psutil

    settings = klass.hub.settings
    hub_pid = int((settings.state / "jupyterhub.pid").read_text())
    proxy_pid = int((settings.state / "proxy.pid").read_text())
    stopped = cli("hub", "stop", "--course", str(klass.course), "--state", str(settings.state))
    assert stopped.returncode == 0 and "stopped the hub" in stopped.stdout, stopped.stdout + stopped.stderr
    assert _gone(hub_pid) and _gone(proxy_pid)
    uids = {home(login).stat().st_uid for login in (PROF, *STUDENTS)}
    procs = psutil.process_iter(["uids", "status"])
    left = [p.pid for p in procs if p.info["uids"] and p.info["uids"].real in uids and p.info["status"] != "zombie"]
    assert left == []
    again = cli("hub", "stop", "--course", str(klass.course), "--state", str(settings.state))
    assert again.returncode == 0 and "not running" in again.stdout
