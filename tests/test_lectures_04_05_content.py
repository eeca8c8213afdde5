"""Content checks of lectures 04 and 05 that need no training: the exercises' answers hold, the helpers they rely on
refuse bad input, the prose reports measured results (no placeholders, no hedges for either outcome), and the
lectures' figure code lives in cnnlab.figures.

The definitions are taken from the notebooks' code cells (only the ``def``/``class`` statements, not the training
around them) and run here, so a test fails when the lecture's code and its answer drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

COURSE = Path(__file__).resolve().parents[1] / "course"
SEGMENTATION = "04_segmentation.ipynb"
AUTOENCODERS = "05_autoencoders.ipynb"


def _notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(COURSE / name, as_version=4)


def _definitions(name: str, wanted: set[str], namespace: dict | None = None) -> dict:
    """Run the imports of a lecture's first code cell and the ``def``/``class`` statements named in ``wanted``."""
    nb = _notebook(name)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    namespace = {} if namespace is None else namespace
    statements = []
    for node in ast.parse(code[0]).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            statements.append(node)
    for source in code:
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in wanted:
                statements.append(node)
    found = {n.name for n in statements if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert wanted <= found, f"{name} does not define {sorted(wanted - found)}"
    exec(compile(ast.Module(body=statements, type_ignores=[]), name, "exec"), namespace)  # noqa: S102
    return namespace


def _markdown(name: str) -> str:
    return "\n".join(c.source for c in _notebook(name).cells if c.cell_type == "markdown")


# --- Lecture 04, Exercise 1: which inputs fit a four-level U-Net with valid convolutions -----------------------


@pytest.fixture(scope="module")
def unet_shapes():
    return _definitions(SEGMENTATION, {"unet_shapes"})["unet_shapes"]


def test_unet_shapes_reproduces_the_paper(unet_shapes):
    maps = unet_shapes(572)
    assert maps[0] == ("input", 1, 572) and maps[-1] == ("output", 2, 388)
    assert ("enc4", 1024, 28) in maps  # the bottom of the paper's figure: 30 -> 28 with 1024 channels


@pytest.mark.parametrize("size", [140, 156, 172, 124, 100, 574, 573])
def test_unet_shapes_refuses_sizes_that_do_not_fit(unet_shapes, size):
    # 140, 156, 172 are 124 + 16k for k = 1, 2, 3: a decoder map would shrink to nothing (the old answer said they
    # fit); 574 and 573 meet an odd side before a pooling.
    with pytest.raises(ValueError, match=f"input {size} px does not fit"):
        unet_shapes(size)


def test_unet_shapes_never_returns_an_empty_map(unet_shapes):
    fitting = []
    for size in range(1, 420):
        try:
            maps = unet_shapes(size)
        except ValueError:
            continue
        assert all(side >= 1 for _, _, side in maps), size
        fitting.append(size)
    assert fitting == list(range(188, 420, 16))  # 188 + 16j: the answer of Exercise 1
    assert unet_shapes(188)[-1] == ("output", 2, 4)


def test_unet_shapes_refuses_a_depth_below_one(unet_shapes):
    with pytest.raises(ValueError, match="depth"):
        unet_shapes(572, depth=0)


def test_exercise_1_answer_of_lecture_04_names_the_smallest_input():
    text = _markdown(SEGMENTATION)
    answer = text[text.index("**1. U-Net by hand.**") :]
    answer = answer[: answer.index("</details>")]
    assert "188" in answer and "k \\ge 4" in answer
    assert "124 + 16k$ ($k \\ge 1$)" not in answer


# --- Lecture 05, Exercise 1: where the autoencoder's parameters are ---------------------------------------------


def test_exercise_1_of_lecture_05_counts_are_right():
    ns = _definitions(AUTOENCODERS, {"conv_block", "ConvAutoencoder"})
    model = ns["ConvAutoencoder"](code_size=8)

    def count(module):
        return sum(p.numel() for p in module.parameters())

    total, linear = count(model), count(model.encoder[-1]) + count(model.expand)
    assert (total, linear) == (138_955, 17_416)
    assert linear / total < 0.5  # the convolutions, not the linear layers, hold most at d = 8
    big = ns["ConvAutoencoder"](code_size=64)
    assert count(big.encoder[-1]) + count(big.expand) > count(big) / 2

    text = _markdown(AUTOENCODERS)
    answer = text[text.index("**1. Where are the parameters?**") :]
    answer = answer[: answer.index("</details>")]
    assert "17,416" in answer and "138,955" in answer and "12.5%" in answer
    assert "**convolutions**" in answer


# --- Both lectures: results are measured, not pre-written ---------------------------------------------------------

PLACEHOLDERS = re.compile(r"\b(ED_RESULT|PSP_DISCUSSION|DAE_DISCUSSION|TRANSFER_DISCUSSION|TODO|XXX)\b")
HEDGES = [
    r"if the skips (do not|don't) win",
    r"whichever (variant|way) wins",
    r"may or may not",
    r"either outcome",
    r"if (this|it) (does not|doesn't) hold",
]


@pytest.mark.parametrize("name", [SEGMENTATION, AUTOENCODERS])
def test_prose_has_no_placeholders_or_hedges(name):
    text = "\n".join(c.source for c in _notebook(name).cells)
    assert not PLACEHOLDERS.search(text), PLACEHOLDERS.search(text).group(0)
    for hedge in HEDGES:
        assert not re.search(hedge, text, re.IGNORECASE), hedge


@pytest.mark.parametrize("name", [SEGMENTATION, AUTOENCODERS])
def test_comparisons_run_over_seeds_with_full_mode_asserts(name):
    code = "\n".join(c.source for c in _notebook(name).cells if c.cell_type == "code")
    assert "SEEDS = list(range(pick(3, 1)))" in code
    assert code.count("if not fast_mode():") >= 3


def test_segmentation_lecture_builds_skips_from_blocks_and_says_how_it_differs_from_assignment_2():
    nb = _notebook(SEGMENTATION)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "class EncoderDecoder" in code and "torch.cat" in code
    assert "class DoubleConv" not in code
    assert "How this differs from Assignment 2" in _markdown(SEGMENTATION)


def test_psp_ablation_has_the_papers_seven_rows_and_b1_ave_adds_no_learned_layer():
    ns = _definitions(SEGMENTATION, {"block", "MiniPSPNet"})
    psp, baseline = ns["MiniPSPNet"]((1,), "avg", False), ns["MiniPSPNet"]()
    # B1+AVE differs from the baseline only in the head's wider input: global pooling and upsampling learn nothing.
    assert sum(p.numel() for p in psp.backbone.parameters()) == sum(p.numel() for p in baseline.backbone.parameters())
    assert psp.reduce is None
    code = "\n".join(c.source for c in _notebook(SEGMENTATION).cells if c.cell_type == "code")
    for row in ("baseline", "B1+MAX", "B1+AVE", "B1236+MAX", "B1236+AVE", "B1236+MAX+DR", "B1236+AVE+DR"):
        assert f'"{row}"' in code
    assert "41.68" in code and "37.23" in code


def test_transfer_learning_shows_how_to_load_weights_only_from_disk():
    code = "\n".join(c.source for c in _notebook(AUTOENCODERS).cells if c.cell_type == "code")
    assert "resnet18(weights=None)" in code and "load_state_dict(torch.load(" in code
    assert "weights_path.is_file()" in code
    assert "ShapesClassification" in code


@pytest.mark.parametrize("name", [SEGMENTATION, AUTOENCODERS])
def test_figure_code_lives_in_cnnlab_figures(name):
    # No cell of a lecture is a page of matplotlib: the long drawing code is in cnnlab/figures/.
    for cell in _notebook(name).cells:
        if cell.cell_type != "code":
            continue
        drawing = [line for line in cell.source.splitlines() if re.search(r"\bax(es)?[\[.]|\bplt\.|fig\.", line)]
        assert len(drawing) <= 20, f"{name}: a cell with {len(drawing)} lines of drawing code"
    code = "\n".join(c.source for c in _notebook(name).cells if c.cell_type == "code")
    assert "from cnnlab.figures" in code


def test_lectures_use_real_images_where_they_show_filters():
    code04 = "\n".join(c.source for c in _notebook(SEGMENTATION).cells if c.cell_type == "code")
    code05 = "\n".join(c.source for c in _notebook(AUTOENCODERS).cells if c.cell_type == "code")
    assert "skdata.coins()" in code04 and "skdata.coins()" in code05
