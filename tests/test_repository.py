"""The repository itself: layout, README commands vs CI, environment files, notebooks, lint, offline code."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SKIP_PARTS = {".git", ".ipynb_checkpoints", "submitted", "autograded", "feedback", "build", "dist"}


def project_files() -> list[Path]:
    """The project's own files: what git tracks, and new files it does not ignore; never a virtual environment.

    A user's ``.venv/``, ``venv/``, a build folder or any other ignored folder holds other projects' files
    (nbgrader's test notebooks keep outputs; libraries mention downloads), which are not the project's to check.
    Without git (an unpacked archive), every file below the root except ignored-looking folders.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True
    )
    if listed.returncode == 0:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        paths = [ROOT / n for n in names]
    else:
        paths = [p for p in ROOT.rglob("*") if not SKIP_PARTS & set(p.relative_to(ROOT).parts)]
    venvs = [p.parent for p in paths if p.name == "pyvenv.cfg"]
    return sorted(p for p in paths if p.is_file() and not any(v == p.parent or v in p.parents for v in venvs))


def _readme_commands() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (set up|test|main job) \| `([^`]+)` \|$", text, flags=re.M)
    return dict(rows)


def test_layout():
    for name in ["course", "assignments", "solutions", "autograder", "tests", "cnnlab", "bench"]:
        assert (ROOT / name).is_dir(), f"missing folder {name}/"
    for name in ["environment.yml", "pyproject.toml", "nbgrader_config.py", "README.md", ".ci/run", "setup.sh"]:
        assert (ROOT / name).is_file(), f"missing file {name}"


def test_readme_gives_three_commands_and_ci_runs_the_first_two_verbatim():
    commands = _readme_commands()
    assert set(commands) == {"set up", "test", "main job"}, commands
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    for key in ("set up", "test"):
        assert any(line == commands[key] or line.startswith(commands[key] + " ||") for line in ci_lines), (
            f".ci/run does not run the README's {key} command {commands[key]!r} verbatim"
        )


def _anchors(markdown: str) -> set[str]:
    """The anchors GitHub and MyST give a Markdown file's headings: lower case, punctuation dropped, spaces to -."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.M):
        text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
        out.add(text.replace(" ", "-"))
    return out


def _links(markdown: str) -> list[str]:
    """The targets of a Markdown file's inline links and images, code blocks left out."""
    prose = re.sub(r"```.*?```", "", markdown, flags=re.S)
    prose = re.sub(r"`[^`]*`", "", prose)
    return re.findall(r"\]\(([^)\s]+)\)", prose)


@pytest.mark.parametrize("document", ["README.md", *sorted(p.name for p in (ROOT / "course/guide").glob("*.md"))])
def test_every_link_of_the_readme_and_the_guides_resolves(document):
    """Each relative link names a file of the repository and, after ``#``, a heading of that file; no link
    leaves the repository (the README and the guides are read offline too)."""
    path = ROOT / document if document == "README.md" else ROOT / "course/guide" / document
    text = path.read_text()
    links = _links(text)
    if document == "README.md":
        assert len(links) >= 5, "the README links its guides"
    for link in links:
        assert not re.match(r"[a-z]+:", link), f"{document} links outside the repository: {link}"
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.is_file(), f"{document} links {link}, but {file.relative_to(ROOT)} does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file.read_text()), f"{document} links {link}: no such heading in {file.name}"


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"the README has {len(lines)} lines; long explanations belong in course/guide/"


def test_ci_treats_no_tests_as_failure():
    text = (ROOT / ".ci/run").read_text()
    assert '"$status" -eq 5' in text and "set -uo pipefail" in text


def _normalise(req: str) -> tuple[str, str]:
    r = Requirement(req)
    return r.name.lower().replace("_", "-"), str(r.specifier)


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(map(_normalise, pip_section)) == sorted(map(_normalise, declared))
    assert "python=3.11" in env["dependencies"]


def test_torch_pins_admit_the_tested_releases():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = {Requirement(d).name: Requirement(d) for d in project["dependencies"]}
    assert reqs["torch"].specifier.contains("2.14.1") and reqs["torchvision"].specifier.contains("0.29.1")
    assert reqs["nbgrader"].specifier.contains("0.9.6") and not reqs["nbgrader"].specifier.contains("0.10.0")
    assert reqs["jupyterlab"].specifier.contains("4.2.0") and not reqs["jupyterlab"].specifier.contains("5.0.0")


def test_nbgrader_config_directories():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "assignments"
    assert Path(config.CourseDirectory.root) == ROOT


def _notebooks() -> list[Path]:
    return [p for p in project_files() if p.suffix == ".ipynb" and ".ipynb_checkpoints" not in p.parts]


def test_there_are_notebooks():
    assert any(p.parent.name == "course" for p in _notebooks())


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_valid_and_outputs_cleared(path):
    try:
        nb = nbformat.read(path, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as err:
        pytest.fail(f"{path} is not a valid notebook: {err}")
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path}: code cells {dirty} keep outputs or execution counts; clear them before committing"


def test_ruff_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


DOWNLOAD_PATTERNS = [
    r"download\s*=\s*True",
    r"pretrained\s*=\s*True",
    r"\burlopen\(",
    r"\burlretrieve\(",
    r"requests\.(get|post)\(",
    r"torch\.hub\.load",
    r"load_state_dict_from_url",
    r"\bwget\b",
    r"curl\s+-",
]


def _code_without_strings(source: str) -> str:
    """Python code with string literals and comments removed (messages may tell users how to download)."""
    kept = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in (tokenize.STRING, tokenize.COMMENT):
                kept.append(tok.string)
    except (tokenize.TokenError, SyntaxError):
        return source
    return " ".join(kept)


def _code_of(path: Path) -> str:
    text = path.read_text(errors="replace")
    if path.suffix == ".ipynb":
        nb = nbformat.reads(text, as_version=4)
        return "\n".join(_code_without_strings(c.source) for c in nb.cells if c.cell_type == "code")
    if path.suffix == ".py":
        return _code_without_strings(text)
    return text


def _source_files():
    for path in project_files():
        if path.suffix in {".py", ".ipynb", ".sh"} or path.name == "run":
            yield path


def test_nothing_downloads_at_run_time():
    offenders = []
    for path in _source_files():
        code = _code_of(path)
        offenders += [f"{path.relative_to(ROOT)}: {p}" for p in DOWNLOAD_PATTERNS if re.search(p, code)]
    assert not offenders, offenders


def test_download_scan_sees_code_but_not_messages():
    assert re.search(DOWNLOAD_PATTERNS[0], _code_without_strings("ds = Pets(root, download=True)\n"))
    assert not re.search(DOWNLOAD_PATTERNS[0], _code_without_strings("msg = 'use download=True'\n"))
