"""Markdown with MathML, the metadata check, and nbconvert's exporter as the course configures it (no browser:
tests/test_feedback_safety.py and tests/test_feedback_readable.py open the pages)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from traitlets.config import Config

from autograder.config import configure_html
from autograder.mathml import tex_to_mathml
from autograder.rendering import SafeMetadata, markdown_html

ROOT = Path(__file__).resolve().parents[1]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
NOTEBOOKS = sorted(ROOT.glob("solutions/*/*.ipynb")) + sorted(ROOT.glob("course/*.ipynb"))


def _text_outside_code(html: str) -> str:
    return re.sub(r"<(code|pre)>.*?</\1>", "", html, flags=re.S)


def test_inline_and_display_math_become_mathml():
    html = markdown_html("Inline $x^2 + y_i$ and display\n\n$$\\frac{a}{b} = \\sum_{i=1}^{n} x_i$$")
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in html
    assert "<msup><mi>x</mi><mn>2</mn></msup>" in html
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in html
    assert re.search(r"<mfrac><mrow><mi>a</mi></mrow><mrow><mi>b</mi></mrow></mfrac>", html)
    assert "$" not in html


def test_arg_max_is_an_operator_and_unreadable_tex_stays_source():
    assert "<mo>arg</mo>" in tex_to_mathml(r"\arg\max_x f(x)")
    assert tex_to_mathml("x^") == "<code>$x^$</code>"


def test_tex_cannot_smuggle_markup_through_mathml():
    html = markdown_html(r"$\text{<img src=x onerror=alert(1)>}$ and $\href{javascript:alert(1)}{x}$")
    assert "onerror" not in html and "javascript" not in html and "href" not in html


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_formula_of_the_course_renders(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        html = markdown_html(cell.source, attachments=cell.get("attachments"))
        assert "$" not in _text_outside_code(html), f"cell {index}: math left as TeX"
        unknown = re.findall(r"<mi>(\\[A-Za-z]+)</mi>", html)
        assert not unknown, f"cell {index}: latex2mathml does not know {unknown}"
        assert "<code>$" not in html, f"cell {index}: a formula could not be read"


def test_markdown_keeps_headings_links_and_attached_images_but_no_ids():
    html = markdown_html(
        "## Results\n\n[docs](https://example.org) ![plot](attachment:plot.png) [x](javascript:alert(1))",
        attachments={"plot.png": {"image/png": PNG}},
    )
    assert "<h2>Results</h2>" in html and 'href="https://example.org"' in html
    assert f'src="data:image/png;base64,{PNG}"' in html
    assert "id=" not in html and "javascript" not in html


def test_a_missing_attachment_shows_the_text():
    html = markdown_html("![plot](attachment:gone.png) <b>bold</b>")
    assert "attachment:gone.png" in html and "<b>" not in html


def _hostile_notebook() -> nbformat.NotebookNode:
    answer = new_markdown_cell("An answer.")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": '"><img src=x onerror=alert(1)>'}
    good = new_code_cell("x = 1", execution_count=3)
    good.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "answer_1.b"}
    image = new_output(
        "display_data",
        data={"image/png": PNG, "text/html": "<b>x</b>"},
        metadata={
            "image/png": {"width": "1 onerror=alert(1)", "height": 20},
            "filenames": {"image/png": "../../secret.png"},
            "text/html": {"isolated": True},
        },
    )
    nb = new_notebook(cells=[answer, good, new_code_cell("display(x)", outputs=[image]), new_raw_cell("raw")])
    image["svg_filename"] = "../../secret.svg"  # nbconvert validates with additional properties allowed
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_metadata_that_templates_print_raw_is_checked():
    nb, _ = SafeMetadata().preprocess(_hostile_notebook(), {})
    answer, good, code, _ = nb.cells
    assert answer.metadata.nbgrader.grade_id == "invalid-grade-id-0"
    assert good.metadata.nbgrader.grade_id == "answer_1.b"
    output = code.outputs[0]
    assert output.metadata["image/png"] == {"height": 20} and output.metadata["text/html"] == {}
    assert "filenames" not in output.metadata and "svg_filename" not in output
    assert "widgets" not in nb.metadata


def test_the_configured_exporter_renders_student_content_inert():
    config = Config()
    configure_html(config)
    nb = _hostile_notebook()
    nb.cells.append(new_markdown_cell("<script>alert(1)</script>\n\nMath: $a^2$ <img src=x onerror=alert(1)>"))
    svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    outputs = [
        new_output("display_data", data={"text/html": "<img src=x onerror=alert(1)><script>alert(1)</script>"}),
        new_output("display_data", data={"image/svg+xml": svg}),
        new_output("display_data", data={"application/javascript": "alert(1)"}),
        new_output("display_data", data={"text/markdown": "<iframe srcdoc='<script>alert(1)</script>'></iframe>"}),
    ]
    nb.cells.append(new_code_cell("show()", outputs=outputs))
    html, _ = HTMLExporter(config=config, template_name="classic").from_notebook_node(nb)
    body = html[html.index("<body") :]
    assert "alert" not in body
    assert "<script" not in body and "<iframe" not in body and "<svg" not in body
    assert 'src="data:image/svg+xml;base64,' in body
    assert "<msup><mi>a</mi><mn>2</mn></msup>" in body
    assert "secret" not in body and 'width="' not in body
