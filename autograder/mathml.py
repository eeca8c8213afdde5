"""LaTeX math to MathML, for pages that must show math without a script or a network (feedback, Formgrader).

nbconvert leaves ``$...$`` in the HTML for MathJax, which a feedback page opened offline, or under its
Content-Security-Policy, never runs. Browsers render MathML themselves, so the course converts each formula
once, when the page is made, with ``latex2mathml``. It covers what the assignments write (fractions, sums,
sub- and superscripts, ``\\text``, ``\\mathrm``, ``\\operatorname``, ``\\mathbb``, ``\\underbrace``, matrices,
big delimiters); ``\\arg``, which it lacks, is written as an operator name first. A formula it cannot read is
shown as its TeX source in ``<code>``.

The MathML is not safe by itself (``\\text{<b>}`` passes its text through, ``\\href`` makes a link): it is
sanitized with the rest of the page (:func:`autograder.safehtml.clean_html`).
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

#: Commands ``latex2mathml`` does not know, written as something it does.
REWRITES = [(re.compile(r"\\arg(?![A-Za-z])"), r"\\operatorname{arg}")]


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """The MathML of the formula ``tex`` (without its ``$`` delimiters); ``display``: a block formula."""
    source = tex.strip()
    for pattern, replacement in REWRITES:
        source = pattern.sub(replacement, source)
    try:
        return convert(source, display="block" if display else "inline")
    except Exception:  # any parse error: show the source rather than fail the page
        delimiter = "$$" if display else "$"
        return f"<code>{html.escape(delimiter + tex + delimiter)}</code>"
