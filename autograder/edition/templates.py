"""The files the student edition has of its own: its README, pyproject.toml, environment.yml, the ``autograder``
package's ``__init__`` (checks only) and the JupyterLab settings that hide the instructor's tools.

Versions come from this repository's pyproject.toml (the one source of truth); the edition takes the packages
that lectures, assignments and visible tests import, JupyterLab and nbgrader (the assignment list and Validate).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    from pip._vendor import tomli as tomllib

NAME = "cnn-course-student"

#: The packages the edition depends on (distribution names as pyproject.toml spells them).
PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "matplotlib",
    "scikit-image",
    "pillow",
    "tqdm",
    "ipywidgets",
    "torchmetrics",
    "jupyterlab",
    "nbgrader",
    "nbformat",
    "ipykernel",
)

#: JupyterLab plugins of nbgrader a student has no use for: the instructor's tools.
DISABLED_LAB_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
)
#: nbgrader's server extensions behind them.
DISABLED_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")

#: Where the JupyterLab settings go, relative to the environment's prefix (``pip install`` puts them there).
PAGE_CONFIG = "etc/jupyter/labconfig/page_config.json"
# Loaded after nbgrader's own nbgrader.json (files of this folder load in name order), so it wins.
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/student-edition.json"


def requirements(pyproject: Path) -> list[str]:
    """The edition's dependencies with the version ranges ``pyproject`` gives them."""
    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    by_name = {re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower(): spec for spec in declared}
    missing = [p for p in PACKAGES if p not in by_name]
    if missing:
        raise ValueError(f"{pyproject} does not declare {', '.join(missing)}, which the student edition needs")
    return [by_name[p] for p in PACKAGES]


def pyproject_toml(specs: list[str], python: str) -> str:
    deps = "".join(f'    "{s}",\n' for s in specs)
    data = "\n".join(f'"{Path(p).parent.as_posix()}" = ["{p}"]' for p in (PAGE_CONFIG, SERVER_CONFIG))
    return f"""[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{NAME}"
version = "0.1.0"
description = "Convolutional Networks and Image Segmentation: lectures and assignments (student edition)"
readme = "README.md"
requires-python = "{python}"
dependencies = [
{deps}]

[tool.setuptools.packages.find]
include = ["cnnlab*", "autograder*"]

[tool.setuptools.package-data]
"autograder.checks" = ["expected/*.pt", "layers/*.npz"]
cnnlab = ["recorded/*.pt"]

# JupyterLab shows students the assignment list and Validate, not Formgrader or Create Assignment.
[tool.setuptools.data-files]
{data}
"""


def environment_yml(specs: list[str]) -> str:
    deps = "".join(f"      - {s}\n" for s in specs)
    return f"""# The course's environment for conda users: `conda env create -f environment.yml`, then
# `conda activate {NAME}` and `pip install . --no-deps`.
name: {NAME}
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
{deps}"""


README = """# Convolutional Networks and Image Segmentation

Lectures and assignments of the course, as Jupyter notebooks. Everything runs offline on a laptop CPU and uses a
GPU when there is one.

## Set up, then open JupyterLab

Python 3.10 or newer. From this folder (on a Debian or Ubuntu system Python, first create and activate a virtual
environment: `python3 -m venv .venv && . .venv/bin/activate`):

| step | command |
| --- | --- |
| set up | `python3 -m pip install .` |
| open JupyterLab | `jupyter lab` |

<!-- commands: the two lines above are what the course's tests run on a fresh copy of this folder -->

Conda users: `conda env create -f environment.yml`, `conda activate {name}`, then `pip install . --no-deps`.

## What is here

- `course/`: the lecture notebooks, `00_welcome.ipynb` first. `COURSE_DEVICE=cpu|cuda|mps` chooses the device
  (default: CUDA, else MPS, else CPU) and `COURSE_FAST=1` shortens the training in lectures.
- `assignments/`: the notebooks you solve. Each task has a visible test cell right below it: run it, and it
  either passes silently or says what is wrong and what the likely mistake is. Hidden tests with other shapes,
  settings and data run when your notebook is graded; in this copy a hidden test says so and nothing more.
- `cnnlab/`: the course library the notebooks import; `autograder/checks/`: what the visible tests call.

Each assignment says which library functions its tasks may call; a task that calls a forbidden one (for example
a library convolution in Assignment 1, or torchmetrics and `cnnlab.metrics` in the metrics of Assignment 2)
earns no points, and its test says so. JupyterLab's Assignments tab lists the assignments your course released,
and Validate runs a notebook's tests before you submit it.
"""


def readme() -> str:
    return README.format(name=NAME)


AUTOGRADER_INIT = '''"""autograder (student edition): the checks the visible test cells call (``autograder.checks``).

Grading itself happens on the course's side; the hidden tests are not part of this copy.
"""

__version__ = "0.1.0"
'''


def page_config() -> str:
    return json.dumps({"disabledExtensions": {p: True for p in DISABLED_LAB_PLUGINS}}, indent=2) + "\n"


def server_config() -> str:
    extensions = {name: False for name in DISABLED_SERVER_EXTENSIONS}
    return json.dumps({"ServerApp": {"jpserver_extensions": extensions}}, indent=2) + "\n"


def write(out: Path, pyproject: Path) -> list[str]:
    """Write the edition's own files into ``out``; return their paths in the edition."""
    project = tomllib.loads(pyproject.read_text())["project"]
    specs = requirements(pyproject)
    files = {
        "README.md": readme(),
        "pyproject.toml": pyproject_toml(specs, project.get("requires-python", ">=3.10")),
        "environment.yml": environment_yml(specs),
        "autograder/__init__.py": AUTOGRADER_INIT,
        PAGE_CONFIG: page_config(),
        SERVER_CONFIG: server_config(),
        ".gitignore": ".venv/\n__pycache__/\n*.egg-info/\nbuild/\n.ipynb_checkpoints/\n",
    }
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
