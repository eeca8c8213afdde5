"""``autograder similarity``: which students' solutions look alike, the starter code left out.

Each collected submission's solution cells (the cells nbgrader marks ``solution`` in the release, found by
their ``grade_id``) are compared, notebook by notebook, with every other student's, by copydetect
(the copydetect package: code is tokenized with Pygments, names and strings
replaced by placeholders so renaming changes nothing, and fingerprinted by winnowing, as MOSS does). The
release's own solution-cell text (the starter code: signatures, docstrings, ``raise NotImplementedError()``)
is taken out: its lines are removed from each student's code where they still stand in order, and what is
left of it anywhere is copydetect's boilerplate, so what every student was given matches nobody. A pair's
similarity is the mean over its two students of the share of each one's fingerprinted code found in the
other's.

It writes ``exports/<assignment>_similarity.html`` (self-contained: the pairs, each with the matching code
highlighted side by side) and ``exports/<assignment>_similarity.csv`` (every pair), and prints the top pairs.
A high similarity is a reason to look, not a verdict.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import nbformat

from .course import AutograderError, Course

#: copydetect's noise threshold: matches shorter than this many characters of tokenized code are ignored.
NOISE = 25
#: Pairs shown on the console and detailed in the report.
TOP = 10


@dataclass
class Code:
    """One student's solution code of one notebook, fingerprinted."""

    text: str
    fingerprint: object  # copydetect.CodeFingerprint

    @property
    def tokens(self) -> float:
        return float(self.fingerprint.token_coverage)


@dataclass
class Pair:
    """Two students' similarity: each one's share of code found in the other's, and the matches per notebook."""

    a: str
    b: str
    overlap_a: float = 0.0
    overlap_b: float = 0.0
    tokens_a: float = 0.0
    tokens_b: float = 0.0
    matches: dict[str, tuple[str, str]] = field(default_factory=dict)  # notebook -> highlighted HTML of a, b

    @property
    def share_a(self) -> float:
        return self.overlap_a / self.tokens_a if self.tokens_a else 0.0

    @property
    def share_b(self) -> float:
        return self.overlap_b / self.tokens_b if self.tokens_b else 0.0

    @property
    def score(self) -> float:
        return (self.share_a + self.share_b) / 2


@dataclass
class SimilarityReport:
    assignment: str
    pairs: list[Pair]
    students: list[str]
    skipped: list[tuple[str, str]]
    html_path: Path | None = None
    csv_path: Path | None = None

    def text(self, top: int = TOP) -> str:
        lines = [f"{self.assignment}: {len(self.students)} student(s) compared, {len(self.pairs)} pair(s)"]
        if self.pairs:
            lines.append(f"most similar pairs (mean share of each one's code found in the other's), top {top}:")
        for rank, p in enumerate(self.pairs[:top], 1):
            lines.append(f"  {rank:2d}. {p.a} ~ {p.b}: {p.score:.0%} ({p.a} {p.share_a:.0%}, {p.b} {p.share_b:.0%})")
        if self.skipped:
            lines.append(f"not compared ({len(self.skipped)}):")
            lines += [f"  {s}: {why}" for s, why in self.skipped]
        for path in (self.html_path, self.csv_path):
            if path:
                lines.append(f"wrote {path}")
        return "\n".join(lines)


def _solution_ids(nb) -> list[str]:
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.cell_type == "code"
        and c.metadata.get("nbgrader", {}).get("solution")
        and "grade_id" in c.metadata.get("nbgrader", {})
    ]


def _cells(nb, ids: list[str]) -> str:
    """The source of the code cells ``ids`` of ``nb``, in the release's order (the first cell of each id)."""
    by_id: dict[str, str] = {}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if c.cell_type == "code" and gid in ids and gid not in by_id:
            by_id[gid] = c.source if isinstance(c.source, str) else "".join(c.source)
    return "\n\n".join(by_id.get(gid, "") for gid in ids).strip() + "\n"


def without_starter(text: str, starter: str) -> str:
    """``text`` without the lines it shares, in order, with the ``starter`` code (compared without indentation)."""
    import difflib

    lines = text.splitlines()
    given = [line.strip() for line in starter.splitlines()]
    matcher = difflib.SequenceMatcher(None, given, [line.strip() for line in lines], autojunk=False)
    drop = {j + i for _, j, size in matcher.get_matching_blocks() for i in range(size) if lines[j + i].strip()}
    return "\n".join(line for n, line in enumerate(lines) if n not in drop).strip() + "\n"


def _fingerprint(text: str, boilerplate, noise: int):
    from copydetect import CodeFingerprint

    return CodeFingerprint("solution.py", noise, 1, boilerplate, fp=io.StringIO(text))


def _starter(course: Course, assignment: str, noise: int) -> dict[str, tuple[list[str], str, object]]:
    """Per released notebook: its solution cells' ids, their starter code and its fingerprints."""
    import numpy as np
    from copydetect import CodeFingerprint

    found = {}
    for name in course.released_notebooks(assignment):
        path = course.directory("release") / assignment / f"{name}.ipynb"
        try:
            release = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as err:
            raise AutograderError(f"cannot read the release {path}: {err}") from None
        ids = _solution_ids(release)
        starter = _cells(release, ids)
        hashes = CodeFingerprint("starter.py", noise, 1, fp=io.StringIO(starter)).hashes
        found[name] = (ids, starter, np.unique(np.array(list(hashes), dtype=np.int64)))
    return found


def similarity(
    course: Course, assignment: str, output: Path | None = None, top: int = TOP, noise: int = NOISE
) -> SimilarityReport:
    """Compare every pair of collected submissions of ``assignment``; write the HTML and CSV reports."""
    from copydetect.detector import compare_files
    from copydetect.utils import highlight_overlap

    from .pipeline.coordinator import find_submissions

    if top < 1:
        raise AutograderError(f"--top must be 1 or more, got {top}")
    if noise < 5:
        raise AutograderError(f"--min-match must be at least 5 characters, got {noise}")
    starter = _starter(course, assignment, noise)
    codes: dict[str, dict[str, Code]] = {}
    skipped: list[tuple[str, str]] = []
    for sub in find_submissions(course, assignment):
        files, _ = sub.read(first=tuple(f"{n}.ipynb" for n in starter))
        mine: dict[str, Code] = {}
        unreadable = []
        for name, (ids, given, boilerplate) in starter.items():
            data = files.get(f"{name}.ipynb")
            if data is None:
                continue
            try:
                nb = nbformat.reads(data.decode("utf-8"), as_version=4)
            except Exception:
                unreadable.append(f"{name}.ipynb")
                continue
            text = without_starter(_cells(nb, ids), given)
            code = Code(text, _fingerprint(text, boilerplate, noise))
            if code.tokens:
                mine[name] = code
        if mine:
            codes[sub.student] = mine
        elif unreadable:
            skipped.append((sub.student, f"{', '.join(unreadable)} is not a readable notebook"))
        else:
            skipped.append((sub.student, "no code beyond the starter code"))
    pairs = []
    for a, b in combinations(sorted(codes), 2):
        pair = Pair(a, b)
        pair.tokens_a = sum(c.tokens for c in codes[a].values())
        pair.tokens_b = sum(c.tokens for c in codes[b].values())
        for name in sorted(set(codes[a]) & set(codes[b])):
            ca, cb = codes[a][name], codes[b][name]
            _, (sim_a, sim_b), (slices_a, slices_b) = compare_files(ca.fingerprint, cb.fingerprint)
            if not slices_a.size:
                continue
            # the share of each one's fingerprinted tokens found in the other's, back in tokens
            pair.overlap_a += float(sim_a) * ca.tokens
            pair.overlap_b += float(sim_b) * cb.tokens
            hl = [
                highlight_overlap(code.text, sl, "<mark>", "</mark>", escape_html=True)[0]
                for code, sl in ((ca, slices_a), (cb, slices_b))
            ]
            pair.matches[name] = (hl[0], hl[1])
        pairs.append(pair)
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    report = SimilarityReport(assignment, pairs, sorted(codes), skipped)
    out = Path(output) if output else course.root / "exports"
    out.mkdir(parents=True, exist_ok=True)
    report.html_path = _write_html(report, out / f"{assignment}_similarity.html", top, noise)
    report.csv_path = _write_csv(report, out / f"{assignment}_similarity.csv")
    return report


def _write_csv(report: SimilarityReport, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student_a", "student_b", "similarity", "share_a", "share_b"])
        for p in report.pairs:
            w.writerow([p.a, p.b, round(p.score, 4), round(p.share_a, 4), round(p.share_b, 4)])
    tmp.replace(path)
    return path


STYLE = """
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
.pair { margin-top: 2em; }
.side { display: flex; gap: 1em; }
.side > div { flex: 1; min-width: 0; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
mark { background: #ffd27a; }
"""


def _write_html(report: SimilarityReport, path: Path, top: int, noise: int) -> Path:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        f"<html><head><meta charset='utf-8'><title>{e(report.assignment)}: similarity</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{e(report.assignment)}: similarity of solutions</h1>",
        f"<p>{len(report.students)} students compared by copydetect (matches of at least {noise} characters of "
        "tokenized code; names and strings do not count), the starter code of the release left out. A pair's "
        "similarity is the mean share of each student's code found in the other's. A high similarity is a "
        "reason to look, not a verdict.</p>",
        "<table><tr><th>#</th><th>students</th><th>similarity</th><th>shares</th></tr>",
    ]
    for rank, p in enumerate(report.pairs, 1):
        link = f"<a href='#pair{rank}'>{e(p.a)} ~ {e(p.b)}</a>" if rank <= top else f"{e(p.a)} ~ {e(p.b)}"
        parts.append(
            f"<tr><td>{rank}</td><td>{link}</td><td>{p.score:.0%}</td>"
            f"<td>{e(p.a)} {p.share_a:.0%}, {e(p.b)} {p.share_b:.0%}</td></tr>"
        )
    parts.append("</table>")
    if report.skipped:
        parts.append("<h2>Not compared</h2><ul>")
        parts += [f"<li>{e(s)}: {e(why)}</li>" for s, why in report.skipped]
        parts.append("</ul>")
    for rank, p in enumerate(report.pairs[:top], 1):
        parts.append(f"<div class='pair' id='pair{rank}'><h2>{rank}. {e(p.a)} ~ {e(p.b)}: {p.score:.0%}</h2>")
        if not p.matches:
            parts.append("<p>No matching code.</p>")
        for name, (hl_a, hl_b) in p.matches.items():
            parts.append(f"<h3>{e(name)}.ipynb</h3><div class='side'>")
            parts.append(f"<div><b>{e(p.a)}</b><pre>{hl_a}</pre></div><div><b>{e(p.b)}</b><pre>{hl_b}</pre></div>")
            parts.append("</div>")
        parts.append("</div>")
    parts.append("</body></html>")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path
