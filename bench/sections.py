"""The compute benchmarks of ``python -m bench``: data generation, the NumPy layers, the U-Net, CI times."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.suite import Measured, PeakMemory, Row, Section, repeat, save_plot, timed

ROOT = Path(__file__).resolve().parents[1]


def data_section(repeats: int) -> Section:
    """``cnnlab.data`` images/s (one core) against the images/s a U-Net training step consumes (two cores)."""
    from bench.data import images_per_second, training_consumption
    from cnnlab.data import Shapes

    section = Section("data", "Data generation: `cnnlab.data.Shapes` against the training loop it feeds")
    section.lines = [
        "| images | rendered per second, 1 core | consumed per second by a U-Net training step, 2 cores | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for size in (64, 128):
        torch.set_num_threads(2)
        consumed = Measured(tuple(training_consumption(size, 16, max(3, repeats))))
        torch.set_num_threads(1)
        rendered = Measured(tuple(images_per_second(Shapes("train", 100_000, size=size), 100, repeats)))
        torch.set_num_threads(os.cpu_count() or 1)
        ratio = rendered.median / consumed.median
        section.lines.append(f"| {size} px | {rendered.text('.0f')} | {consumed.text('.0f')} | {ratio:.1f}× |")
        section.rows.append(
            Row(
                f"Shapes {size} px, images/s",
                rendered.text(".0f"),
                f"training {consumed.text('.0f')}",
                ratio,
                "rendered / consumed",
                "≥ 1 (generation keeps up)",
                ratio >= 1,
            )  # fmt: skip
        )
        section.data[f"shapes_{size}"] = {"rendered": rendered.values, "consumed": consumed.values}
    return section


SHAPES = [
    # (N, C, H, W), (F, kh, kw), stride, padding
    ((8, 3, 64, 64), (16, 3, 3), 1, 1),
    ((16, 16, 32, 32), (32, 3, 3), 1, 1),
    ((16, 64, 16, 16), (64, 3, 3), 1, 1),
    ((4, 32, 64, 64), (32, 5, 5), 2, 2),
]


def layer_timings(
    ns: dict, shape: tuple, repeats: int, rng: np.random.Generator, dtype: type = np.float64
) -> dict[str, Measured]:
    """Milliseconds of ours and torch's forward (``of``, ``tf``) and backward (``ob``, ``tb``) on one shape."""
    (n, c, h, w), (f, kh, kw), s, p = shape
    x, wt, b = (rng.standard_normal(size).astype(dtype) for size in ((n, c, h, w), (f, c, kh, kw), (f,)))
    dout = rng.standard_normal(ns["conv2d"](x, wt, b, stride=s, padding=p).shape).astype(dtype)
    xt, wtt, bt, doutt = (torch.from_numpy(a) for a in (x, wt, b, dout))
    xg, wg, bg = (t.clone().requires_grad_() for t in (xt, wtt, bt))

    def torch_backward() -> None:
        for t in (xg, wg, bg):
            t.grad = None
        F.conv2d(xg, wg, bg, stride=s, padding=p).backward(doutt)

    runs = {
        "of": lambda: ns["conv2d"](x, wt, b, stride=s, padding=p),
        "tf": lambda: F.conv2d(xt, wtt, bt, stride=s, padding=p),
        "ob": lambda: ns["conv2d_backward"](dout, x, wt, b, stride=s, padding=p),
        "tb": torch_backward,
    }
    for fn in runs.values():
        fn()  # warm up
    return {k: repeat(lambda fn=fn: timed(fn) * 1e3, repeats) for k, fn in runs.items()}


def layers_section(repeats: int) -> Section:
    """The instructor's NumPy ``conv2d`` / ``conv2d_backward`` against ``torch.nn.functional`` (float64)."""
    from tests.support.nbcourse import solution_namespace

    ns = solution_namespace("01_layers", "01_layers")
    section = Section("layers", "Assignment 1: NumPy convolution against PyTorch (CPU, float64)")
    section.lines = [
        "| x / w, stride, padding | ours fwd ms | torch fwd ms | fwd ratio | ours bwd ms | torch bwd ms | bwd ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rng = np.random.default_rng(0)
    fwd_ratios, bwd_ratios = [], []
    for shape in SHAPES:
        m = layer_timings(ns, shape, repeats, rng)
        fr, br = m["of"].median / m["tf"].median, m["ob"].median / m["tb"].median
        fwd_ratios.append(fr)
        bwd_ratios.append(br)
        (n, c, h, w), (f, kh, kw), s, p = shape
        section.lines.append(
            f"| {(n, c, h, w)} / {(f, c, kh, kw)}, {s}, {p} | {m['of'].text('.1f')} | {m['tf'].text('.1f')} | "
            f"{fr:.2f}× | {m['ob'].text('.1f')} | {m['tb'].text('.1f')} | {br:.2f}× |"
        )
    worst_f, worst_b = max(fwd_ratios), max(bwd_ratios)
    section.lines += ["", "Ratio = ours / torch (below 1: ours is faster); median (min–max) of repeated runs."]
    section.rows = [
        Row("conv2d forward, worst shape", f"{worst_f:.2f}× torch", "torch.nn.functional.conv2d", worst_f,
            "ours / torch", "≤ 1 (no slower than torch)", worst_f <= 1.0),
        Row("conv2d backward, worst shape", f"{worst_b:.2f}× torch", "torch autograd", worst_b,
            "ours / torch", "≤ 2", worst_b <= 2.0),
    ]  # fmt: skip
    section.data = {"forward_ratios": fwd_ratios, "backward_ratios": bwd_ratios}
    return section


def unet_section(budgets: list[float], out: Path) -> Section:
    """The instructor's U-Net against ``segmentation_models_pytorch.Unet`` at equal wall-clock budgets."""
    from autograder.checks.unet.results import miou_of, split_data
    from bench.unet import BENCH_SEED, SIZE, instructor_unet, smp_unet, train_for
    from cnnlab.device import get_device

    device = get_device()
    test = split_data(BENCH_SEED, None, size=SIZE)
    section = Section("unet", "U-Net on `Shapes` (32 px): ours against `smp.Unet` (ResNet-18, random init)")
    section.lines = [
        "| budget s | model | steps | steps/s | peak memory MiB | test mIoU |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    results: dict[str, dict[float, float]] = {}
    for seconds in budgets:
        row = {}
        for name, build in (("ours", instructor_unet), ("smp.Unet", smp_unet)):
            model = build()
            if model is None:
                section.lines.append(f"| {seconds:.0f} | {name} | not installed | | | |")
                continue
            with PeakMemory(include_self=True) as memory:
                stats = train_for(model, seconds, device)
            peak = stats["peak_mib"] if device.type == "cuda" else memory.peak_total / 2**20
            miou = miou_of(model, *test)
            row[name] = miou
            results.setdefault(name, {})[seconds] = miou
            section.lines.append(
                f"| {seconds:.0f} | {name} | {stats['steps']} | {stats['steps_per_s']:.1f} | {peak:.0f} | {miou:.3f} |"
            )
        if len(row) == 2:
            ours, smp = row["ours"], row["smp.Unet"]
            section.rows.append(
                Row(f"U-Net mIoU at {seconds:.0f} s", f"{ours:.3f}", f"smp.Unet {smp:.3f}", ours / max(smp, 1e-9),
                    "ours / smp", "ours higher", ours > smp)
            )  # fmt: skip
    section.lines += ["", f"Device: {device}. Peak memory on CPU: resident memory of the benchmark process."]
    section.data = {k: {str(s): v for s, v in d.items()} for k, d in results.items()}
    if results:
        curves = [(list(points), list(points.values()), "o-", name) for name, points in results.items()]
        save_plot(out / "unet_budget.png", curves, "training budget (s)", "test mIoU")
        section.plots.append("unet_budget.png")
    return section


#: The end-to-end grading tests, one file per assignment plus the adversarial corpus (the CI's longest parts).
END_TO_END_TESTS = (
    "tests/test_assignment_01.py",
    "tests/test_assignment_02.py",
    "tests/test_assignment_03.py",
    "tests/test_assignment_04.py",
    "tests/test_adversarial.py",
)


def run_test_file(test_file: str) -> tuple[float, bool]:
    """Seconds ``pytest`` takes on one test file by itself (one pytest process, ``-n 0``: CI runs its files side by
    side), and whether every test in it passed."""
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", test_file],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    return time.perf_counter() - start, run.returncode == 0


def ci_section(end_to_end: tuple[str, ...] = END_TO_END_TESTS) -> Section:
    """Seconds each lecture notebook takes in fast mode (``COURSE_FAST=1``) and each end-to-end grading test
    file takes under pytest, one after the other (CI runs its test files side by side, one per core)."""
    section = Section("ci", "CI: lecture notebooks in fast mode, end-to-end grading tests")
    section.lines = ["| part | seconds |", "| --- | --- |"]
    notebooks = sorted((ROOT / "course").glob("*.ipynb"))
    total = 0.0
    for path in notebooks:
        start = time.perf_counter()
        code = (
            "import nbformat, sys; from nbclient import NotebookClient; "
            "nb = nbformat.read(sys.argv[1], as_version=4); "
            "NotebookClient(nb, timeout=1200, resources={'metadata': {'path': sys.argv[2]}}).execute()"
        )
        run = subprocess.run(
            [sys.executable, "-c", code, str(path), str(path.parent)],
            env={**os.environ, "COURSE_FAST": "1", "MPLBACKEND": "Agg"},
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        total += seconds
        section.lines.append(f"| {path.name} | {seconds:.0f}{'' if run.returncode == 0 else ' (failed)'} |")
    end_to_end_seconds = {}
    for test_file in end_to_end:
        seconds, passed = run_test_file(test_file)
        end_to_end_seconds[test_file] = seconds
        section.lines.append(f"| `pytest {test_file}` | {seconds:.0f}{'' if passed else ' (failed)'} |")
    both = total + sum(end_to_end_seconds.values())
    section.lines += ["", f"All lecture notebooks: {total:.0f} s; with the end-to-end tests: {both:.0f} s."]
    section.data = {"total_seconds": total, "end_to_end_seconds": end_to_end_seconds}
    section.rows.append(Row("lecture notebooks, fast mode", f"{total:.0f} s", "CI limit 1800 s", total / 1800,
                            "share of the CI limit", "", None))  # fmt: skip
    if end_to_end_seconds:
        section.rows.append(Row("lecture notebooks and end-to-end grading tests", f"{both:.0f} s", "CI limit 1800 s",
                                both / 1800, "share of the CI limit", "", None))  # fmt: skip
    return section


def median_or_nan(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def speed_section(steps: int | None = None, train_images: int | None = None, repeats: int = 5) -> Section:
    """Speed work, before and after in one run: the trainability check's recipe at 16 and at 8 base channels,
    and a sandboxed kernel's first figure without and with matplotlib's font list lent by the grader.

    Both train the instructor's U-Net with the trainability check's recipe
    (``autograder.checks.hidden.unet_trainability.train_with_recipe``) and score it on the hidden-test-sized split
    of the benchmark's own seed, so the row shows what the change bought (time) and what it cost (the mIoU the
    check compares with its threshold). ``steps`` and ``train_images`` shrink it (tests); ``repeats`` is the
    number of figures drawn each way.
    """
    from dataclasses import replace

    from autograder.checks.hidden.unet_trainability import RECIPE, train_with_recipe
    from autograder.checks.unet.results import miou_of, split_data
    from bench.unet import BENCH_SEED, instructor_unet_class
    from cnnlab.data import Shapes
    from cnnlab.device import get_device

    device = get_device()
    recipe = replace(RECIPE, steps=steps or RECIPE.steps, train_images=train_images or RECIPE.train_images)
    test = split_data(BENCH_SEED, None)
    unet = instructor_unet_class()
    section = Section("speed", "Speed work: before and after")
    section.lines = [
        f"Trainability check of Assignment 2 ({recipe.steps} steps of {recipe.batch_size} images, {device}):",
        "",
        "| recipe | base channels | seconds | test mIoU |",
        "| --- | --- | --- | --- |",
    ]
    measured = {}
    for label, channels in (("before", 16), ("after", RECIPE.base_channels)):
        torch.manual_seed(recipe.seed)
        model = unet(3, Shapes.num_classes, depth=recipe.depth, base_channels=channels, up=recipe.up)
        seconds = timed(lambda model=model, channels=channels: train_with_recipe(
            model, replace(recipe, base_channels=channels), device))  # fmt: skip
        measured[label] = (seconds, miou_of(model, *test))
        section.lines.append(f"| {label} | {channels} | {seconds:.1f} | {measured[label][1]:.3f} |")
    (after_s, after_miou), (before_s, before_miou) = measured["after"], measured["before"]
    section.rows.append(
        Row("trainability check, 8 vs 16 channels", f"{after_s:.1f} s (mIoU {after_miou:.2f})",
            f"{before_s:.1f} s (mIoU {before_miou:.2f})", after_s / before_s, "after / before (lower is better)",
            "faster", after_s < before_s)
    )  # fmt: skip
    section.data = {k: {"seconds": s, "miou": m} for k, (s, m) in measured.items()}
    font_list_rows(section, repeats)
    notebook_import_rows(section, repeats)
    return section


#: What every grading process imports to read and grade notebooks.
NOTEBOOK_IMPORTS = "import nbformat, nbgrader.preprocessors"


def notebook_import_seconds(refused: bool) -> float:
    """Seconds a fresh Python takes to import what reads notebooks: after ``import autograder`` (which refuses
    jsonschema's optional rfc3987_syntax) or without it."""
    code = ("import autograder; " if refused else "") + NOTEBOOK_IMPORTS
    return timed(lambda: subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True))


def before_after_rows(
    section: Section,
    measure: Callable[[bool], float],
    repeats: int,
    *,
    intro: str,
    before: str,
    after: str,
    benchmark: str,
    key: str,
) -> None:
    """Time ``measure(False)`` (before a change) and ``measure(True)`` (after it) ``repeats`` times each, the order
    alternating from pair to pair so that the machine's drift cancels; add their table, summary row and data."""
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for i in range(repeats):
        for changed in (i % 2 == 0, i % 2 == 1):  # alternate which goes first
            seconds[changed].append(measure(changed))
    later, earlier = Measured(tuple(seconds[True])), Measured(tuple(seconds[False]))
    section.lines += [
        "",
        intro,
        "",
        "| | seconds, median (min–max) |",
        "| --- | --- |",
        f"| before: {before} | {earlier.text('.2f')} |",
        f"| after: {after} | {later.text('.2f')} |",
    ]
    section.rows.append(
        Row(benchmark, f"{later.median:.2f} s", f"{earlier.median:.2f} s", later.median / earlier.median,
            "after / before (lower is better)", "faster", later.median < earlier.median)
    )  # fmt: skip
    section.data[key] = {"after": later.values, "before": earlier.values}


def notebook_import_rows(section: Section, repeats: int) -> None:
    """Before and after refusing rfc3987_syntax: the imports of a process that reads notebooks, alternating."""
    before_after_rows(
        section, notebook_import_seconds, repeats,
        intro=f"A fresh process's `{NOTEBOOK_IMPORTS}` (every grading process, release and feedback does it):",
        before="jsonschema builds rfc3987_syntax's IRI parser",
        after="`import autograder` first, which refuses that package",
        benchmark="reading notebooks: a process's imports", key="notebook_imports",
    )  # fmt: skip


def font_list_rows(section: Section, repeats: int) -> None:
    """Before and after lending matplotlib's font list to sandboxed kernels: their first figure, alternating."""
    from autograder.sandbox import bwrap_path
    from bench.sandbox import first_figure_seconds

    if bwrap_path() is None:
        section.lines += ["", "Sandboxed kernels' first figure: not measured (bubblewrap is not installed)."]
        return
    before_after_rows(
        section, first_figure_seconds, repeats,
        intro="A sandboxed kernel's first matplotlib figure (import and draw), each in a fresh sandbox:",
        before="every kernel scans the fonts", after="the grader's font list, lent read-only",
        benchmark="sandboxed kernel's first figure, font list lent", key="first_figure",
    )  # fmt: skip
