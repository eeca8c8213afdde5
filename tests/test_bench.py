"""``python -m bench``: the report's pieces, the memory sampler, and one real section end to end."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time

import pytest
import torch

from bench.suite import Measured, PeakMemory, Row, Section, report
from tests.support.nbcourse import ROOT


def test_measured_gives_median_and_spread():
    m = Measured((3.0, 1.0, 2.0, 10.0))
    assert m.median == 2.5 and m.text(".1f") == "2.5 (1.0–10.0)"


def test_report_has_every_comparison_and_says_which_targets_are_missed():
    met = Row("conv2d forward", "0.8× torch", "torch", 0.8, "ours / torch", "≤ 1", True)
    missed = Row("U-Net mIoU at 30 s", "0.40", "smp 0.50", 0.8, "ours / smp", "ours higher", False)
    sections = [Section("a", "First", ["| x |"], [met]), Section("b", "Second", [], [missed], plots=["b.png"])]
    text = report(sections, "test machine", 90.0, "python -m bench")
    summary = text.split("## Summary")[1].split("## First")[0]
    assert "| conv2d forward |" in summary and "| met |" in summary
    assert "| U-Net mIoU at 30 s |" in summary and "**missed**" in summary
    assert "Machine: test machine" in text and "1.5 min" in text and "![b](b.png)" in text


def test_peak_memory_sees_a_child_process():
    code = "import time; x = bytearray(300 * 1024 * 1024); time.sleep(1.5)"
    with PeakMemory(interval=0.05) as memory:
        subprocess.run([sys.executable, "-c", code], check=True)
        time.sleep(0.1)
    assert memory.peak_process >= 250 * 1024 * 1024


def test_one_section_runs_end_to_end(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "data", "--repeats", "1", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "REPORT.md").read_text()
    assert "| Shapes 64 px, images/s |" in text and "| Shapes 128 px, images/s |" in text
    assert "| Cells 128 px + weight map |" in text and "| ShapesClassification 64 px |" in text
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["data"]["data"]["shapes_64"]["rendered"]) == 1
    assert set(results["data"]["data"]) == {
        "shapes_64", "shapes_128", "shapes_classification_64", "cells_128", "cells_weights_128"
    }  # fmt: skip


def test_the_fields_section_trains_each_model_on_the_same_budget():
    from bench.sections import fields_section

    section = fields_section(steps=2, train_images=32, test_images=8)
    assert [line.split(" | ")[0] for line in section.lines[2:5]] == [
        "| per-pixel (1×1 convs)", "| shallow FCN (3×3 ×3)", "| small U-Net (depth 3)"
    ]  # fmt: skip
    fields = {name: d["receptive_field"] for name, d in section.data.items()}
    assert fields == {"per-pixel (1×1 convs)": 1, "shallow FCN (3×3 ×3)": 7, "small U-Net (depth 3)": 64}
    (row,) = section.rows
    unet, pixel = (section.data[name]["miou"] for name in ("small U-Net (depth 3)", "per-pixel (1×1 convs)"))
    assert row.ratio == unet / max(pixel, 1e-9)


def test_the_suite_is_the_only_command():
    """Each benchmark is measured one way, by a section of ``python -m bench``: no other module of bench/ (bar the
    mutation testing) is a command of its own."""
    for path in sorted((ROOT / "bench").glob("*.py")):
        if path.name != "__main__.py":
            assert "__main__" not in path.read_text(), f"{path.name} is a command of its own"


def test_save_plot_writes_a_png_with_every_curve(tmp_path):
    from bench.suite import save_plot

    path = tmp_path / "plot.png"
    save_plot(path, [([1, 2, 3], [1.0, 4.0, 9.0], "o-", "squares"), ([1, 3], [1.0, 9.0], "-", "line")], "n", "s")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 2000


def test_layer_timings_measure_ours_and_torch():
    import numpy as np

    from bench.sections import layer_timings
    from tests.support.nbcourse import solution_namespace

    ns = solution_namespace("01_layers", "01_layers")
    for dtype in (np.float64, np.float32):
        times = layer_timings(ns, ((2, 3, 8, 8), (4, 3, 3), 1, 1), 3, np.random.default_rng(0), dtype)
        assert set(times) == {"of", "tf", "ob", "tb", "fr", "br"}
        assert all(len(m.values) == 3 and min(m.values) > 0 for m in times.values())
        # a repeat's ratio is ours over torch of that same repeat
        assert times["fr"].values == tuple(o / t for o, t in zip(times["of"].values, times["tf"].values))
        assert times["br"].values == tuple(o / t for o, t in zip(times["ob"].values, times["tb"].values))


def test_a_ratio_is_shown_with_its_interquartile_range():
    from bench.sections import spread

    assert spread(Measured((1.0, 2.0, 3.0, 4.0, 5.0))) == "3.00× [1.50–4.50]"


def test_speed_section_times_the_recipe_before_and_after(monkeypatch):
    import bench.sections
    from bench.sections import speed_section

    def tiny_unet(in_channels, num_classes, depth, base_channels, up):  # the instructor's takes seconds to load
        return torch.nn.Sequential(torch.nn.Conv2d(in_channels, base_channels, 3, padding=1), torch.nn.ReLU(),
                                   torch.nn.Conv2d(base_channels, num_classes, 1))  # fmt: skip

    monkeypatch.setattr(bench.sections, "instructor_unet_class", lambda: tiny_unet)
    # the import rows start fresh interpreters (seconds each): tested on their own below
    monkeypatch.setattr(bench.sections, "notebook_import_seconds", lambda refused: 1.0)
    section = speed_section(steps=2, train_images=32, repeats=1)
    before, after = section.data["before"], section.data["after"]
    assert before["seconds"] > 0 and after["seconds"] > 0
    assert all(0.0 <= d["miou"] <= 1.0 for d in (before, after))
    row = section.rows[0]
    assert abs(row.ratio - after["seconds"] / before["seconds"]) < 1e-9
    assert row.met == (after["seconds"] < before["seconds"])
    assert "| before | 16 |" in "\n".join(section.lines) and "| after | 8 |" in "\n".join(section.lines)


def test_the_budgeted_schedule_follows_torchs_one_cycle():
    from bench.sections import one_cycle_lr

    total, max_lr = 1001, 1e-2
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total)
    torchs = []
    for _ in range(total):
        torchs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    ours = [one_cycle_lr(step / (total - 1), max_lr) for step in range(total)]
    assert max(abs(a - b) for a, b in zip(ours, torchs)) < 0.01 * max_lr
    assert abs(ours[0] - max_lr / 25) < 1e-12 and abs(ours[-1] - torchs[-1]) < 1e-12
    assert max(ours) == one_cycle_lr(0.3, max_lr) == max_lr


def test_training_for_a_budget_spends_it_and_learns(monkeypatch):
    import bench.sections

    images = torch.rand(8, 3, 8, 8)
    masks = (images[:, 0] > 0.5).long()  # the first channel decides the class: learnable by a 1x1 convolution
    monkeypatch.setattr(bench.sections, "training_set", lambda: (images, masks))
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 5, 1)
    before = torch.nn.functional.cross_entropy(model(images), masks).item()
    stats = bench.sections.train_for(model, 0.5, torch.device("cpu"), batch_size=4)
    assert stats["seconds"] >= 0.5 and stats["steps"] >= 1
    assert stats["steps_per_s"] == stats["steps"] / stats["seconds"]
    assert torch.nn.functional.cross_entropy(model(images), masks).item() < before


def test_the_sandbox_overhead_comes_from_single_jobs_in_rotating_order(monkeypatch, tmp_path):
    import bench.grading as grading

    calls = []

    def arm(sandbox) -> str:
        return "bare" if sandbox is None else "forked" if sandbox.fork_server else "sandboxed"

    def fake_ours(course, assignment, workers, sandbox, students=None):
        calls.append((workers, arm(sandbox), students))
        seconds = 10.0 + len(calls)  # a machine that slows down steadily: the rotating order spreads it
        phases = {"kernel start": 1.0, "test cells": seconds - 1.0}
        return {"wall": 1.0, "jobs": Measured((seconds,)), "cpu": Measured((seconds / 2,)), "phases": [phases],
                "peak_worker_mib": 1.0, "n": 1}  # fmt: skip

    monkeypatch.setattr(grading, "make_course", lambda root, counts: None)
    monkeypatch.setattr(grading, "_nbgrader", lambda root, assignment: 40.0)
    monkeypatch.setattr(grading, "_ours", fake_ours)
    monkeypatch.setattr(grading, "fork_server_start", lambda course, assignment: 2.5)
    section = grading.throughput_section(tmp_path, {"03_architectures": 2}, rounds=3)
    assert calls[:2] == [(1, "forked", None), (2, "forked", None)]  # the whole batch on 1, then 2 workers
    singles = calls[2:]
    order = [name for _, name, _ in singles]
    assert order == ["forked", "sandboxed", "bare", "sandboxed", "bare", "forked", "bare", "forked", "sandboxed"]
    assert [students for *_, students in singles] == [["s000"]] * 3 + [["s001"]] * 3 + [["s000"]] * 3
    jobs = section.data["03_architectures"]["overhead_jobs"]
    assert jobs["forked"]["seconds"] == [13.0, 18.0, 20.0] and jobs["bare"]["seconds"] == [15.0, 17.0, 19.0]
    assert jobs["sandboxed"]["cpu"] == [7.0, 8.0, 10.5]
    # every arm ran once in each place of the order: the drift adds the same to each arm's total
    assert sum(jobs["forked"]["seconds"]) == sum(jobs["sandboxed"]["seconds"]) == sum(jobs["bare"]["seconds"])
    (overhead,) = [row for row in section.rows if row.benchmark.startswith("sandbox overhead")]
    assert overhead.ratio == 16.0 / 17.0  # medians of the sandboxed and the bare jobs
    (forked,) = [row for row in section.rows if row.benchmark.startswith("fork server")]
    assert forked.ratio == 9.0 / 8.0
    assert any("fork server start" in line and "2.5" in line for line in section.lines)
    # one job's phases: the median over the 1-worker run's jobs (here one job of 11 s), and its CPU
    assert "| 03_architectures | kernel start | 1.00 | 9% |" in section.lines
    assert "| 03_architectures | test cells | 10.00 | 91% |" in section.lines
    assert "| 03_architectures | **CPU of the job** (worker and kernel) | 5.50 | |" in section.lines


def test_the_grading_section_can_measure_one_assignment_with_its_own_counts(monkeypatch, tmp_path):
    import bench.__main__ as cli
    from bench import grading

    seen = {}

    def fake_section(root, counts, rounds=grading.OVERHEAD_ROUNDS):
        seen.update(counts=counts, rounds=rounds)
        return Section("grading", "fake")

    monkeypatch.setattr(grading, "throughput_section", fake_section)
    out = tmp_path / "out"
    cli.main(["--only", "grading", "--grading", "02_unet=2", "--overhead-rounds", "1", "--out", str(out)])
    assert seen == {"counts": {"02_unet": 2}, "rounds": 1}
    cli.main(["--only", "grading", "--out", str(out)])
    assert seen == {"counts": {"01_layers": 16, "04_visualization": 1}, "rounds": grading.OVERHEAD_ROUNDS}
    for wrong in (["--grading", "02_unet"], ["--grading", "05_gan=1"], ["--grading", "02_unet=0"],
                  ["--overhead-rounds", "0"]):  # fmt: skip
        with pytest.raises(SystemExit):
            cli.main(["--only", "grading", "--out", str(out), *wrong])


def test_the_nbgrader_baseline_runs_plain_nbgrader_in_a_copy_of_the_course(tmp_path):
    import runpy

    from bench.grading import plain_course

    root = tmp_path / "course"
    (root / "submitted" / "s000" / "a").mkdir(parents=True)
    (root / "submitted" / "s000" / "a" / "a.ipynb").write_text("{}")
    (root / "gradebook.db").write_bytes(b"db")
    (root / "nbgrader_config.py").write_text("raise SystemExit('the course config must not be read')")
    plain = plain_course(root)
    assert plain != root and (plain / "submitted" / "s000" / "a" / "a.ipynb").read_text() == "{}"
    assert (plain / "gradebook.db").read_bytes() == b"db"
    from traitlets.config import Config

    config = Config()
    runpy.run_path(str(plain / "nbgrader_config.py"), {"get_config": lambda: config})
    assert config.CourseDirectory.root == str(plain) and config.Execute.timeout == 300
    assert "Autograde" not in config and "GuardedExecute" not in config  # nbgrader's own chain and kernels


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_the_first_figure_is_timed_with_and_without_the_lent_font_list(tmp_path, monkeypatch):
    from autograder.sandbox import fontcache
    from bench.sections import Section, font_list_rows

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fontcache.font_list.cache_clear()
    try:
        section = Section("speed", "test")
        font_list_rows(section, repeats=2)
    finally:
        fontcache.font_list.cache_clear()
    (row,) = section.rows
    times = section.data["first_figure"]
    assert len(times["after"]) == len(times["before"]) == 2 and all(t > 0 for t in times["after"] + times["before"])
    assert row.ratio == statistics.median(times["after"]) / statistics.median(times["before"])


def test_notebook_imports_are_timed_both_ways_in_alternating_order(monkeypatch):
    import bench.sections
    from bench.sections import Section, notebook_import_rows

    calls = []

    def fake_seconds(refused: bool) -> float:
        calls.append(refused)
        return 1.0 if refused else 3.0

    monkeypatch.setattr(bench.sections, "notebook_import_seconds", fake_seconds)
    section = Section("speed", "test")
    notebook_import_rows(section, repeats=3)
    assert calls == [True, False, False, True, True, False]
    (row,) = section.rows
    assert row.ratio == 1.0 / 3.0 and row.met
    assert section.data["notebook_imports"] == {"after": (1.0, 1.0, 1.0), "before": (3.0, 3.0, 3.0)}


def test_a_fresh_process_imports_notebook_readers(tmp_path):
    from bench.sections import notebook_import_seconds

    assert notebook_import_seconds(refused=True) > 0


def test_a_test_file_is_timed_and_its_failure_reported(tmp_path):
    from bench.sections import run_test_file

    (tmp_path / "test_passes.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    (tmp_path / "test_fails.py").write_text("def test_wrong():\n    assert 1 + 1 == 3\n")
    seconds, passed = run_test_file(str(tmp_path / "test_passes.py"))
    assert passed and seconds > 0
    assert run_test_file(str(tmp_path / "test_fails.py"))[1] is False
