"""Feedback a student can read: math rendered without a network or a script, and a summary of tasks and points.

The toy assignment, with its two functions in sections ("## 1. Addition", "## 2. Multiplication: $a \\times b$")
and some math in its text, is graded once for the module: "wrong" multiplies by adding, "cancel" adds wrongly
when the numbers cancel out (only the hidden test sees it). Their feedback pages are opened in headless
Chromium with no network; the page's policy allows no script either, so what is seen is what the page holds.
"""

from __future__ import annotations

import re

import pytest
from nbformat.v4 import new_markdown_cell

from autograder.course import Course
from autograder.feedback import generate_feedback
from autograder.pipeline.coordinator import grade
from tests.support.browser import chromium, dump_dom, file_url
from tests.support.nbcourse import visible_text
from tests.support.toycourse import (
    HIDDEN_LINE,
    SOLVED_ADD,
    SOLVED_MUL,
    TOY,
    WRONG_MUL,
    cli,
    release_of,
    released_course,
    student_notebook,
    toy_notebook,
    write_submission,
)

INTRO = "Write two functions. Their sum is $a + b$; and, for practice,\n\n$$\\frac{a}{b} = \\sum_{i=1}^{n} x_i$$"
CANCEL_ADD = "def add(a, b):\n    return a + b if a != -7 else 1\n"


def _notebook():
    nb = toy_notebook()
    names = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells]
    nb.cells.insert(names.index("mul"), new_markdown_cell("## 2. Multiplication: $a \\times b$"))
    nb.cells.insert(names.index("add"), new_markdown_cell("## 1. Addition"))
    nb.cells.insert(1, new_markdown_cell(INTRO))
    return nb


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """student -> (page source, DOM in Chromium)."""
    chromium()  # skip before grading where there is no browser
    base = tmp_path_factory.mktemp("readable")
    root = released_course(base / "course", _notebook())
    release = release_of(root)
    incoming = base / "incoming"
    write_submission(incoming / "wrong", student_notebook(release, SOLVED_ADD, WRONG_MUL))
    write_submission(incoming / "cancel", student_notebook(release, CANCEL_ADD, SOLVED_MUL))
    cli("collect", TOY, "--from", str(incoming), course=root)
    grade(Course.open(root), TOY, workers=0, progress=False)
    written = generate_feedback(Course.open(root), TOY)
    return {path.parents[1].name: (path.read_text(), dump_dom(file_url(path))) for path in written}


def _body(dom: str) -> str:
    return dom[dom.index("<body") :]


def _summary(dom: str) -> list[tuple[str, str, str]]:
    """(task, points, messages) of each row of the summary, as text."""
    rows = re.findall(r'<tr class="task \w+"><td>(.*?)</td><td class="points">(.*?)</td></tr>', dom, flags=re.S)
    out = []
    for cell, points in rows:
        name, _, failures = cell.partition('<ul class="failures">')
        out.append((visible_text(name).strip(), visible_text(points).strip(), visible_text(failures).strip()))
    return out


def test_math_is_rendered_as_mathml(pages):
    dom = _body(pages["wrong"][1])
    inline = re.search(r'<math[^>]*\bdisplay="inline"[^>]*><mrow><mi>a</mi><mo>\+</mo><mi>b</mi></mrow></math>', dom)
    assert inline, "the inline formula a + b is not MathML"
    block = re.search(r'<math[^>]*\bdisplay="block"[^>]*>(.*?)</math>', dom, flags=re.S)
    assert block, "the display formula is not MathML"
    assert re.search(r"<mfrac><mrow><mi>a</mi></mrow><mrow><mi>b</mi></mrow></mfrac>", block.group(1))
    assert "<munderover><mo>∑</mo>" in block.group(1)
    assert "$" not in visible_text(dom), "TeX left in the page"


def test_the_page_loads_nothing_and_runs_nothing(pages):
    source, dom = pages["wrong"]
    assert "<script" not in source and "mathjax" not in source.lower()
    assert not re.search(r'(src|href)="(https?:)?//', source)


def test_the_summary_names_each_task_with_its_points(pages):
    rows = _summary(pages["wrong"][1])
    assert [(name, points) for name, points, _ in rows] == [
        ("1. Addition", "5 / 5"),
        ("2. Multiplication: a×b", "0 / 5"),
    ]
    failures = rows[1][2]
    assert "mul (0 / 4): mul(3, 4) should be 12: did you add instead of multiply?" in failures
    assert "mul zero (0 / 1): mul(5, 0) should be 0" in failures
    assert "Traceback" not in failures and "AssertionError" not in failures
    total = re.search(r"<tfoot><tr><th>Total</th><th[^>]*>(.*?)</th>", pages["wrong"][1]).group(1)
    assert total == "5 / 10"
    assert "Test cell (Score" not in visible_text(pages["wrong"][1])  # nbgrader's list of cells is gone


def test_a_failing_hidden_test_gives_its_message_but_not_its_source(pages):
    source, dom = pages["cancel"]
    rows = _summary(dom)
    assert rows[0][:2] == ("1. Addition", "2 / 5")
    assert "add (hidden tests) (0 / 3): add fails when the numbers cancel out" in rows[0][2]
    assert rows[1][:2] == ("2. Multiplication: a×b", "5 / 5") and rows[1][2] == ""
    assert HIDDEN_LINE not in source and "add(-7, 7)" not in visible_text(source)


def test_no_problem_no_problems_section(pages):
    assert "Problems while grading" not in visible_text(pages["wrong"][1])
