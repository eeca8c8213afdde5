"""Dataset benchmark: how fast ``cnnlab.data`` renders, and what ``Shapes`` teaches.

1. Rendering speed of each synthetic dataset on one core, against the rate at which a CPU training loop
   of a small U-Net consumes images (the baseline, measured in the same run): the ratio says how much
   headroom on-the-fly generation leaves.
2. The receptive-field table: a per-pixel classifier (1x1 convolutions), a shallow FCN (7x7 receptive
   field) and a small U-Net trained with the same budget on ``Shapes``; mIoU and pixel accuracy on the
   test split. Pixel accuracy alone would hide the gap, because background dominates.

Run ``python3 -m bench.data`` (about 10 minutes on a 2-core CPU) or ``--quick`` for a short smoke run whose
numbers are not the recorded ones. Results go to ``bench/results/data.md`` and ``data.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from bench.models import PixelClassifier, ShallowFCN, SmallUNet
from cnnlab.data import Cells, Shapes, ShapesClassification
from cnnlab.device import describe
from cnnlab.train import evaluate_segmentation, fit

RESULTS = Path(__file__).resolve().parent / "results"
RF_HEADER = (
    "| model | receptive field (px) | parameters | mIoU | pixel accuracy | train time (s) |",
    "| --- | --- | --- | --- | --- | --- |",
)


def images_per_second(dataset, count: int, repeats: int) -> list[float]:
    """Render ``count`` items of ``dataset`` ``repeats`` times (fresh indices each time); return the rates."""
    dataset[0]  # load bundled textures once
    rates = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(count):
            dataset[(r * count + i) % len(dataset)]
        rates.append(count / (time.perf_counter() - start))
    return rates


def training_consumption(size: int, batch_size: int, steps: int) -> list[float]:
    """Images per second that one U-Net training step consumes on this machine (the baseline)."""
    model = SmallUNet(3, Shapes.num_classes)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(batch_size, 3, size, size)
    y = torch.randint(0, Shapes.num_classes, (batch_size, size, size))
    rates = []
    for step in range(steps + 2):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= 2:
            rates.append(batch_size / (time.perf_counter() - start))
    return rates


def empirical_receptive_field(model: torch.nn.Module, size: int) -> int:
    """Side of the input region that influences the centre output pixel (capped by the image size)."""
    model = model.eval()
    x = torch.rand(1, 3, size, size, requires_grad=True)
    model(x)[0, :, size // 2, size // 2].sum().backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1)).sum(dim=1))
    return int(rows.max() - rows.min() + 1)


def speed_section(quick: bool) -> tuple[list[str], dict]:
    torch.set_num_threads(1)
    count, repeats = (100, 2) if quick else (400, 5)
    cases = [
        ("Shapes 64 px", Shapes("train", 100_000, size=64)),
        ("Shapes 128 px", Shapes("train", 100_000, size=128)),
        ("ShapesClassification 64 px", ShapesClassification("train", 100_000)),
        ("Cells 128 px", Cells("train", 100_000, size=128)),
        ("Cells 128 px + weight map", Cells("train", 100_000, size=128, with_weights=True)),
    ]
    torch.set_num_threads(2)
    consume = {s: training_consumption(s, 16, 3 if quick else 8) for s in (64, 128)}
    torch.set_num_threads(1)
    lines = [
        "| dataset | rendered images/s, 1 core (median, min–max) | U-Net training consumes, 2 cores | ratio |",
        "| --- | --- | --- | --- |",
    ]
    data = {}
    for name, ds in cases:
        rates = images_per_second(ds, count // 2 if "weight" in name else count, repeats)
        size = 64 if "64" in name else 128
        base = statistics.median(consume[size])
        med = statistics.median(rates)
        data[name] = {"rates": rates, "consume": consume[size], "ratio": med / base}
        lines.append(
            f"| {name} | {med:.0f} ({min(rates):.0f}–{max(rates):.0f}) | {base:.0f} at {size} px | {med / base:.1f}× |"
        )
    torch.set_num_threads(2)
    return lines, data


def receptive_field_section(quick: bool, steps: int, seed: int = 0) -> tuple[list[str], dict]:
    torch.set_num_threads(2)
    n_train, n_test = (400, 100) if quick else (3000, 500)
    train = Shapes("train", n_train).as_tensors()
    test = Shapes("test", n_test).as_tensors()
    models = [
        ("per-pixel (1×1 convs)", PixelClassifier),
        ("shallow FCN (3×3 ×3)", ShallowFCN),
        ("small U-Net (depth 3)", SmallUNet),
    ]
    lines = list(RF_HEADER)
    data = {}
    for name, cls in models:
        torch.manual_seed(seed)
        model = cls(3, Shapes.num_classes)
        rf = empirical_receptive_field(cls(3, Shapes.num_classes), 64)
        start = time.perf_counter()
        fit(
            model,
            train,
            steps=steps,
            batch_size=16,
            lr=3e-3,
            schedule="onecycle",
            device="cpu",
            seed=seed,
            progress=False,
        )
        seconds = time.perf_counter() - start
        result = evaluate_segmentation(model, test, Shapes.num_classes)
        params = sum(p.numel() for p in model.parameters())
        rf_text = f"{rf}" + (" (whole image)" if rf >= 64 else "")
        lines.append(
            f"| {name} | {rf_text} | {params:,} | {result['miou']:.3f} | {result['pixel_acc']:.3f} | {seconds:.0f} |"
        )
        print(lines[-1], flush=True)
        data[name] = {"receptive_field": rf, "params": params, "seconds": seconds, **result}
    lines.append("")
    lines.append(
        f"Same budget for every model: {steps} Adam steps of 16 images (one-cycle, max lr 3e-3), "
        f"{n_train} training images, evaluated on {n_test} test images of 64×64."
    )
    return lines, data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run; numbers are not the recorded ones")
    parser.add_argument("--steps", type=int, default=None, help="training steps per model (default 1500, quick 60)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for data.md and data.json")
    args = parser.parse_args(argv)
    steps = args.steps or (60 if args.quick else 1500)
    header = [f"Machine: {describe('cpu')}" + (" — QUICK RUN, not the recorded numbers" if args.quick else ""), ""]
    speed_lines, speed = speed_section(args.quick)
    print("\n".join(header + speed_lines), flush=True)
    print("\n" + "\n".join(RF_HEADER), flush=True)
    rf_lines, rf = receptive_field_section(args.quick, steps)
    print("\n".join(rf_lines[-2:]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data.md").write_text("\n".join(header + speed_lines + [""] + rf_lines) + "\n")
    (args.out / "data.json").write_text(json.dumps({"speed": speed, "receptive_field": rf}, indent=2))
    print(f"\nwrote {args.out / 'data.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
