"""A job's scratch gradebook is written without syncing; every other gradebook keeps SQLite's durability.

Real nbgrader gradebooks on disk (copies of one, as jobs copy the assignment's template); each asks SQLite for
the settings of its own connection.
"""

from __future__ import annotations

import pytest
from nbgrader.api import Gradebook
from sqlalchemy import text

from autograder.pipeline.scratchdb import volatile

FULL, OFF = 2, 0


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("template") / "gradebook.db"
    with Gradebook(f"sqlite:///{path}"):
        pass
    return path.read_bytes()


def _settings(path) -> tuple[int, str]:
    with Gradebook(f"sqlite:///{path}") as gb:
        gb.update_or_create_student("ada")  # the gradebook works as usual
        assert [s.id for s in gb.students] == ["ada"]
        return gb.db.execute(text("PRAGMA synchronous")).scalar(), gb.db.execute(text("PRAGMA journal_mode")).scalar()


def test_only_the_named_scratch_gradebook_skips_syncing_and_only_while_named(tmp_path, template):
    scratch, course = tmp_path / "scratch.db", tmp_path / "course.db"
    scratch.write_bytes(template)
    course.write_bytes(template)
    with volatile(scratch):
        assert _settings(scratch) == (OFF, "memory")
        assert _settings(course) == (FULL, "delete")  # the course's gradebook, opened meanwhile, is untouched
    assert _settings(scratch) == (FULL, "delete")  # once the job is over, the same path is durable again


def test_a_scratch_gradebook_named_through_a_link_is_recognised(tmp_path, template):
    real = tmp_path / "real"
    real.mkdir()
    (real / "gradebook.db").write_bytes(template)
    (tmp_path / "link").symlink_to(real)
    with volatile(tmp_path / "link" / "gradebook.db"):
        assert _settings(real / "gradebook.db")[0] == OFF
