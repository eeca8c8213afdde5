"""``python -m bench``: every benchmark in one run, each against its baseline, into one report.

    python -m bench [--out DIR] [--only NAME ...] [--full] [--repeats N] [--grading ASSIGNMENT=N ...]

Sections: ``data`` (rendering each dataset vs the training loop it feeds), ``fields`` (a per-pixel classifier, a
shallow FCN and a U-Net at equal training budgets: what the receptive field buys; with ``--full`` or ``--only
fields``), ``layers`` (NumPy conv vs PyTorch), ``unet`` (ours vs smp.Unet at equal wall-clock budgets), ``speed``
(speed work: before against after), ``grading`` (vs sequential nbgrader; sandbox overhead), ``scaling`` (grading
time vs submissions), ``ci`` (lecture notebooks in fast mode and each end-to-end grading test file under pytest by
itself; with ``--full`` or ``--only ci``). The default sizes fit 15 minutes on a 2-core CPU; ``--full`` uses the
sizes the project's targets name (budgets 30/60/90/120 s, 16 + 4 submissions, scaling to 64, Assignment 3's
grading) and the ``fields`` and ``ci`` sections, which take longer.
``--grading 02_unet=2`` grades only the assignments named, with that many submissions each (one assignment's
measurement without the others': Assignment 2's takes about 15 minutes for 2 submissions); ``--overhead-rounds``
sets the rounds of single jobs behind the sandbox-overhead and fork-server rows (default 4).
Writes ``REPORT.md``, ``results.json`` and the plots to ``--out`` (default: bench/results/suite).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench.suite import Section, report, write

SECTIONS = ("data", "fields", "layers", "unet", "speed", "grading", "scaling", "ci")
#: Sections only ``--full`` (or ``--only``) runs: each takes longer than the default suite's budget allows.
FULL_ONLY = ("fields", "ci")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "suite"
#: The course's assignments, which the grading section can grade.
ASSIGNMENTS = ("01_layers", "02_unet", "03_architectures", "04_visualization")


def machine() -> str:
    import os

    from cnnlab.device import describe

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {describe()}"


def run(name: str, args: argparse.Namespace, scratch: Path) -> Section:
    """One section, sized by ``--full``."""
    from bench import grading, sections

    if name == "data":
        return sections.data_section(args.repeats)
    if name == "fields":
        return sections.fields_section()
    if name == "layers":
        return sections.layers_section(max(args.repeats, 5))
    if name == "unet":
        return sections.unet_section([30, 60, 90, 120] if args.full else [30, 60], args.out)
    if name == "speed":
        return sections.speed_section(repeats=args.repeats)
    if name == "grading":
        full = dict(zip(ASSIGNMENTS, (16, 4, 4, 4), strict=True))
        # Assignment 3's grading (a 40 s training, five runs for its overhead pairs) is in --full only: with it
        # the default suite took about 16 minutes
        # 16 submissions of Assignment 1 in the default run too: its throughput target is for a batch, whose
        # workers and fork servers start once (4 submissions measured mostly their start)
        counts = args.grading or (full if args.full else {"01_layers": 16, "04_visualization": 1})
        return grading.throughput_section(scratch / "throughput", counts, rounds=args.overhead_rounds)
    if name == "scaling":
        return grading.scaling_section(scratch / "scaling", [1, 4, 16, 64] if args.full else [1, 4, 16], args.out)
    if name == "ci":
        return sections.ci_section()
    raise ValueError(name)


def grading_counts(text: str) -> tuple[str, int]:
    """``ASSIGNMENT=N`` (``--grading``): an assignment of the course and a positive number of submissions."""
    assignment, sep, count = text.partition("=")
    if not sep or assignment not in ASSIGNMENTS or not count.isdigit() or int(count) < 1:
        choices = ", ".join(ASSIGNMENTS)
        raise argparse.ArgumentTypeError(f"expected ASSIGNMENT=N with ASSIGNMENT one of {choices}, got {text!r}")
    return assignment, int(count)


def main(argv: list[str] | None = None) -> int:
    from bench import grading

    rounds = grading.OVERHEAD_ROUNDS
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for REPORT.md, results.json, plots")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--full", action="store_true", help="the sizes the targets name (longer than 15 min)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each timing (default 5)")
    parser.add_argument("--grading", nargs="+", type=grading_counts, metavar="ASSIGNMENT=N",
                        help="grading section: only these assignments, N submissions each")  # fmt: skip
    parser.add_argument(
        "--overhead-rounds",
        type=int,
        default=rounds,
        metavar="N",
        help=f"grading section: rounds of single jobs per arm behind the overhead rows (default {rounds})",
    )
    args = parser.parse_args(argv)
    args.grading = dict(args.grading) if args.grading else None
    if args.overhead_rounds < 1:
        parser.error("--overhead-rounds must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = args.only or [s for s in SECTIONS if s not in FULL_ONLY or args.full]
    done: list[Section] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name in wanted:
            t0 = time.perf_counter()
            print(f"::: {name}", flush=True)
            section = run(name, args, Path(tmp))
            section.seconds = time.perf_counter() - t0
            done.append(section)
            print("\n".join(section.lines), flush=True)
            text = report(done, machine(), time.perf_counter() - start, " ".join(["python -m bench", *sys.argv[1:]]))
            write(args.out, done, text)  # after every section: an interrupted run keeps what it measured
    print(f"\nwrote {args.out / 'REPORT.md'}")
    print(text.split("## Summary", 1)[1].split("\n## ", 1)[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
