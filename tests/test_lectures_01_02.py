"""Lectures 01 (convolution), 02 (architectures) and 02b (augmentation): required sections, no assignment solutions,
no downloads.

Running the notebooks is tests/test_course_notebooks.py's job; these tests only read them.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURE_01 = ROOT / "course" / "01_convolution.ipynb"
LECTURE_02 = ROOT / "course" / "02_architectures.ipynb"
LECTURE_02B = ROOT / "course" / "02b_augmentation.ipynb"

REQUIRED_SECTIONS = {
    LECTURE_01: [
        "ImageNet",
        "formula",
        "matrix multiplication",
        "Padding, stride and dilation",
        "template",
        "Sobel",
        "sharpen",
        "Pooling",
    ],
    LECTURE_02: [
        "simple CNN",
        "Receptive field",
        "AlexNet",
        "VGG",
        "Inception",
        "ResNet",
        "DenseNet",
        "Comparison",
        "model zoo",
    ],
    LECTURE_02B: [
        "standard methods",
        "PCA colour jitter",
        "Faces",
        "Background removal and replacement",
        "Documents",
        "Does augmentation help",
        "Augmentation for segmentation",
    ],
}

#: Functions that Assignment 1 asks students to write: the lectures must not hand them out.
FORBIDDEN_DEFINITIONS = [
    "conv2d",
    "conv2d_naive",
    "conv2d_backward",
    "max_pool2d",
    "avg_pool2d",
    "conv_matrix",
    "conv_transpose2d",
    "receptive_field",
    "conv_output_size",
    "im2col",
]

#: Classes and functions that Assignment 3 asks students to write (blocks and hand-written augmentations).
FORBIDDEN_ASSIGNMENT_3 = [
    "BasicBlock",
    "Bottleneck",
    "Inception",
    "DenseBlock",
    "Transition",
    "inception_params",
    "make_resnet",
    "hflip",
    "rotate",
    "resized_crop",
    "cutout",
    "adjust_brightness",
    "add_noise",
    "random_augment",
    "augment_batch",
]

DOWNLOADS = [r"download\s*=\s*True", r"pretrained\s*=\s*True"]

NOTEBOOKS = [LECTURE_01, LECTURE_02, LECTURE_02B]
#: The assignment each lecture's closing text points to.
ASSIGNMENT_POINTER = {
    LECTURE_01: "assignments/01_layers",
    LECTURE_02: "assignments/01_layers",
    LECTURE_02B: "assignments/03_architectures",
}


def _read(path: Path) -> nbformat.NotebookNode:
    assert path.is_file(), f"missing lecture notebook {path.relative_to(ROOT)}"
    return nbformat.read(path, as_version=4)


def _headings(nb: nbformat.NotebookNode) -> list[str]:
    return [
        line.lstrip("#").strip()
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if re.match(r"^#{2,}\s", line)
    ]


def _code(nb: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_required_sections_are_headings(path):
    headings = _headings(_read(path))
    missing = [key for key in REQUIRED_SECTIONS[path] if not any(key.lower() in h.lower() for h in headings)]
    assert not missing, f"{path.name}: no '##' heading mentions {missing}; headings are {headings}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_assignment_solutions(path):
    code = _code(_read(path))
    found = [name for name in FORBIDDEN_DEFINITIONS if re.search(rf"^\s*def\s+{name}\s*\(", code, flags=re.M)]
    assert not found, f"{path.name} defines {found}, which Assignment 1 asks students to write"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_assignment_3_solutions(path):
    code = _code(_read(path))
    found = [name for name in FORBIDDEN_ASSIGNMENT_3 if re.search(rf"^\s*(def|class)\s+{name}\b", code, flags=re.M)]
    assert not found, f"{path.name} defines {found}, which Assignment 3 asks students to write"


def test_degradation_block_is_not_assignment_3s_basic_block():
    nb = _read(LECTURE_02)
    cell = next(c.source for c in nb.cells if c.cell_type == "code" and "def deep_net" in c.source)
    deep_net = cell[cell.index("def deep_net") :].split("\n\n\n")[0]
    assert "Residual(two_convs(width))" in deep_net and "BasicBlock" not in deep_net
    residual = cell[cell.index("class Residual") :].split("\n\n\n")[0]
    assert "stride" not in residual and "downsample" not in residual and "shortcut" not in residual
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "not Assignment 3's `BasicBlock`" in markdown, "the lecture should say why it is not the assignment's"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_downloads(path):
    code = _code(_read(path))
    found = [pattern for pattern in DOWNLOADS if re.search(pattern, code)]
    assert not found, f"{path.name} downloads at run time ({found}); the course must work offline"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lecture_opens_with_setup_and_ends_with_assignment_pointer(path):
    nb = _read(path)
    first_code = next(cell.source for cell in nb.cells if cell.cell_type == "code")
    for needed in ("seed_everything(0)", "get_device()", "describe(device)"):
        assert needed in first_code, f"{path.name}: the first code cell should call {needed}"
    markdown = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    pointer = ASSIGNMENT_POINTER[path]
    assert pointer in markdown, f"{path.name} should point to its assignment ({pointer})"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def test_forbidden_definition_scan_sees_definitions():
    fake = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def conv2d_naive(x, w):\n    pass\n")])
    code = _code(fake)
    assert re.search(r"^\s*def\s+conv2d_naive\s*\(", code, flags=re.M)
    assert not re.search(r"^\s*def\s+conv2d\s*\(", code, flags=re.M)


def test_every_lecture_is_listed():
    """The welcome notebook names every lecture, and the site's toctree glob picks each of them up."""
    lectures = sorted(p.stem for p in (ROOT / "course").glob("[0-9]*.ipynb") if not p.stem.startswith("00_"))
    assert "02b_augmentation" in lectures
    welcome_nb = _read(ROOT / "course" / "00_welcome.ipynb")
    welcome = "\n".join(c.source for c in welcome_nb.cells if c.cell_type == "markdown")
    missing = [name for name in lectures if f"`{name}`" not in welcome]
    assert not missing, f"00_welcome.ipynb does not list {missing}"
    count = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][len(lectures)]
    assert f"{count} lecture notebooks" in welcome, f"00_welcome.ipynb should speak of {count} lecture notebooks"
    index = (ROOT / "course" / "index.md").read_text()
    assert "\n[0-9]*\n" in index, "course/index.md's toctree should glob every numbered lecture"
