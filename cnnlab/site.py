"""Build the course website: the lecture notebooks of ``course/``, executed, as a static HTML site.

The site is a Sphinx project (``course/conf.py`` and ``course/index.md``) whose pages are the notebooks,
read and executed by MyST-NB and laid out by the Sphinx Book Theme. Nothing is downloaded at build time and
the pages render offline (MathJax is copied into the site). Usage::

    python3 -m cnnlab.site build/site           # execute every notebook in full mode (tens of minutes on a CPU)
    python3 -m cnnlab.site build/site --fast    # COURSE_FAST=1: short training runs, a few minutes
    python3 -m cnnlab.site OUT --no-execute --source DIR   # use the outputs already stored in DIR's notebooks

Open ``build/site/index.html`` in a browser. ``--no-execute`` serves tests and CI, which execute the
notebooks once themselves.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .settings import FAST_ENV_VAR

COURSE_DIR = Path(__file__).resolve().parents[1] / "course"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


class SiteBuildError(RuntimeError):
    """Raised when Sphinx reports a failed build (for example a notebook that raised while executing)."""


def _check_source(source: Path) -> None:
    missing = [name for name in ("conf.py", "index.md") if not (source / name).is_file()]
    if missing:
        raise SiteBuildError(
            f"{source} is not a course folder: it lacks {', '.join(missing)} "
            "(the site's configuration lives in course/)"
        )
    if not any(source.glob("*.ipynb")):
        raise SiteBuildError(f"{source} holds no notebooks (*.ipynb) to build a site from")


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore the previous values."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _prepare_out_dir(out: Path) -> None:
    """Create ``out``, or empty it if it holds an earlier site; refuse a non-empty folder that is not a site."""
    if out.is_file():
        raise SiteBuildError(f"{out} is a file; give a folder for the site")
    if out.is_dir() and any(out.iterdir()):
        if not (out / ".buildinfo").is_file():
            raise SiteBuildError(f"{out} is not empty and holds no earlier site (no .buildinfo); choose another folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def build_site(
    out_dir: str | os.PathLike,
    *,
    source: str | os.PathLike = COURSE_DIR,
    fast: bool = False,
    execute: bool = True,
    quiet: bool = False,
) -> Path:
    """Build the HTML site of the notebooks in ``source`` into ``out_dir`` and return the path of its index page.

    Args:
        out_dir: folder for the HTML: created, or replaced if it holds an earlier build; any other non-empty
            folder is refused.
        source: folder with ``conf.py``, ``index.md`` and the notebooks (default: the repository's ``course/``).
        fast: set ``COURSE_FAST=1`` for the executed notebooks (short training); otherwise ``COURSE_FAST=0``.
        execute: run every notebook top to bottom (MyST-NB's ``force`` mode); if False, keep the outputs stored
            in the notebooks (``off`` mode), which is how tests build from notebooks they executed themselves.
        quiet: print only warnings and errors.

    Raises:
        SiteBuildError: ``source`` is not a course folder, or Sphinx reports a failed build.
    """
    try:
        from sphinx.application import Sphinx
    except ImportError as err:  # the site's dependencies are an extra of the package
        raise SiteBuildError(
            "building the site needs Sphinx, MyST-NB and the Sphinx Book Theme: run `bash setup.sh` "
            '(or `pip install -e ".[site]"`)'
        ) from err
    source = Path(source).resolve()
    out = Path(out_dir).resolve()
    _check_source(source)
    _prepare_out_dir(out)
    warnings = io.StringIO()
    # The kernels MyST-NB starts inherit the environment: the fast switch, and the inline backend so that figures
    # become outputs even where MPLBACKEND=Agg is exported (as CI does). Sphinx writes doctrees, and MyST-NB its
    # executed notebooks, next to the HTML folder: all of that goes to a scratch folder, only the HTML to out_dir.
    env = {FAST_ENV_VAR: "1" if fast else "0", "MPLBACKEND": INLINE_BACKEND}
    with _environment(env), tempfile.TemporaryDirectory(prefix="cnnlab-site-") as scratch:
        html = Path(scratch) / "html"
        try:
            app = Sphinx(
                srcdir=str(source),
                confdir=str(source),
                outdir=str(html),
                doctreedir=str(Path(scratch) / "doctrees"),
                buildername="html",
                confoverrides={"nb_execution_mode": "force" if execute else "off"},
                status=None if quiet else sys.stdout,
                warning=warnings,
                freshenv=True,
            )
            app.build(force_all=True)
        except Exception as err:  # a notebook that raised while executing, a broken page, a bad conf.py, ...
            raise SiteBuildError(f"Sphinx could not build the site: {err}\n{warnings.getvalue()}") from err
        if app.statuscode != 0:
            raise SiteBuildError(f"Sphinx could not build the site (status {app.statuscode}):\n{warnings.getvalue()}")
        shutil.copytree(html, out, dirs_exist_ok=True)
    if warnings.getvalue():
        print(warnings.getvalue(), file=sys.stderr, end="")
    index = out / "index.html"
    if not index.is_file():
        raise SiteBuildError(f"the build finished but wrote no {index}")
    return index


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python3 -m cnnlab.site OUT_DIR [--fast] [--no-execute] [--source DIR] [--quiet]``."""
    parser = argparse.ArgumentParser(prog="python3 -m cnnlab.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder for the HTML site, e.g. build/site")
    parser.add_argument("--fast", action="store_true", help="execute the notebooks with COURSE_FAST=1")
    parser.add_argument(
        "--no-execute", dest="execute", action="store_false", help="keep the outputs stored in the notebooks"
    )
    parser.add_argument("--source", default=str(COURSE_DIR), help="course folder (default: the repository's course/)")
    parser.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        index = build_site(args.out_dir, source=args.source, fast=args.fast, execute=args.execute, quiet=args.quiet)
    except SiteBuildError as err:
        print(f"site: {err}", file=sys.stderr)
        return 1
    print(f"site: built {index} in {time.perf_counter() - start:.0f} s; open it in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
