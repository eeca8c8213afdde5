"""Assignment 1 benchmark: the instructor's NumPy layers against PyTorch, and the time to grade one submission.

1. ``conv2d`` (im2col with a strided view and one tensordot) and ``conv2d_backward`` from the instructor
   notebook against ``torch.nn.functional.conv2d`` and its autograd backward, float64 and float32, same
   inputs, same run, several shapes. Target: forward within 2x of torch on CPU.
2. Autograding one submission (the instructor's solution) with ``nbgrader autograde`` in a fresh course,
   against executing the same notebook with nbclient alone (the baseline: what running it costs anyway).
   Target: under 30 s on a 2-core CPU.

``python3 -m bench.layers [--quick]``; results go to ``bench/results/layers.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np

from cnnlab.device import describe

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHAPES = [
    # (N, C, H, W), (F, kh, kw), stride, padding
    ((8, 3, 64, 64), (16, 3, 3), 1, 1),
    ((16, 16, 32, 32), (32, 3, 3), 1, 1),
    ((16, 64, 16, 16), (64, 3, 3), 1, 1),
    ((4, 32, 64, 64), (32, 5, 5), 2, 2),
]


def _measure_shape(ns: dict, shape: tuple, dtype: type, repeats: int, rng: np.random.Generator) -> str:
    """One table row: forward and backward of ours and of torch on one problem."""
    from bench.sections import layer_timings

    (n, c, h, w), (f, kh, kw), s, p = shape
    times = layer_timings(ns, shape, repeats, rng, dtype)
    of, tf, ob, tb = (times[k].median for k in ("of", "tf", "ob", "tb"))
    return (
        f"| {(n, c, h, w)} / {(f, c, kh, kw)}, {s}, {p} | {np.dtype(dtype).name} | {of:.1f} | {tf:.1f} | "
        f"{of / tf:.2f}× | {ob:.1f} | {tb:.1f} | {ob / tb:.2f}× |"
    )


def layer_section(quick: bool) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from tests.support.nbcourse import solution_namespace

    ns = solution_namespace("01_layers", "01_layers")
    repeats = 3 if quick else 10
    lines = [
        "| shape x / w, stride, padding | dtype | ours fwd (ms) | torch fwd (ms) | fwd ratio | ours bwd (ms) | "
        "torch bwd (ms) | bwd ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rng = np.random.default_rng(0)
    for shape in SHAPES[:2] if quick else SHAPES:
        for dtype in (np.float32, np.float64):
            lines.append(_measure_shape(ns, shape, dtype, repeats, rng))
    lines.append("")
    lines.append(
        "Ratio = ours / torch (below 1: ours is faster). Medians of repeated runs, torch with its default threads."
    )
    return lines


def grading_section() -> list[str]:
    from tests.support.nbcourse import Course, make_submission

    with tempfile.TemporaryDirectory() as tmp:
        course = Course(Path(tmp) / "course", ["01_layers"])
        course.nbgrader("generate_assignment", "01_layers", "--force")
        release = course.root / "assignments" / "01_layers" / "01_layers.ipynb"
        nb = make_submission(release, "01_layers", "01_layers")
        course.submit("student", "01_layers", "01_layers", nb)
        start = time.perf_counter()
        course.nbgrader("autograde", "01_layers", "--force")
        grading = time.perf_counter() - start

        from nbclient import NotebookClient

        plain = nbformat.read(course.root / "submitted" / "student" / "01_layers" / "01_layers.ipynb", as_version=4)
        start = time.perf_counter()
        NotebookClient(plain, timeout=600, kernel_name="python3", allow_errors=True).execute()
        execution = time.perf_counter() - start
    return [
        "| what | seconds | ratio to plain execution |",
        "| --- | --- | --- |",
        f"| `nbgrader autograde`, one submission | {grading:.1f} | {grading / execution:.2f}× |",
        f"| executing the same notebook with nbclient (baseline) | {execution:.1f} | 1.00× |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    header = [f"Machine: {describe('cpu')}", ""]
    layers = layer_section(args.quick)
    print("\n".join(header + layers), flush=True)
    grading = grading_section()
    print("\n" + "\n".join(grading), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "layers.md").write_text("\n".join(header + layers + [""] + grading) + "\n")
    print(f"\nwrote {args.out / 'layers.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
