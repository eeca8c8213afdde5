"""A submitted notebook made fit for nbgrader before it is graded, or set aside with the reason.

nbgrader trusts the notebook it is given: a notebook of hundreds of megabytes or hundreds of thousands of cells
takes minutes and gigabytes to validate; a cell that copies another's ``grade_id`` (a duplicated cell), claims an
id the assignment does not have, or carries malformed nbgrader metadata makes ``autograde`` fail, so the
submission was never graded and retried on every run. Here, in the job's scratch course:

- a notebook over :data:`MAX_NOTEBOOK_BYTES` or with more cells than its release allows (``notebook_too_large``),
  or that is not a readable notebook (``corrupt``), is set aside: nbgrader then scores it zero;
- nbgrader metadata that does not belong to the release — an unknown or repeated ``grade_id``, metadata that is
  not a mapping — is removed from the cell (``cell_metadata_removed``); the cell itself still runs, as any cell
  the student wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .execute import problem

#: Largest notebook a job grades (bytes of its file).
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
#: Most cells a notebook may have: this many times its release's cells, and at least ``MIN_CELL_LIMIT``.
CELL_FACTOR, MIN_CELL_LIMIT = 5, 1000


def cell_limit(release: Any | None) -> int:
    """The most cells a submission of ``release`` (a notebook, or ``None``) may have."""
    cells = len(release.cells) if release is not None else 0
    return max(MIN_CELL_LIMIT, CELL_FACTOR * cells)


def release_ids(release: Any | None) -> set[str] | None:
    """The ``grade_id`` of every cell of the release that has nbgrader metadata (``None`` without a release)."""
    if release is None:
        return None
    return {
        c.metadata["nbgrader"]["grade_id"]
        for c in release.cells
        if isinstance(c.get("metadata", {}).get("nbgrader"), dict) and c.metadata["nbgrader"].get("grade_id")
    }


def _set_aside(path: Path) -> None:
    path.rename(path.with_name(path.name + ".unreadable"))


def _first_line(err: BaseException) -> str:
    text = str(err)
    return text.splitlines()[0][:300] if text else type(err).__name__


def prepare_notebook(path: Path, name: str, release: Any | None) -> list[dict[str, Any]]:
    """Check and clean the submitted notebook at ``path`` in place; return the problems (set aside when fatal)."""
    import nbformat

    def flag(kind: str, text: str) -> list[dict[str, Any]]:
        return [dict(problem(kind, text, None), notebook=name)]

    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        _set_aside(path)
        return flag("notebook_too_large", f"{name}.ipynb has {size} bytes, over the limit of {MAX_NOTEBOOK_BYTES}")
    try:
        raw = json.loads(path.read_bytes())
    except (ValueError, RecursionError, MemoryError) as err:
        _set_aside(path)
        return flag("corrupt", f"{name}.ipynb is not a readable notebook: {_first_line(err)}")
    cells = raw.get("cells") if isinstance(raw, dict) else None
    limit = cell_limit(release)
    if isinstance(cells, list) and len(cells) > limit:
        _set_aside(path)
        return flag("notebook_too_large", f"{name}.ipynb has {len(cells)} cells, over the limit of {limit}")
    try:
        nb = nbformat.reads(json.dumps(_repaired(raw)), as_version=4)
        nbformat.validate(nb)
    except Exception as err:
        _set_aside(path)
        return flag("corrupt", f"{name}.ipynb is not a readable notebook: {_first_line(err)}")
    known = release_ids(release)
    removed = _clean_metadata(nb, known) if known is not None else []
    nbformat.write(nb, path)  # as read and repaired, so that nbgrader reads what was checked
    if not removed:
        return []
    text = (
        f"nbgrader metadata that is not the assignment's was removed from {len(removed)} cell(s) "
        f"({', '.join(removed[:5])}{' ...' if len(removed) > 5 else ''}); those cells ran as the student's own code"
    )
    return flag("cell_metadata_removed", text)


def _repaired(raw: Any) -> Any:
    """The notebook with what editors commonly leave out put back (a code cell's outputs and execution count, a
    cell's metadata); a cell whose source is not text is not repaired, and the notebook stays invalid."""
    for cell in raw.get("cells", []) if isinstance(raw, dict) and isinstance(raw.get("cells"), list) else []:
        if not isinstance(cell, dict):
            continue
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
        if cell.get("cell_type") == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    return raw


def _clean_metadata(nb: Any, known: set[str]) -> list[str]:
    """Remove nbgrader metadata with an unknown, repeated or malformed ``grade_id``; the cells changed."""
    seen: set[str] = set()
    removed = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(gid, str) and gid in known and gid not in seen:
            seen.add(gid)
            continue
        label = f"cell {index}" + (f" ({gid[:40]!r})" if isinstance(gid, str) and gid else "")
        removed.append(label)
        del cell.metadata["nbgrader"]
    return removed
