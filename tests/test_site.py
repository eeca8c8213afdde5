"""The course website builds offline from the lecture notebooks and renders, with its figures, in a browser.

Executing every notebook again would double the time CI spends on them (tests/test_course_notebooks.py
already runs each one in fast mode), so this test executes only ``00_welcome`` itself, in fast mode, and
builds the site from a copy of ``course/`` with ``--no-execute``: the other lectures appear with their code
and text but without outputs. ``python3 -m cnnlab.site build/site`` is the command that executes them all.

The page is then opened in headless Chromium (Debian's ``chromium``, installed by setup.sh) with the flags
that keep it off the network, and its screenshot is kept in ``tests/artifacts/site_00_welcome.png``.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from cnnlab.site import INLINE_BACKEND, SiteBuildError, build_site, main
from tests.support.browser import dump_dom, file_url

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

pytest.importorskip("sphinx", reason="the site's dependencies (the [site] extra) are not installed; run setup.sh")
pytest.importorskip("myst_nb", reason="the site's dependencies (the [site] extra) are not installed; run setup.sh")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Build the site once for the module, from a copy of course/ whose 00_welcome is executed in fast mode."""
    source = tmp_path_factory.mktemp("site-source") / "course"
    shutil.copytree(COURSE, source, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_build", "__pycache__"))
    welcome = source / "00_welcome.ipynb"
    nb = nbformat.read(welcome, as_version=4)
    saved = {key: os.environ.get(key) for key in ("COURSE_FAST", "MPLBACKEND", "PYTHONPATH")}
    os.environ.update(
        COURSE_FAST="1",
        MPLBACKEND=INLINE_BACKEND,  # CI exports MPLBACKEND=Agg, which would leave the notebook without figures
        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(source)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    nbformat.write(nb, welcome)
    out = tmp_path_factory.mktemp("site")
    build_site(out, source=source, execute=False, quiet=True)
    return out


def test_index_links_every_lecture(site):
    index = (site / "index.html").read_text()
    for notebook in sorted(COURSE.glob("*.ipynb")):
        page = site / f"{notebook.stem}.html"
        assert page.is_file(), f"no page for {notebook.name}"
        assert f'href="{notebook.stem}.html"' in index, f"index.html does not link {notebook.stem}.html"


def test_welcome_page_has_its_figures(site):
    html = (site / "00_welcome.html").read_text()
    sources = re.findall(r'<img[^>]+src="([^"]+)"', html)
    pngs = [s for s in sources if s.endswith(".png") or s.startswith("data:image/png")]
    assert len(pngs) >= 2, f"expected the notebook's figures as <img> PNGs, found {sources}"
    for src in pngs:
        if src.startswith("data:"):
            continue
        image = (site / src).resolve()
        assert image.is_file(), f"{src} is referenced but missing"
        assert image.read_bytes()[:8] == PNG_SIGNATURE, f"{src} is not a PNG"
        assert image.stat().st_size > 2000, f"{src} is suspiciously small"


def test_pages_need_no_network(site):
    for page in site.glob("*.html"):
        html = page.read_text()
        remote = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?:)?//[^"]+"', html)
        assert not remote, f"{page.name} loads resources from the network: {remote}"
    mathjax = re.search(r'<script[^>]+src="(_static/mathjax/[^"]+)"', (site / "00_welcome.html").read_text())
    assert mathjax and (site / mathjax.group(1)).is_file(), "MathJax must be served from the site itself"


def test_welcome_page_renders_in_a_browser(site, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (setup.sh installs Debian's chromium); skipping the screenshot")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "site_00_welcome.png"
    shot.unlink(missing_ok=True)
    command = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        (site / "00_welcome.html").as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"Chromium wrote no screenshot (exit {result.returncode}):\n{result.stderr[-2000:]}"
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"the screenshot has only {len(colours)} colours: the page did not render"
    assert pixels.std() > 0.05


def test_build_refuses_a_folder_that_is_not_a_course(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(SiteBuildError, match="not a course folder"):
        build_site(tmp_path / "out", source=tmp_path / "src", execute=False)


def test_build_refuses_to_overwrite_a_folder_that_is_not_a_site(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SiteBuildError, match="not empty"):
        build_site(out, source=COURSE, execute=False)
    assert (out / "notes.txt").read_text() == "mine"


def test_command_line_reports_errors(tmp_path, capsys):
    assert main([str(tmp_path / "out"), "--source", str(tmp_path), "--no-execute"]) == 1
    assert "not a course folder" in capsys.readouterr().err


def _plain(html_text: str) -> str:
    """The text a reader sees in a heading: tags, the permalink sign and typographic quotes taken out."""
    text = html.unescape(re.sub(r"<[^>]+>", "", html_text)).replace("\u2019", "'").replace("#", "")
    return " ".join(text.split())


GUIDES = {
    "students": "Student guide",
    "tas": "TA guide",
    "instructors": "Instructor guide",
    "benchmarks": "Benchmarks",
}


def test_index_links_every_guide(site):
    index = (site / "index.html").read_text()
    assert {p.stem for p in (COURSE / "guide").glob("*.md")} == set(GUIDES)
    for name in GUIDES:
        assert (site / "guide" / f"{name}.html").is_file(), f"no page for guide/{name}.md"
        assert f'href="guide/{name}.html"' in index, f"index.html does not link guide/{name}.html"


@pytest.mark.parametrize("name", sorted(GUIDES))
def test_guide_page_renders_in_a_browser_with_its_sections(site, name):
    """Chromium opens each guide offline: the title and every section of its Markdown source are on the page,
    and every link to another page of the site reaches a page that exists."""
    page = site / "guide" / f"{name}.html"
    dom = dump_dom(file_url(page), budget_ms=2000)
    headings = [_plain(h) for h in re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", dom, flags=re.S)]
    assert headings and headings[0] == GUIDES[name], f"the page's title is not {GUIDES[name]!r}: {headings[:1]}"
    source = (COURSE / "guide" / f"{name}.md").read_text()
    for heading in re.findall(r"^##+ (.+)$", source, flags=re.M):
        assert _plain(heading.replace("`", "")) in headings, f"section {heading!r} is missing from {page.name}"
    for href in re.findall(r'href="([^"#:]+\.html)(?:#[^"]*)?"', dom):
        assert (page.parent / href).resolve().is_file(), f"{page.name} links {href}, which the site does not have"
