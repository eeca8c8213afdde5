"""The grading job's checks on a submission's integrity, before and after nbgrader grades it.

Before: released test and locked cells that the student edited, deleted or retyped (nbgrader puts them
back; this says so), and student code that patches the checking machinery. After: for notebooks whose
instructor version opts in (notebook metadata ``"autograder": {"verify": "replay"}``), every graded test cell
that earned points in the kernel is judged again outside it (:mod:`autograder.verify.replay`); a cell whose
checks fail there scores zero, and the feedback and the report say why. A cell whose checks can only be judged in
the kernel (timing) keeps the kernel's points only when the kernel is otherwise trusted: every student function it
names was confirmed outside by another cell, and nothing in the notebook tampered with the checks or registered a
hook (:func:`kernel_only_verdicts`); otherwise it scores zero, flagged ``unverifiable``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

from ..verify.integrity import changed_cells, tampering_in
from ..verify.replay import FAIL, PASS, UNVERIFIABLE, CellVerdict, replay_cell, trusted_imports
from .execute import problem
from .files import rewrite_notebook

VERIFY_KEY = "autograder"
#: A kernel-only cell that does not keep the kernel's points (see :func:`kernel_only_verdicts`).
UNVERIFIED = "unverified"
#: Problems after which nothing judged in the kernel alone is believed.
DISTRUSTED = {"hook_registered", "tamper_attempt", "record_limit", "verdict_overturned"}


def wants_replay(reference: nbformat.NotebookNode) -> bool:
    """Whether the instructor's notebook asks for outside verdicts."""
    return reference.metadata.get(VERIFY_KEY, {}).get("verify") == "replay"


def _nbgrader(cell: Any) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {})


def protected_cells(release: nbformat.NotebookNode) -> dict[str, dict[str, Any]]:
    """The released locked cells (test cells included): grade_id -> checksum and type, as the student got them."""
    from nbgrader.utils import compute_checksum

    return {
        _nbgrader(c)["grade_id"]: {"checksum": compute_checksum(c), "cell_type": c.cell_type}
        for c in release.cells
        if _nbgrader(c).get("locked") and _nbgrader(c).get("grade_id")
    }


def submission_evidence(submitted: Path, protected: dict[str, dict[str, Any]], notebook: str) -> list[dict[str, Any]]:
    """Problems for changed test cells and for tampering code in the student's own cells."""
    try:
        nb = nbformat.read(submitted, as_version=4)
    except Exception:
        return []  # an unreadable notebook is reported by the job's own check
    found = [
        dict(problem(kind, f"test cell tampered with: {words}", gid), notebook=notebook)
        for kind, gid, words in changed_cells(protected, nb)
    ]
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or _nbgrader(cell).get("grade_id") in protected:
            continue
        phrases = tampering_in(cell.get("source", ""))
        if phrases:
            where = _nbgrader(cell).get("grade_id") or f"cell {index}"
            text = f"code that patches the checking machinery in {where}: " + "; ".join(phrases)
            found.append(dict(problem("tamper_attempt", text, where), notebook=notebook))
    return found


def outside_verdicts(
    reference: nbformat.NotebookNode, records: dict[str, str | None], earned: set[str]
) -> list[CellVerdict]:
    """Replay every graded test cell in ``earned`` (it scored in the kernel) on the kernel's records."""
    trusted = trusted_imports(
        [
            c.source
            for c in reference.cells
            if c.cell_type == "code" and _nbgrader(c).get("locked") and not _nbgrader(c).get("grade")
        ]
    )
    verdicts = []
    for cell in reference.cells:
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution") and gid in earned:
            verdicts.append(replay_cell(gid, cell.source, records.get(gid), trusted))
    return verdicts


def _functions(record_text: str | None) -> set[str] | None:
    """The student functions a cell's record names (``None`` when the record is unusable)."""
    try:
        record = json.loads(record_text) if record_text else None
        names = record.get("names", {}) if isinstance(record, dict) else None
        return {str(n) for n, info in names.items() if isinstance(info, dict) and info.get("kind") == "function"}
    except (ValueError, RecursionError, AttributeError, TypeError):
        return None


def kernel_only_verdicts(
    verdicts: list[CellVerdict], records: dict[str, str | None], problems: list[dict[str, Any]]
) -> list[CellVerdict]:
    """Decide the cells that could be judged in the kernel only (``UNVERIFIABLE``).

    Such a cell keeps the kernel's verdict when nothing in ``problems`` (the notebook's) shows tampering or a
    hook, no other cell was overturned, and every student function the cell names was confirmed outside by a
    cell that passed; otherwise it becomes ``UNVERIFIED`` (scored zero).
    """
    confirmed: set[str] = set()
    for v in verdicts:
        if v.status == PASS:
            confirmed |= _functions(records.get(v.grade_id)) or set()
    distrust = sorted({p["kind"] for p in problems if p.get("kind") in DISTRUSTED})
    if any(v.status == FAIL for v in verdicts):
        distrust.append("verdict_overturned")
    out = []
    for v in verdicts:
        if v.status != UNVERIFIABLE:
            out.append(v)
            continue
        names = _functions(records.get(v.grade_id))
        unconfirmed = sorted(names - confirmed) if names is not None else ["(no usable record)"]
        if distrust:
            reason = f"{v.reason}, and the notebook was flagged: {', '.join(sorted(set(distrust)))}"
        elif unconfirmed:
            reason = f"{v.reason}, and {', '.join(unconfirmed)} passed no check the grader could confirm"
        else:
            out.append(v)
            continue
        out.append(CellVerdict(v.grade_id, UNVERIFIED, reason))
    return out


def overturn(gradebook: Any, autograded: Path, notebook: str, assignment: str, student: str,
             verdicts: list[CellVerdict]) -> list[dict[str, Any]]:  # fmt: skip
    """Score zero the cells whose outside verdict failed; note it in the autograded notebook; the problems."""
    failed = [v for v in verdicts if v.status in (FAIL, UNVERIFIED)]
    if not failed:
        return []
    found = []
    for verdict in failed:
        grade = gradebook.find_grade(verdict.grade_id, notebook, assignment, student)
        grade.auto_score = 0
        if verdict.status == UNVERIFIED:
            kind = "unverifiable"
            text = f"{verdict.grade_id} passed in the notebook, but the grader could not confirm it ({verdict.reason})"
        else:
            kind = "verdict_overturned"
            text = (
                f"{verdict.grade_id} passed in the notebook, but its checks fail when the grader runs them on your "
                f"code's outputs outside the notebook ({verdict.reason})"
            )
        found.append(dict(problem(kind, text + "; scored 0", verdict.grade_id), notebook=notebook))
    gradebook.db.commit()
    if autograded.exists():
        nb = nbformat.read(autograded, as_version=4)
        by_id = {v.grade_id: v for v in failed}
        for cell in nb.cells:
            verdict = by_id.get(_nbgrader(cell).get("grade_id"))
            if verdict is not None and cell.cell_type == "code":
                evalue = f"the grader's own run of this cell's checks failed: {verdict.reason}"
                cell.outputs.append(
                    nbformat.NotebookNode(
                        output_type="error",
                        ename="VerifiedOutside",
                        evalue=evalue,
                        traceback=[f"VerifiedOutside: {evalue}"],
                    )  # fmt: skip
                )
        rewrite_notebook(nb, autograded)
    return found


def read_records(record_dir: Path, notebook: str) -> dict[str, str | None]:
    path = record_dir / f"{notebook}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def summary(verdicts: list[CellVerdict]) -> str:
    """One line for the job's log: how many cells were verified, kept the kernel's verdict, or failed."""
    counts = {s: sum(v.status == s for v in verdicts) for s in (PASS, FAIL, UNVERIFIED, UNVERIFIABLE)}
    return (
        f"outside verdicts: {counts[PASS]} confirmed, {counts[FAIL]} overturned, "
        f"{counts[UNVERIFIABLE]} judged in the kernel only, {counts[UNVERIFIED]} unverifiable (scored 0)"
    )
