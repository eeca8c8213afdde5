"""The test files reach pytest-xdist's workers longest first (tests/support/ordering.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import tomllib

from tests.support.nbcourse import ROOT
from tests.support.ordering import LONGEST_FIRST, longest_first


def _item(file: str, test: str) -> SimpleNamespace:
    return SimpleNamespace(path=Path("tests") / file, name=test)


def test_the_longest_files_come_first_and_every_order_within_is_kept():
    items = [_item("test_a.py", "one"), _item("test_late.py", "x"), _item("test_a.py", "two"),
             _item("test_long.py", "first"), _item("test_b.py", "three"), _item("test_long.py", "second"),
             _item("test_longer.py", "only")]  # fmt: skip
    ordered = longest_first(items, ["test_longer.py", "test_long.py", "test_late.py"])
    assert [(i.path.name, i.name) for i in ordered] == [
        ("test_longer.py", "only"), ("test_long.py", "first"), ("test_long.py", "second"), ("test_late.py", "x"),
        ("test_a.py", "one"), ("test_a.py", "two"), ("test_b.py", "three")]  # fmt: skip


def test_xdist_keeps_the_collection_order_and_the_listed_files_exist():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"].split()
    assert "--no-loadscope-reorder" in options  # otherwise xdist orders files by their number of tests
    assert options[options.index("--dist") + 1] == "loadfile"
    assert all((ROOT / "tests" / name).is_file() for name in LONGEST_FIRST)
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
