"""The allow-list HTML sanitizer for what students wrote, wherever the course shows it in a browser.

A submitted notebook is untrusted: its Markdown cells, its outputs (``text/html``, ``text/markdown``, SVG) and
its raw cells would otherwise reach the TA's Formgrader page and the student's feedback as live HTML, where a
script can call Formgrader's grading API with the TA's login. :func:`clean_html` keeps what a readable
notebook needs and nothing else:

- headings, paragraphs, lists, tables, code and preformatted text, emphasis, quotes, rules, line breaks,
  superscripts and subscripts;
- images whose source is an embedded PNG, JPEG or GIF (``data:image/png;base64,...``);
- links to ``http``, ``https`` and ``mailto`` addresses and to ``#fragments`` of the same page;
- MathML (the rendered math of :mod:`autograder.mathml`) without links or actions;
- the class names of the code highlighter (Pygments), ``text-align`` in table cells.

Everything else goes: ``<script>``, ``<style>``, frames, objects, forms, ``<base>``, ``<meta>``, inline SVG
(with their content), event-handler attributes, other URLs, styles, and every ``id`` and ``name`` (an element
of a student's that took the ``id`` of one of Formgrader's score inputs would take its place).

nbconvert calls it as its ``clean_html`` filter (``HTMLExporter.filters``, set in :mod:`autograder.config`).
"""

from __future__ import annotations

import re
import threading

from bleach import html5lib_shim
from bleach.css_sanitizer import CSSSanitizer
from bleach.sanitizer import Cleaner
from pygments.token import STANDARD_TYPES

TEXT_TAGS = frozenset(
    "a abbr b blockquote br caption cite code col colgroup dd del div dl dt em h1 h2 h3 h4 h5 h6 hr i img ins "
    "kbd li mark ol p pre q s samp small span strong sub sup table tbody td tfoot th thead tr u ul var wbr".split()
)
MATH_TAGS = frozenset(
    "math menclose merror mfenced mfrac mi mmultiscripts mn mo mover mpadded mphantom mprescripts mroot mrow ms "
    "mspace msqrt mstyle msub msubsup msup mtable mtd mtext mtr munder munderover none".split()
)
ALLOWED_TAGS = TEXT_TAGS | MATH_TAGS

#: Elements removed together with everything inside them (their text would otherwise remain as text).
DROPPED_WITH_CONTENT = frozenset(
    "script style template iframe frame frameset object embed applet noscript noembed noframes textarea select "
    "title xmp plaintext svg head annotation-xml".split()
)

MATH_ATTRIBUTES = frozenset(
    "display mathvariant displaystyle scriptlevel stretchy fence separator form accent accentunder largeop "
    "movablelimits symmetric minsize maxsize lspace rspace width height depth voffset linethickness columnalign "
    "rowalign columnspacing rowspacing columnlines rowlines columnspan rowspan frame framespacing notation "
    "open close separators".split()
)
MATHML_NAMESPACE = "http://www.w3.org/1998/Math/MathML"

#: Class names a student's HTML may keep: the code highlighter's, and a few that only style tables and code.
ALLOWED_CLASSES = frozenset(c for c in STANDARD_TYPES.values() if c) | {"highlight", "dataframe"}

LINK = re.compile(r"(?i)(https?://|mailto:|#)")
IMAGE = re.compile(r"(?i)data:image/(png|jpeg|gif);base64,[a-z0-9+/=\s]*")
NUMBER = re.compile(r"\d{1,5}(\.\d+)?(%|px)?")


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if tag in MATH_TAGS:
        return name in MATH_ATTRIBUTES or (tag == "math" and name == "xmlns" and value == MATHML_NAMESPACE)
    if name == "class":
        return all(c in ALLOWED_CLASSES for c in value.split())
    if name == "title":
        return True
    if tag == "a":
        return name == "href" and LINK.match(value) is not None
    if tag == "img":
        if name == "src":
            return IMAGE.fullmatch(value) is not None
        return name == "alt" or (name in ("width", "height") and NUMBER.fullmatch(value) is not None)
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "align", "style")
    if tag == "ol":
        return name == "start"
    return False


class _DropContent(html5lib_shim.Filter):
    """Leave out :data:`DROPPED_WITH_CONTENT` elements and everything between their start and end tags."""

    def __iter__(self):
        depth = 0
        for token in super().__iter__():
            kind, name = token["type"], token.get("name")
            if depth:
                if kind == "StartTag":
                    depth += 1
                elif kind == "EndTag":
                    depth -= 1
                continue
            if name in DROPPED_WITH_CONTENT:
                if kind == "StartTag":
                    depth = 1
                continue
            yield token


_local = threading.local()  # bleach's Cleaner is not thread-safe: one per thread


def _cleaner() -> Cleaner:
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = Cleaner(
            tags=ALLOWED_TAGS,
            attributes=_allowed_attribute,
            protocols={"http", "https", "mailto", "data"},
            strip=True,
            strip_comments=True,
            css_sanitizer=CSSSanitizer(allowed_css_properties=["text-align"]),
        )
        # Parse the whole document as a browser would (bleach's own parser drops disallowed tags while it reads,
        # which leaves the text of a script or a style behind), then leave out the dropped elements.
        cleaner.parser = html5lib_shim.BleachHTMLParser(
            tags=None, strip=True, consume_entities=False, namespaceHTMLElements=False
        )
        walker = cleaner.walker
        cleaner.walker = lambda tree: _DropContent(walker(tree))
        _local.cleaner = cleaner
    return cleaner


def clean_html(html: str | bytes) -> str:
    """``html`` with only the allowed elements and attributes left (see the module's description)."""
    text = html.decode("utf-8", "replace") if isinstance(html, bytes) else str(html)
    return _cleaner().clean(text)
