"""``autograder similarity``: two near-copies among honest, independent solutions are the top pair, by a margin.

The assignment is a small statistics function (mean, standard deviation, median, mode) with a starter
signature, docstring and input check. Six students solve it independently; ``carol`` copies ``alice``,
renaming every variable and reordering statements; ``blank`` submits the release unchanged. ``erin`` and
``gina`` happen to write alike (the same idioms), as honest students do.
"""

from __future__ import annotations

import csv
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.course import AutograderError, Course
from autograder.similarity import similarity
from tests.support.toycourse import TOY, cli, release_of, released_course

HEAD = (
    "def describe(values):\n"
    '    """Mean, standard deviation, median and mode of a non-empty list of numbers."""\n'
    "    if not values or not all(isinstance(v, (int, float)) for v in values):\n"
    '        raise ValueError(f"describe needs a non-empty list of numbers, got {values!r}")\n'
)
SOLUTION = HEAD + (
    "    ### BEGIN SOLUTION\n"
    "    import statistics\n"
    "    return (statistics.fmean(values), statistics.pstdev(values), statistics.median(values),\n"
    "            statistics.mode(values))\n"
    "    ### END SOLUTION\n"
)
TEST = "assert describe([1, 2, 2, 3]) == (2.0, 0.7071067811865476, 2.0, 2)"

HONEST = {
    "alice": HEAD
    + """    n = len(values)
    mean = sum(values) / n
    variance = sum((x - mean) ** 2 for x in values) / n
    ordered = sorted(values)
    if n % 2:
        median = ordered[n // 2]
    else:
        median = (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    counts = {}
    for x in values:
        counts[x] = counts.get(x, 0) + 1
    mode = max(counts, key=counts.get)
    return mean, variance ** 0.5, median, mode
""",
    "bob": HEAD
    + """    import math
    total = 0.0
    for v in values:
        total += v
    avg = total / len(values)
    sq = 0.0
    for v in values:
        sq += (v - avg) * (v - avg)
    std = math.sqrt(sq / len(values))
    s = list(values)
    s.sort()
    mid = len(s) // 2
    med = s[mid] if len(s) % 2 == 1 else 0.5 * (s[mid - 1] + s[mid])
    best, best_count = None, 0
    for v in s:
        c = s.count(v)
        if c > best_count:
            best, best_count = v, c
    return avg, std, med, best
""",
    "dan": HEAD
    + """    import numpy as np
    arr = np.asarray(values, dtype=float)
    uniq, cnt = np.unique(arr, return_counts=True)
    middle = np.median(arr)
    return float(arr.mean()), float(arr.std()), float(middle), float(uniq[np.argmax(cnt)])
""",
    "erin": HEAD
    + """    from collections import Counter
    size = len(values)
    m = sum(values) / size
    dev = [(x - m) ** 2 for x in values]
    sd = (sum(dev) / size) ** 0.5
    srt = sorted(values)
    half, odd = divmod(size, 2)
    md = srt[half] if odd else (srt[half - 1] + srt[half]) / 2
    common = Counter(values).most_common(1)[0][0]
    return m, sd, md, common
""",
    "gina": HEAD
    + """    length = len(values)
    average = sum(values) / length
    squares = [(value - average) ** 2 for value in values]
    deviation = (sum(squares) / length) ** 0.5
    ranked = sorted(values)
    centre = length // 2
    median = ranked[centre] if length % 2 else (ranked[centre - 1] + ranked[centre]) / 2
    tally = {}
    for value in values:
        tally[value] = tally.get(value, 0) + 1
    return average, deviation, median, max(tally, key=tally.get)
""",
    "frank": HEAD
    + """    import statistics as st
    centre = st.fmean(values)
    spread = st.pstdev(values, mu=centre)
    return centre, spread, st.median(values), st.multimode(values)[0]
""",
}

# alice's solution, every name changed and the statements reordered (the mode first, the median last)
COPY = (
    HEAD
    + """    freq = {}
    for item in values:
        freq[item] = freq.get(item, 0) + 1
    most = max(freq, key=freq.get)
    count = len(values)
    avg_value = sum(values) / count
    var = sum((item - avg_value) ** 2 for item in values) / count
    sorted_vals = sorted(values)
    if count % 2:
        mid = sorted_vals[count // 2]
    else:
        mid = (sorted_vals[count // 2 - 1] + sorted_vals[count // 2]) / 2
    return avg_value, var ** 0.5, mid, most
"""
)


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, points: float = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3, "solution": solution}
    meta["task"] = False
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def stats_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Statistics", metadata=_meta("intro")),
            new_code_cell(SOLUTION, metadata=_meta("describe", solution=True)),
            new_code_cell(TEST, metadata=_meta("test_describe", grade=True, points=2)),
        ]
    )
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def _submit(root, student: str, source: str | None) -> None:
    nb = nbformat.read(release_of(root), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "describe" and source is not None:
            cell.source = source
    folder = root / "submitted" / student / TOY
    folder.mkdir(parents=True)
    (folder / f"{TOY}.ipynb").write_text(json.dumps(nb))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = released_course(tmp_path_factory.mktemp("similarity") / "course", stats_notebook())
    for student, source in {**HONEST, "carol": COPY, "blank": None}.items():
        _submit(root, student, source)
    return root


def test_the_copies_are_the_top_pair_by_a_margin(course):
    report = similarity(Course.open(course), TOY)
    first, second = report.pairs[:2]
    assert {first.a, first.b} == {"alice", "carol"}
    assert first.score >= 0.6 and first.score - second.score >= 0.3, report.text()
    # every pair of the honest students (and carol with anyone but alice) is below the copies
    assert len(report.pairs) == 21  # 7 students with code, blank left out
    assert all(p.score < first.score - 0.3 for p in report.pairs[1:])


def test_the_starter_code_matches_nobody(course):
    report = similarity(Course.open(course), TOY)
    assert report.skipped == [("blank", "no code beyond the starter code")]
    assert "blank" not in report.students
    # frank's solution is short; the signature and docstring all of them share are not counted as a match
    frank = [p for p in report.pairs if "frank" in (p.a, p.b)]
    assert max(p.score for p in frank) < 0.3, [(p.a, p.b, p.score) for p in frank]


def test_the_reports_and_the_console(course):
    run = cli("similarity", TOY, "--top", "3", course=course)
    lines = run.stdout.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("most similar pairs"))
    assert lines[top + 1].strip().startswith("1. alice ~ carol:")
    assert "blank: no code beyond the starter code" in run.stdout
    page = (course / "exports" / f"{TOY}_similarity.html").read_text()
    assert "alice ~ carol" in page and "<mark>" in page and "http" not in page.split("</style>")[0]
    assert page.count("class='pair'") == 3
    assert "raise NotImplementedError" not in page and "freq.get(item, 0)" in page
    with open(course / "exports" / f"{TOY}_similarity.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 21 and {rows[0]["student_a"], rows[0]["student_b"]} == {"alice", "carol"}
    assert float(rows[0]["similarity"]) >= float(rows[1]["similarity"]) + 0.3


def test_student_code_cannot_inject_html(course, tmp_path):
    root = released_course(tmp_path / "c", stats_notebook())
    evil = HONEST["alice"].replace("mode = max", "label = '</pre><script>alert(1)</script>'\n    mode = max")
    _submit(root, "alice", HONEST["alice"])
    _submit(root, "mallory", evil)
    report = similarity(Course.open(root), TOY)
    page = report.html_path.read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_bad_arguments_are_refused(course):
    with pytest.raises(AutograderError, match="--top must be 1 or more"):
        similarity(Course.open(course), TOY, top=0)
    with pytest.raises(AutograderError, match="no assignment|not in the gradebook"):
        similarity(Course.open(course), "nope")
