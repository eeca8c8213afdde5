"""``python3 -m bench.mutation [--assignment ID ...] [--sample N] [--jobs N] [--out DIR]``: the mutation table.

Writes ``<out>/<assignment>.json`` (every mutant, its outcome and reason) and ``<out>/REPORT.md`` (the table, the
equivalent mutants with their reasons, the survivors and the surprises), and prints the table.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from . import core

ASSIGNMENTS = ("01_layers", "02_unet", "03_architectures", "04_visualization")


def config(assignment: str) -> core.Config:
    return importlib.import_module(f"bench.mutation.a{assignment}").CONFIG


def markdown_table(tables: list[core.Table]) -> str:
    lines = [
        "| assignment | mutants (hand-written) | killed | survived | equivalent | mutation score | surprise rate "
        "| time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in tables:
        lines.append(
            f"| {t.assignment} | {t.mutants} ({t.handwritten}) | {t.killed} | {t.survived} | {t.equivalent} | "
            f"{100 * t.score:.1f}% | {100 * t.surprise_rate:.1f}% ({t.surprises}) | {t.seconds / 60:.1f} min |"
        )
    return "\n".join(lines)


def details(results: list[core.Result]) -> str:
    out = []
    equivalent = [r for r in results if r.equivalent]
    survived = [r for r in results if r.outcome.status != "killed" and not r.equivalent]
    surprises = [r for r in results if r.outcome.status == "killed" and not r.outcome.visible_failed]
    limits = [
        r for r in results if r.outcome.reason.split(":")[-2:][0].strip().startswith(("timeout", "memory", "crash"))
    ]
    for title, rows, reason in (
        ("equivalent", equivalent, lambda r: r.equivalent),
        ("survived", survived, lambda r: r.outcome.reason or "every test cell passed"),
        ("surprises (killed by hidden tests only)", surprises, lambda r: r.outcome.reason),
        ("killed by a limit", limits, lambda r: r.outcome.reason),
    ):
        out.append(f"\n#### {title}: {len(rows)}\n")
        out += [f"- `{r.job.id}` {r.job.description} — {reason(r)}" for r in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.mutation", description=__doc__)
    parser.add_argument("--assignment", action="append", choices=ASSIGNMENTS, help="default: all four")
    parser.add_argument("--sample", type=int, help="a seeded sample of this many generated mutants per assignment")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cell", help="only the mutants of this solution cell (and hand-written ones touching it)")
    parser.add_argument("--exclude-cell", action="append", default=[], help="leave out the mutants of this cell")
    parser.add_argument("--out", type=Path, default=Path("bench/results/mutation"))
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (each in its own forked child)")
    parser.add_argument(
        "--retable",
        action="store_true",
        help="run nothing: judge the saved run in --out again with the current lists of equivalent mutants",
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tables, report = [], []
    for assignment in args.assignment or ASSIGNMENTS:
        cfg = config(assignment)
        if args.retable:
            results, tab = core.load(args.out / f"{assignment}.json", cfg)
            core.dump(args.out / f"{assignment}.json", results, tab)
            tables.append(tab)
            report.append(f"\n### {assignment}\n" + details(results))
            continue

        def progress(i: int, n: int, r: core.Result, assignment=assignment) -> None:
            if args.quiet:
                return
            status = "equivalent" if r.equivalent else r.outcome.status
            print(f"[{assignment} {i}/{n}] {status:>10} {r.outcome.seconds:5.1f}s {r.job.id}", file=sys.stderr)

        def only(j: core.Job) -> bool:
            if args.cell and not (j.cell == args.cell or args.cell in j.changed):
                return False
            return not (j.kind == "generated" and j.cell in args.exclude_cell)

        done: list[core.Result] = []

        def progress_and_save(i: int, n: int, r: core.Result, assignment=assignment, done=done) -> None:
            progress(i, n, r)
            done.append(r)
            if i % 25 == 0:  # an interrupted run keeps what it measured
                core.dump(args.out / f"{assignment}.partial.json", done, core.table(assignment, done, 0.0))

        results, tab, _ = core.run(
            cfg, sample=args.sample, seed=args.seed, only=only, progress=progress_and_save, workers=args.jobs
        )
        (args.out / f"{assignment}.partial.json").unlink(missing_ok=True)
        core.dump(args.out / f"{assignment}.json", results, tab)
        tables.append(tab)
        left_out = f" (generated mutants of {', '.join(args.exclude_cell)} left out)" if args.exclude_cell else ""
        report.append(f"\n### {assignment}{left_out}\n" + details(results))
        print(markdown_table([tab]), flush=True)
    text = (
        ("# Mutation run, judged again with the current equivalent lists" if args.retable else "# Mutation run")
        + f" ({time.strftime('%Y-%m-%d %H:%M')}"
        + (f", sample of {args.sample} per assignment" if args.sample else "")
        + ")\n\n"
        + markdown_table(tables)
        + "\n"
        + "\n".join(report)
        + "\n"
    )
    (args.out / "REPORT.md").write_text(text)
    print(markdown_table(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
