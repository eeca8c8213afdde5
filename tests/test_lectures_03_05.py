"""Static checks of lectures 03-05: their sections, and that they give away no solution of Assignment 2.

Running the notebooks is tests/test_course_notebooks.py's job (every notebook in course/, in fast mode).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

COURSE = Path(__file__).resolve().parents[1] / "course"

SECTION_KEYWORDS = {
    "03_visualization.ipynb": [
        "First-layer filters",
        "Filter sensitivity",
        "maximise a class",
        "DeepDream",
        "Saliency",
        "photograph",
    ],
    "04_segmentation.ipynb": [
        "semantic",
        "three problems",
        "Upsampling",
        "Transposed convolution",
        "encoder–decoder",
        "U-Net",
        "Dilated",
        "PSPNet",
        "LinkNet",
        "Metrics",
    ],
    "05_autoencoders.ipynb": ["autoencoder", "bottleneck", "Denoising", "segmentation"],
}
NOTEBOOKS = sorted(SECTION_KEYWORDS)

# Assignment 2 asks students to write these; the lectures must not hand them over as reusable code.
FORBIDDEN_DEFINITIONS = {
    "class": re.compile(r"^unet$", re.IGNORECASE),
    "def": re.compile(r"^(iou|mean_iou|miou|iou_score|dice|dice_score|dice_coefficient|soft_dice(_loss)?)$"),
}
DOWNLOADS = [r"download\s*=\s*True", r"pretrained\s*=\s*True"]


def _notebook(name: str) -> nbformat.NotebookNode:
    path = COURSE / name
    assert path.is_file(), f"course/{name} is missing"
    return nbformat.read(path, as_version=4)


def _code_cells(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _headings(nb, level: int) -> list[str]:
    prefix = "#" * level + " "
    return [
        line[len(prefix) :].strip()
        for c in nb.cells
        if c.cell_type == "markdown"
        for line in c.source.splitlines()
        if line.startswith(prefix)
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_sections_cover_the_topics(name):
    sections = _headings(_notebook(name), 2)
    for keyword in SECTION_KEYWORDS[name]:
        assert any(keyword.lower() in s.lower() for s in sections), f"{name}: no '## ' section mentions {keyword!r}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_structure_title_setup_summary(name):
    nb = _notebook(name)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "What you will learn" in nb.cells[0].source
    first_code = _code_cells(nb)[0]
    for needed in ("seed_everything(0)", "device = get_device()", "print(describe(device))"):
        assert needed in first_code, f"{name}: the first code cell lacks {needed}"
    assert any(s.startswith("Summary") for s in _headings(nb, 2)), f"{name}: no '## Summary' section"
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_segmentation_lecture_points_to_assignment_2():
    text = "\n".join(c.source for c in _notebook("04_segmentation.ipynb").cells if c.cell_type == "markdown")
    assert "assignments/02_unet" in text


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_assignment_2_solutions(name):
    for source in _code_cells(_notebook(name)):
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                assert not FORBIDDEN_DEFINITIONS["class"].match(node.name), f"{name} defines class {node.name}"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert not FORBIDDEN_DEFINITIONS["def"].match(node.name), f"{name} defines {node.name}()"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_downloads(name):
    code = "\n".join(_code_cells(_notebook(name)))
    for pattern in DOWNLOADS:
        assert not re.search(pattern, code), f"{name} contains {pattern}"
    assert "import cnnlab" in code or "from cnnlab" in code


def test_forbidden_definitions_are_recognised():
    tree = ast.parse("class UNet:\n    pass\ndef dice(a, b):\n    return 0\ndef mean_iou(c):\n    return 0\n")
    names = [n.name for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef))]
    flagged = [n for n in names if FORBIDDEN_DEFINITIONS["class"].match(n) or FORBIDDEN_DEFINITIONS["def"].match(n)]
    assert flagged == ["UNet", "dice", "mean_iou"]
