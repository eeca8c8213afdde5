"""The pieces of ``python -m bench``: repeated measurements, result rows, sections and the written report.

Every benchmark measures ours and a baseline in the same run, repeats, and reports the median with the
spread (min–max). A :class:`Row` is one comparison for the summary table (with its target, when the project
set one); a :class:`Section` is one benchmark's own tables and plots.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    """Repeated measurements of one quantity."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def text(self, fmt: str = ".2f") -> str:
        """``median (min–max)``."""
        return f"{self.median:{fmt}} ({min(self.values):{fmt}}–{max(self.values):{fmt}})"


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Row:
    """One comparison of the summary: ours against a baseline, their ratio, and the target."""

    benchmark: str
    ours: str
    baseline: str
    ratio: float
    ratio_means: str  # what the ratio is, e.g. "ours / torch (lower is better)"
    target: str = ""
    met: bool | None = None

    def markdown(self) -> str:
        verdict = {True: "met", False: "**missed**", None: ""}[self.met]
        return (
            f"| {self.benchmark} | {self.ours} | {self.baseline} | {self.ratio:.2f}× ({self.ratio_means}) | "
            f"{self.target} | {verdict} |"
        )


@dataclass
class Section:
    """One benchmark's output."""

    name: str
    title: str
    lines: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    seconds: float = 0.0
    data: dict = field(default_factory=dict)


SUMMARY_HEADER = [
    "| benchmark | ours | baseline | ratio | target | |",
    "| --- | --- | --- | --- | --- | --- |",
]


def report(sections: Iterable[Section], machine: str, total_seconds: float, command: str) -> str:
    """The whole report in Markdown: the summary of every comparison, then each section."""
    sections = list(sections)
    lines = [
        "# Benchmarks",
        "",
        f"Machine: {machine}. Command: `{command}`. Total time: {total_seconds / 60:.1f} min.",
        "",
        "## Summary",
        "",
        *SUMMARY_HEADER,
        *(row.markdown() for s in sections for row in s.rows),
        "",
    ]
    for s in sections:
        lines += [f"## {s.title}", "", *s.lines, ""]
        lines += [f"![{s.name}]({plot})" for plot in s.plots]
        lines += ["", f"({s.seconds:.0f} s)", ""]
    return "\n".join(lines).rstrip() + "\n"


def write(out: Path, sections: list[Section], text: str) -> None:
    """``REPORT.md`` and ``results.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "REPORT.md").write_text(text)
    payload = {s.name: {"rows": [asdict(r) for r in s.rows], "seconds": s.seconds, "data": s.data} for s in sections}
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=str))


class PeakMemory:
    """Samples the resident memory of this process's descendants (and itself) in a thread; keeps the peaks.

    ``peak_total`` is the largest sum over all of them; ``peak_process`` the largest single process tree
    directly below this one (a grading worker with its kernels).
    """

    def __init__(self, include_self: bool = False, interval: float = 0.25) -> None:
        self.include_self, self.interval = include_self, interval
        self.peak_total = self.peak_process = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            try:
                total = me.memory_info().rss if self.include_self else 0
                for child in me.children():
                    tree = 0
                    for proc in [child, *child.children(recursive=True)]:
                        try:
                            tree += proc.memory_info().rss
                        except psutil.Error:
                            pass
                    total += tree
                    self.peak_process = max(self.peak_process, tree)
                self.peak_total = max(self.peak_total, total)
            except psutil.Error:
                pass
            self._stop.wait(self.interval)


def save_plot(path: Path, curves: Iterable[tuple[list, list, str, str]], xlabel: str, ylabel: str) -> None:
    """A small line plot as a PNG: ``curves`` are ``(x, y, matplotlib style, legend label)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for x, y, style, label in curves:
        ax.plot(x, y, style, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
