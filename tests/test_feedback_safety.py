"""No student script runs in the browser of a student reading feedback or of a TA grading in Formgrader.

One toy course is graded once for the module: "attacker", a blank submission that carries every payload of
tests/support/payloads.py (Markdown with scripts, event handlers, SVG, frames, ``javascript:`` links and ids
that shadow Formgrader's inputs; outputs in HTML, SVG, JavaScript and Markdown, an image whose metadata
breaks out of its attribute; a cell whose grade_id is HTML, named in a flag's message), and "misnamed", whose
notebook's file name is an HTML tag (the page of a notebook that could not be graded lists it).

The feedback pages are opened over ``file://`` and Formgrader's page of the submission on a real Jupyter
server, in headless Chromium with no network, and the DOM is read once the page's scripts had time to run:
no payload may have left its mark, and Formgrader's gradebook must be unchanged. The same pages are made
again with the course's protection switched off, where the payloads run and Formgrader's grades change to
full marks: the tests can see an attack that works.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

import autograder.feedback
from autograder.config import config_file_text, nbgrader_templates
from autograder.course import Course
from autograder.feedback import CONTENT_SECURITY_POLICY, generate_feedback
from autograder.pipeline.coordinator import grade
from tests.support.browser import chromium, dump_dom, file_url
from tests.support.formgrader import formgrader_server
from tests.support.nbcourse import visible_text
from tests.support.payloads import (
    FILE_NAME,
    HOSTILE_GRADE_ID,
    RUNNING,
    UNSAFE_SETTINGS,
    add_hostile_answer_cell,
    add_payloads,
    marks,
    ran,
    unsafe_html,
)
from tests.support.toycourse import TOY, cli, release_of, released_course, student_notebook, write_submission

#: Payloads found in the page rather than run: a link needs a click, ids do not run; the JavaScript output fails
#: on feedback pages before its payload (``$`` is Formgrader's jQuery), so there only its script is found.
STATIC = {"md-link", "md-clobber", "js-output"}
FULL_MARKS = {"test_add": 2, "test_add_hidden": 3, "test_mul": 4, "test_mul_zero": 1}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    chromium()  # skip before grading where there is no browser
    base = tmp_path_factory.mktemp("safety")
    root = released_course(base / "course")
    release = release_of(root)
    incoming = base / "incoming"
    write_submission(incoming / "attacker", add_payloads(student_notebook(release)))
    write_submission(incoming / "misnamed", student_notebook(release), name=FILE_NAME)
    cli("collect", TOY, "--from", str(incoming), course=root)
    grade(Course.open(root), TOY, workers=0, progress=False)
    return root


def _sanitizer_only(c) -> None:
    """The course's settings but nbgrader's own feedback template: no Content-Security-Policy."""
    _configure_html(c)
    c.HTMLExporter.extra_template_basedirs = [nbgrader_templates()]


_configure_html = autograder.feedback.configure_html
FEEDBACK_MODES = {"protected": _configure_html, "sanitizer only": _sanitizer_only, "unprotected": unsafe_html}


@pytest.fixture(scope="module")
def feedback(course) -> dict[str, dict[str, str]]:
    """mode -> student -> (page source, DOM in Chromium)."""
    pages = {}
    for mode, settings in FEEDBACK_MODES.items():
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(autograder.feedback, "configure_html", settings)
            written = generate_feedback(Course.open(course), TOY)
        pages[mode] = {path.parents[1].name: (path.read_text(), dump_dom(file_url(path))) for path in written}
    return pages


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, {k: v or "" for k, v in attrs}))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        if self.lasttag == "script":
            self.scripts.append(data)


def _violations(dom: str, own_scripts: bool = False) -> list[str]:
    """What in the DOM could run or act for a student: elements, attributes, URLs, ids that shadow inputs.
    ``own_scripts``: the page's template has scripts of its own (Formgrader's, nbgrader's MathJax)."""
    parser = _Elements()
    parser.feed(dom)
    found = []
    for tag, attrs in parser.found:
        if tag in {"iframe", "frame", "object", "embed", "applet", "form", "base", "svg"}:
            found.append(f"<{tag}>")
        if tag == "script" and not own_scripts:
            found.append("<script>")
        if tag == "meta" and attrs.get("http-equiv", "").lower() not in ("", "content-security-policy"):
            found.append(f"<meta http-equiv={attrs['http-equiv']}>")
        for name, value in attrs.items():
            if own_scripts and name == "onclick" and re.fullmatch(r"toggle_name\((true|false)\);", value):
                continue  # Formgrader's own button that shows or hides the student's name
            active = name.startswith("on") or name in ("srcdoc", "formaction", "action")
            if active or ("href" in name and name != "href"):
                found.append(f"<{tag} {name}>")
            url = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if name in ("href", "src") and re.match(r"(javascript|vbscript|data):", url):
                if not (tag == "img" and re.match(r"data:image/(png|jpeg|gif|svg\+xml);base64,", url)):
                    found.append(f"<{tag} {name}={url[:30]}>")
        if attrs.get("id") in ("clobber-md",) or attrs.get("name") in ("clobber",):
            found.append(f"<{tag} id={attrs.get('id')}>")
    found += [f"script: {s[:60]}" for s in parser.scripts if "atob(" in s or "pwned" in s]
    return found


def test_feedback_runs_no_student_script(feedback):
    source, dom = feedback["protected"]["attacker"]
    assert marks(dom) == set()
    assert _violations(dom) == []
    assert "<script" not in source


def test_feedback_allows_no_script_by_its_policy(feedback):
    for source, dom in feedback["protected"].values():
        assert f'content="{CONTENT_SECURITY_POLICY}"' in source
        assert 'http-equiv="Content-Security-Policy"' in dom


def test_the_sanitizer_alone_stops_every_payload(feedback):
    source, dom = feedback["sanitizer only"]["attacker"]
    assert "Content-Security-Policy" not in source  # nbgrader's template: nothing but the sanitizer
    assert marks(dom) == set()
    assert _violations(dom, own_scripts=True) == []  # its scripts are MathJax's


def test_without_protection_the_payloads_run_in_feedback(feedback):
    dom = feedback["unprotected"]["attacker"][1]
    # the mXSS payload aims at a sanitizer's parse and serialization: in one parse it does not run; the hostile
    # grade_id never reaches the page, protected or not: grading removes nbgrader metadata the release lacks
    assert ran(dom) == RUNNING
    assert marks(dom) == RUNNING | STATIC


def test_a_hostile_cell_name_is_shown_as_text_in_the_flags(feedback):
    source, dom = feedback["protected"]["attacker"]
    text = visible_text(dom)
    assert "Problems while grading" in text and "tamper attempt" in text and "cell metadata removed" in text
    assert HOSTILE_GRADE_ID[:30] in text  # the start of the name the student wrote, shown as text
    assert "data-pwned" not in dom


def test_the_page_of_an_ungraded_notebook_shows_the_file_name_as_text(feedback):
    source, dom = feedback["protected"]["misnamed"]
    assert marks(dom) == set() and _violations(dom) == []
    assert f"{FILE_NAME}.ipynb" in visible_text(dom)


# --- Formgrader ---------------------------------------------------------------------------------------------


def _grades(root: Path) -> tuple[str, dict[str, tuple]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(TOY, TOY, "attacker")
        return notebook.id, {g.name: (g.auto_score, g.manual_score, g.extra_credit) for g in notebook.grades}


@pytest.fixture(scope="module")
def formgrader(course, tmp_path_factory) -> dict[str, dict]:
    """mode -> the DOM of Formgrader's page of the attacker's submission, the grades before and after.

    Each mode has its own copy of the course and its own server, started once; the copy's autograded
    notebook also gets an answer cell whose grade_id is HTML (nbgrader's autograde would have removed it).
    """
    pages = {}
    for mode in ("protected", "unprotected"):
        base = tmp_path_factory.mktemp(f"formgrader-{mode.replace(' ', '-')}")
        root = base / "course"
        shutil.copytree(course, root, ignore=shutil.ignore_patterns("feedback"))
        settings = UNSAFE_SETTINGS if mode == "unprotected" else ""
        (root / "nbgrader_config.py").write_text(config_file_text(root) + settings)
        autograded = root / "autograded" / "attacker" / TOY / f"{TOY}.ipynb"
        nbformat.write(add_hostile_answer_cell(nbformat.read(autograded, as_version=4)), autograded)
        submission, before = _grades(root)
        with formgrader_server(root, base / "server") as server:
            dom = dump_dom(server.page(f"/formgrader/submissions/{submission}/"), budget_ms=10000)
        pages[mode] = {"dom": dom, "before": before, "after": _grades(root)[1], "log": server.log}
    return pages


def test_formgrader_runs_no_student_script_and_grades_stay(formgrader):
    page = formgrader["protected"]
    assert marks(page["dom"]) == set(), page["log"].read_text()[-3000:]
    assert _violations(page["dom"], own_scripts=True) == []
    assert page["after"] == page["before"]


def test_formgrader_still_shows_the_submission_for_grading(formgrader):
    dom = formgrader["protected"]["dom"]
    for grade_id in FULL_MARKS:
        assert len(re.findall(rf'\bid="{grade_id}"', dom)) == 1, grade_id  # its score input, and only it
    assert 'id="invalid-grade-id-1-comment"' in dom and "An answer." in dom  # the hostile cell, renamed


def test_without_protection_a_submission_takes_over_formgrader(formgrader):
    page = formgrader["unprotected"]
    assert ran(page["dom"]) == RUNNING | {"grade-id", "js-output"}, page["log"].read_text()[-3000:]
    assert page["before"] == {name: (0.0, None, None) for name in FULL_MARKS}
    assert page["after"] == {name: (0.0, points, 100.0) for name, points in FULL_MARKS.items()}
