"""The leak scan of a built student edition: nothing in it may hold an answer.

It looks, in every text file of the edition, for

* a solution region's code (three consecutive lines from between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
  of an instructor notebook, unless the instructor notebook has them outside its regions too) and nbgrader's
  markers themselves;
* a hidden test cell's text (a line of 20 characters or more of its hidden-test region) and the seeds its calls
  pass (``seed=424242``);
* a hidden case (a line of a constant of a grader-only module, ``autograder/checks/hidden``);
* the reference of a graded function: a grader-only module (``GRADER_ONLY``), a function whose code is that of a
  function of a reference module (``REFERENCE_MODULES``), or a library function named as a function the
  assignments grade, unless ``ALLOWED`` says why it hands over nothing.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")

#: Folders of the instructor's repository that are never in the edition.
GRADER_ONLY = ("autograder/checks/hidden",)
#: Modules of the instructor's repository whose functions are references of graded functions: no function of the
#: edition may have the code of one of theirs.
REFERENCE_MODULES = ("cnnlab/feature_visualization.py",)

#: Library functions of the edition named as a graded function, and why they give no answer away.
ALLOWED = {
    ("cnnlab/metrics.py", "iou_per_class"): "calls torchmetrics, which Assignment 2's rules forbid in its metrics",
    ("cnnlab/metrics.py", "mean_iou"): "calls torchmetrics, which Assignment 2's rules forbid in its metrics",
    ("cnnlab/metrics.py", "pixel_accuracy"): "calls torchmetrics, which Assignment 2's rules forbid in its metrics",
    ("cnnlab/plotting.py", "filter_grid"): "draws a figure; Assignment 4's check refuses it in the graded filter_grid",
}
#: Files of the edition whose functions may bear graded names, and why.
ALLOWED_FILES = {
    "cnnlab/feature_visualization.py": (
        "lecture 03's stand-in: each function hands back a recorded result and computes nothing"
    ),
}

_REGION = re.compile(r"^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS)[ \t]*\n(.*?)^[ \t]*### END \1[ \t]*$", re.M | re.S)
_SEED = re.compile(r"\bseed\s*=\s*(\d{3,})")


@dataclass(frozen=True)
class Leak:
    """One thing found: the edition's file, what it is, and the text."""

    path: str
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}: {self.text}"


@dataclass
class Secrets:
    """What must not appear in the edition, gathered from the instructor's repository."""

    solution_runs: set[tuple[str, ...]]
    hidden_lines: set[str]
    seeds: set[str]
    graded_names: set[str]
    reference_bodies: set[str]


#: How many consecutive lines of a solution region make a leak (single lines are often generic code).
SHINGLE = 3


def _lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if len(line.strip()) >= 20}


def _code(text: str) -> list[str]:
    """The non-blank, non-comment lines of ``text``, stripped."""
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def shingles(text: str) -> set[tuple[str, ...]]:
    """Every run of ``SHINGLE`` consecutive code lines of ``text`` (at least 80 characters together)."""
    lines = _code(text)
    runs = (tuple(lines[i : i + SHINGLE]) for i in range(len(lines) - SHINGLE + 1))
    return {run for run in runs if sum(map(len, run)) >= 80}


def _constant_lines(source: str) -> set[str]:
    """The lines of a module's top-level constants (its cases and seeds), without lone brackets."""
    tree = _parse(source)
    found = set()
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            segment = ast.get_source_segment(source, node) or ""
            found |= {
                line.strip()
                for line in segment.splitlines()
                if len(line.strip().strip("[](){},")) >= 12 and not line.strip().startswith("#")
            }
    return found


def secrets(root: Path) -> Secrets:
    """The solution regions, hidden-test regions, hidden seeds, hidden cases and graded names of ``root``."""
    solution, hidden, seeds, names, provided, given = set(), set(), set(), set(), set(), set()
    for path in sorted((root / "solutions").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            outside = _REGION.sub("", cell.source)
            provided |= _lines(outside)
            given |= shingles(outside)
            for kind, body in _REGION.findall(cell.source):
                if kind == "SOLUTION":
                    solution |= shingles(body)
                    names |= {n.name for n in ast.walk(_parse(body)) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
                else:
                    hidden |= _lines(body)
                    seeds |= set(_SEED.findall(body))
    for path in sorted((root / "autograder/checks/hidden").rglob("*.py")):
        hidden |= _constant_lines(path.read_text())
    bodies = set()
    for module in REFERENCE_MODULES:
        for node in ast.walk(_parse((root / module).read_text())):
            if isinstance(node, ast.FunctionDef):
                bodies.add(_body(node))
    return Secrets(solution - given, hidden - provided, seeds, names, bodies)


def _body(node: ast.FunctionDef) -> str:
    """A function's code, its docstring and its name left out: the same code under any name or docs (a one-statement
    body, such as ``return (x - 0.5).pow(2).mean(...)``, has two or more lines to match only when it is longer)."""
    body = node.body[1:] if node.body and isinstance(node.body[0], ast.Expr) else node.body
    return "\n".join(ast.dump(statement) for statement in body)


def _parse(source: str) -> ast.AST:
    try:
        return ast.parse(re.sub(r"^[ \t]*[%!].*$", "", source, flags=re.M))
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (UnicodeDecodeError, OSError):
        return None


def scan(edition: Path, found: Secrets) -> list[Leak]:
    """Every leak in the built ``edition``."""
    leaks = []
    for path in sorted(p for p in edition.rglob("*") if p.is_file()):
        relative = path.relative_to(edition).as_posix()
        if any(relative == m or relative.startswith(m + "/") for m in GRADER_ONLY):
            leaks.append(Leak(relative, "grader-only module", relative))
        text = _text(path)
        if text is None:
            continue
        if path.suffix == ".ipynb":  # the code as a reader sees it, not JSON-escaped
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        lines = {line.strip() for line in text.splitlines()}
        leaks += [Leak(relative, "nbgrader marker", m) for m in MARKERS if m in text]
        leaks += [
            Leak(relative, "solution code", " / ".join(run)) for run in sorted(found.solution_runs & shingles(text))
        ]
        leaks += [Leak(relative, "hidden test or case", line) for line in sorted(found.hidden_lines & lines)]
        leaks += [Leak(relative, "hidden seed", s) for s in sorted(found.seeds) if re.search(rf"\b{s}\b", text)]
        if path.suffix == ".py":
            for node in ast.walk(_parse(text)):
                if (
                    isinstance(node, ast.FunctionDef)
                    and _body(node).count("\n")
                    and _body(node) in found.reference_bodies
                ):
                    leaks.append(Leak(relative, "a reference function's code", node.name))
                if (
                    isinstance(node, ast.FunctionDef | ast.ClassDef)
                    and node.col_offset == 0
                    and node.name in found.graded_names
                    and (relative, node.name) not in ALLOWED
                    and relative not in ALLOWED_FILES
                ):
                    leaks.append(Leak(relative, "a graded function's name", node.name))
    return leaks
