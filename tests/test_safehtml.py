"""``autograder.safehtml.clean_html``: what a student's HTML keeps and loses (the browser tests are in
tests/test_feedback_safety.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from autograder.safehtml import clean_html

PNG = "data:image/png;base64,iVBORw0KGgo="


def _elements(html: str) -> list[tuple[str, dict[str, str]]]:
    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

        handle_startendtag = handle_starttag

    Collect().feed(html)
    return found


def _assert_inert(html: str) -> None:
    for tag, attrs in _elements(html):
        assert tag not in {"script", "style", "iframe", "object", "embed", "form", "base", "meta", "link", "svg"}, html
        for name, value in attrs.items():
            assert not name.startswith("on"), html
            assert name not in ("id", "name", "srcdoc", "action", "formaction"), html
            assert "href" not in name or name == "href", html
            if name in ("href", "src"):
                assert re.match(r"(https?://|mailto:|#|data:image/(png|jpeg|gif);base64,)", value or ""), html


@pytest.mark.parametrize(
    "dirty",
    [
        '<img src=x onerror="alert(1)">',
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href=" javascript:alert(1)">x</a>',
        '<a href="java&#x09;script:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
        '<img src="https://evil.example/track.png">',
        '<svg onload="alert(1)"><circle r="4"/></svg>',
        "<svg><script>alert(1)</script></svg>",
        '<iframe srcdoc="<script>parent.alert(1)</script>"></iframe>',
        '<iframe src="javascript:alert(1)"></iframe>',
        '<object data="x.swf"></object><embed src="x.swf"><applet code="x"></applet>',
        '<form action="https://evil.example"><input name="x"><button formaction="javascript:x()">b</button></form>',
        '<base href="https://evil.example/">',
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
        '<details open ontoggle="alert(1)"><summary>s</summary></details>',
        '<p style="background:url(javascript:alert(1))">x</p>',
        '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)">',
        '<math href="javascript:alert(1)"><mi xlink:href="javascript:alert(1)">x</mi></math>',
        '<math><annotation-xml encoding="text/html"><img src=x onerror="alert(1)"></annotation-xml></math>',
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
        '<input id="test_add" name="test_add"><span id="score">x</span><a name="top">t</a>',
        "<template><img src=x onerror=alert(1)></template><textarea><img src=x></textarea>",
        "<!--<img src=x onerror=alert(1)>-->",
    ],
)
def test_nothing_active_survives(dirty):
    _assert_inert(clean_html(dirty))


def test_scripts_and_styles_leave_no_text_behind():
    cleaned = clean_html("<script>steal()</script><style>p { color: red }</style><p>kept</p>")
    assert cleaned == "<p>kept</p>"


def test_markdown_stays_readable():
    html = (
        "<h1>Title</h1><h2>Section</h2><p>Some <em>emphasis</em>, <strong>strong</strong>, <code>code</code>, "
        'x<sup>2</sup> and x<sub>i</sub>.</p><ul><li>one</li></ul><ol start="3"><li>three</li></ol>'
        "<blockquote><p>quote</p></blockquote><hr><br>"
        '<table><thead><tr><th style="text-align:right">a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>'
        '<pre><code>x = 1</code></pre><div class="highlight"><pre><span class="n">x</span></pre></div>'
    )
    assert clean_html(html) == html.replace('style="text-align:right"', 'style="text-align:right;"')


def test_links_and_embedded_images_are_kept():
    html = (
        '<a href="https://example.org/a?b=1&amp;c=2">web</a> <a href="mailto:ta@example.org">mail</a> '
        f'<a href="#section">here</a> <img src="{PNG}" alt="plot" width="20">'
    )
    assert clean_html(html) == html


def test_class_names_other_than_the_highlighters_are_dropped():
    assert clean_html('<span class="score tabbable">x</span>') == "<span>x</span>"
    assert clean_html('<span class="k">def</span>') == '<span class="k">def</span>'


def test_mathml_is_kept_without_links():
    math = (
        '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block"><mrow><mfrac><mi>a</mi><mi>b</mi>'
        '</mfrac><mo stretchy="false">+</mo><msup><mi>x</mi><mn>2</mn></msup></mrow></math>'
    )
    assert clean_html(math) == math
    assert "href" not in clean_html('<math><mrow href="https://example.org"><mi>x</mi></mrow></math>')


def test_bytes_are_decoded():
    assert clean_html(b"<b>svg</b>") == "<b>svg</b>"
