"""The student edition (``autograder student-edition``): built once for the module, it holds no answer (the leak
scan, and files planted to prove the scan finds each kind of leak), it refuses what it must refuse, and a fresh
copy of it, installed into a new virtual environment with the README's set-up command (offline), runs every
lecture in fast mode and every assignment's visible tests — passing with the instructor's answers pasted in,
failing with messages as released — and opens JupyterLab without Formgrader or Create Assignment.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import site
import socket
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.edition import EditionRefused, build, leaks
from tests.support.nbcourse import solution_cells

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "cnn-course"
    build(ROOT, out, zip_file=out.parent / "cnn-course.zip", echo=lambda _: None)
    return out


def test_the_edition_holds_the_course_and_nothing_of_the_grader(edition):
    top = {p.name for p in edition.iterdir()}
    assert top == {"README.md", "pyproject.toml", "environment.yml", ".gitignore", "course", "assignments", "cnnlab",
                   "autograder", "etc"}  # fmt: skip
    assert {p.name for p in (edition / "autograder").iterdir()} == {"__init__.py", "checks", "failure.py"}
    assert not (edition / "autograder/checks/hidden").exists()
    assert sorted(p.name for p in (edition / "assignments").iterdir()) == ASSIGNMENTS
    assert sorted(p.name for p in (edition / "course").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "course").glob("*.ipynb")
    )
    assert sorted(p.name for p in (edition / "autograder/checks/expected").iterdir()) == [
        "architectures.pt", "unet.pt", "visualization.pt"]  # fmt: skip
    stand_in = (edition / "cnnlab/feature_visualization.py").read_text()
    assert "def _replay" in stand_in and "\nREPLAYED = True\n" in stand_in and "def REPLAYED" not in stand_in
    # Assignment 1's visible table of PyTorch's answers comes along; the hidden one and the tool that records them not
    from autograder.checks.layers import torch_values

    shipped = torch_values.read(edition / "autograder/checks/layers/torch_values.npz")
    assert shipped.keys() == torch_values.read(torch_values.VISIBLE_TABLE).keys()
    assert not list(edition.rglob("layers_torch_values.npz"))
    assert not (edition / "autograder/checks/layers/record_tables.py").exists()


def test_the_leak_scan_finds_nothing_in_the_edition(edition):
    assert leaks.scan(edition, leaks.secrets(ROOT)) == []
    text = "\n".join(p.read_text(errors="replace") for p in edition.rglob("*") if p.is_file())
    for seed in ("424242", "271828", "314159"):  # the hidden result splits' and Assignment 4's hidden seeds
        assert seed not in text


def test_the_leak_scan_finds_each_kind_of_leak(edition, tmp_path):
    """Planted in a copy of the edition: a solution region, a hidden test line, a hidden seed, a hidden case,
    the real cnnlab.feature_visualization, the grader-only package."""
    copy = tmp_path / "planted"
    shutil.copytree(edition, copy)
    solution = max(solution_cells("01_layers", "01_layers").values(), key=len)  # a long one: the scan wants 3 lines
    (copy / "cnnlab/solution.py").write_text(solution)
    (copy / "cnnlab/hidden_test.py").write_text("checks.check_result(model, min_miou=0.25, seed=424242)\n")
    (copy / "cnnlab/cases.py").write_text("CASES = [\n    BlockCase(6, 12, 2, 10, 7),\n]\n")
    shutil.copyfile(ROOT / "cnnlab/feature_visualization.py", copy / "cnnlab/feature_visualization.py")
    shutil.copytree(ROOT / "autograder/checks/hidden", copy / "autograder/checks/hidden")
    kinds = {(leak.path, leak.kind) for leak in leaks.scan(copy, leaks.secrets(ROOT))}
    assert ("cnnlab/solution.py", "solution code") in kinds
    assert ("cnnlab/hidden_test.py", "hidden test or case") in kinds
    assert ("cnnlab/hidden_test.py", "hidden seed") in kinds
    assert ("cnnlab/cases.py", "hidden test or case") in kinds
    assert ("cnnlab/feature_visualization.py", "a reference function's code") in kinds
    assert ("autograder/checks/hidden/layers.py", "grader-only module") in kinds


def test_the_zip_holds_the_same_files_under_one_folder(edition):
    with zipfile.ZipFile(edition.parent / "cnn-course.zip") as archive:
        names = {n for n in archive.namelist() if not n.endswith("/")}
    files = {f"cnn-course/{p.relative_to(edition).as_posix()}" for p in edition.rglob("*") if p.is_file()}
    assert names == files


def test_a_non_empty_out_dir_is_refused_without_force(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["--course", str(ROOT), "student-edition", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and "--force" in err
    assert (out / "notes.txt").read_text() == "mine"


def test_a_stale_release_is_refused_and_named(tmp_path):
    course = tmp_path / "course"
    for name in ("solutions", "assignments"):
        shutil.copytree(ROOT / name, course / name)
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    release = course / "assignments/03_architectures/03_architectures.ipynb"
    release.write_text(release.read_text().replace("BasicBlock", "BasicBlok", 1))
    with pytest.raises(EditionRefused, match=r"stale releases[\s\S]*03_architectures") as refused:
        build(course, tmp_path / "out", echo=lambda _: None)
    assert "01_layers" not in str(refused.value)
    assert not (tmp_path / "out").exists()
    # --force gets past a non-empty folder, yet a refused build leaves what the folder held as it was
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "README.md").write_text("last term's edition")
    with pytest.raises(EditionRefused, match="stale releases"):
        build(course, earlier, force=True, echo=lambda _: None)
    assert (earlier / "README.md").read_text() == "last term's edition"


def _readme_commands(readme: str) -> dict[str, str]:
    return dict(re.findall(r"^\| (set up|open JupyterLab) \| `([^`]+)` \|$", readme, flags=re.M))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, str]:
    """Status and body of a GET to the local server (``OSError`` while it is not listening yet)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip())


@pytest.fixture(scope="module")
def installed(edition, tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """A fresh copy of the edition (unpacked from its zip) installed with the README's set-up command into a new
    virtual environment: offline, over the packages already on this machine (but not this project's)."""
    root = tmp_path_factory.mktemp("student")
    with zipfile.ZipFile(edition.parent / "cnn-course.zip") as archive:
        archive.extractall(root)
    copy = root / "cnn-course"
    env_dir = root / ".venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # The machine's packages, seen as plain folders: their .pth files are not run, so this project's own editable
    # install (the instructor's autograder and cnnlab, with the hidden cases) cannot reach the environment.
    (_site_packages(python) / "host-packages.pth").write_text("".join(p + "\n" for p in site.getsitepackages()))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"
    # nbgrader's own Jupyter files (its server extensions, its JupyterLab extension), where pip would have put them
    # had it installed nbgrader into this environment: they sit in the prefix of the Python running the tests
    for folder in ("etc/jupyter/jupyter_server_config.d", "share/jupyter/labextensions/@jupyter"):
        for path in (Path(sys.prefix) / folder).glob("nbgrader*"):
            target = env_dir / folder / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if path.is_dir() else shutil.copyfile)(path, target)
    setup = _readme_commands((copy / "README.md").read_text())["set up"]
    assert setup == "python3 -m pip install ."
    # the same command, kept offline: the dependencies are on this machine already, and so is setuptools
    command = [str(python), *setup.split()[1:], "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    subprocess.run(command, cwd=copy, env=env, check=True, capture_output=True, text=True)
    return copy, python, env


def test_the_installed_edition_runs_lectures_and_visible_tests(installed, tmp_path):
    copy, python, env = installed
    answers = {a: solution_cells(a, a) for a in ASSIGNMENTS}
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    run = subprocess.run(
        [str(python), str(ROOT / "tests/support/edition_run.py"), str(copy), str(tmp_path / "answers.json"),
         str(tmp_path / "report.json")],
        # AUTOGRADER_GRADING: the assignments' training cells keep to the grading budget, and the comparisons that
        # only a student's own run makes (the bonus trainings) are skipped, as when the notebook is graded
        cwd=tmp_path, env={**env, "COURSE_FAST": "1", "MPLBACKEND": "Agg", "AUTOGRADER_GRADING": "1"},
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    imports = report["imports"]
    assert not imports["cnnlab"].startswith(str(ROOT)) and "site-packages" in imports["cnnlab"]
    assert "site-packages" in imports["autograder.checks"]
    assert imports["autograder.checks.hidden"].startswith("ModuleNotFoundError")
    assert imports["autograder.cli"].startswith("ModuleNotFoundError")
    assert report["lectures"] == {p.name: [] for p in sorted((ROOT / "course").glob("*.ipynb"))}
    for assignment, runs in report["assignments"].items():
        assert runs["answers"] and all(v == "passed" for v in runs["answers"].values()), (assignment, runs["answers"])
        assert runs["released"].keys() == runs["answers"].keys()
        for cell, outcome in runs["released"].items():
            assert outcome != "passed", (assignment, cell)
            # a check's failure or the blank function's own error, with a message after the error's name
            assert re.match(r"(CheckFailed|NotImplementedError|NameError|AssertionError): \S", outcome), outcome


def test_jupyterlab_opens_without_the_instructor_tools(installed):
    copy, python, env = installed
    port = _free_port()
    command = _readme_commands((copy / "README.md").read_text())["open JupyterLab"]
    assert command == "jupyter lab"
    # `jupyter lab` runs JupyterLab's main; this environment borrows its packages from the system and has no
    # console scripts of its own, so it is started as the module it runs. Headless here; as root when CI is root.
    headless = ["--no-browser", f"--port={port}", "--ServerApp.token=", "--ServerApp.password="]
    headless += ["--allow-root"] if os.geteuid() == 0 else []
    server = subprocess.Popen([str(python), "-m", "jupyterlab", *headless], cwd=copy, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        status, page = 0, ""
        for _ in range(120):
            try:
                status, page = _get(port, "/lab")
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, flags=re.S).group(1))  # fmt: skip
        disabled = config["disabledExtensions"]
        for plugin in ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"):
            assert plugin in disabled
        for plugin in ("@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment"):
            assert plugin not in disabled
        assert _get(port, "/formgrader")[0] == 404  # Formgrader's server extension is off
        assert _get(port, "/formgraders")[0] == 404  # and so is the instructors' course list
        assert _get(port, "/nbgrader_version?version=0")[0] != 404  # the assignment list is on
    finally:
        server.terminate()
        server.wait(timeout=30)
