"""How a student's notebook becomes HTML for a person: Formgrader's page for the TA, the student's feedback.

nbconvert's HTML exporter is configured for both (:func:`autograder.config.configure_html`) with

- :class:`SafeMarkdown` as its ``markdown2html`` filter: Markdown rendered with its math as MathML
  (:mod:`autograder.mathml`), then sanitized (:func:`autograder.safehtml.clean_html`). nbgrader's templates
  print Markdown cells with ``markdown2html`` alone, without nbconvert's ``clean_html``, so the filter itself
  must return safe HTML;
- :class:`SafeMetadata` as a preprocessor: what nbgrader's and nbconvert's templates print from a notebook's
  metadata unescaped or into unquoted attributes (``grade_id``, image sizes, file names) is checked, anything
  else replaced or dropped.
"""

from __future__ import annotations

import html
import re
from typing import Any

from jinja2 import pass_context
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
from traitlets.config import LoggingConfigurable

from .mathml import tex_to_mathml
from .safehtml import clean_html

#: A name nbgrader's templates may print as it is: a ``grade_id``.
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, with math as MathML and headings without anchors (their ids are
    removed by the sanitizer)."""

    def inline_math(self, body: str) -> str:
        return tex_to_mathml(body)

    def block_math(self, body: str) -> str:
        return tex_to_mathml(body, display=True)

    def latex_environment(self, name: str, body: str) -> str:
        return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

    def heading(self, text: str, level: int, **attrs: Any) -> str:
        return f"<h{level}>{text}</h{level}>\n"


def markdown_html(source: str, attachments: dict | None = None, path: str = "", embed_images: bool = False) -> str:
    """Safe HTML of the Markdown ``source``, math as MathML; ``attachments`` are the cell's attached images."""
    renderer = MathMLRenderer(escape=False, attachments=attachments or {}, embed_images=embed_images, path=path)
    try:
        rendered = MarkdownWithMath(renderer=renderer).render(source)
    except Exception:  # e.g. a missing attachment: show the text rather than lose the page
        rendered = f"<pre>{html.escape(source)}</pre>"
    return clean_html(rendered)


class SafeMarkdown(LoggingConfigurable):
    """nbconvert's ``markdown2html`` Jinja filter made safe (see the module's description); nbconvert makes
    one per exporter (``parent``) from ``HTMLExporter.filters``."""

    # Jinja passes the template context to a filter marked so: it holds the cell (attachments) and resources.
    jinja_pass_arg = pass_context(lambda: None).jinja_pass_arg

    def __call__(self, context: Any, source: str) -> str:
        cell = context.get("cell") or {}
        metadata = (context.get("resources") or {}).get("metadata") or {}
        return markdown_html(
            source,
            attachments=cell.get("attachments"),
            path=metadata.get("path", ""),
            embed_images=bool(getattr(self.parent, "embed_images", False)),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class SafeMetadata(Preprocessor):
    """Replace what templates would print unsafely from a notebook's metadata.

    - an nbgrader ``grade_id`` that is not made of letters, digits, ``_``, ``.`` and ``-`` (nbgrader's
      templates put it raw into ``id`` and ``name`` attributes) becomes ``invalid-grade-id-<cell index>``;
    - image outputs keep a ``width`` or ``height`` only when it is a number (nbconvert writes them into
      unquoted attributes), and outputs lose ``filenames`` and ``svg_filename`` (links to files) and the
      ``isolated`` flag of HTML (an iframe);
    - the notebook's widget state is dropped.

    Cell ids, execution counts and cell types need no check: nbconvert refuses a notebook whose are not
    valid (it validates the notebook after each preprocessor).
    """

    enabled = True

    def preprocess(self, nb, resources):
        nb.metadata.pop("widgets", None)
        for index, cell in enumerate(nb.cells):
            meta = cell.get("metadata", {}).get("nbgrader")
            if isinstance(meta, dict) and "grade_id" in meta:
                gid = meta["grade_id"]
                if not (isinstance(gid, str) and SAFE_NAME.fullmatch(gid)):
                    meta["grade_id"] = f"invalid-grade-id-{index}"
            for output in cell.get("outputs", []):
                _clean_output_metadata(output)
        return nb, resources


def _clean_output_metadata(output) -> None:
    output.pop("svg_filename", None)
    metadata = output.get("metadata")
    if not isinstance(metadata, dict):
        return
    metadata.pop("filenames", None)
    for scope in [metadata, *(v for v in metadata.values() if isinstance(v, dict))]:
        scope.pop("isolated", None)
        for key in ("width", "height"):
            if key in scope and not _is_number(scope[key]):
                del scope[key]
