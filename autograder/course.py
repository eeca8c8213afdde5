"""An nbgrader course directory as the pipeline sees it: its config, folders, gradebook and assignments.

Any nbgrader course works: the course's own ``nbgrader_config.py`` is loaded (as ``nbgrader`` itself would
load it), and nbgrader's ``CourseDirectory`` resolves every path, so renamed folders are honoured.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_FILE = "nbgrader_config.py"
#: The pipeline's own bookkeeping (journal, lock, templates) lives in this folder of the course root.
STATE_DIR = ".autograder"


class AutograderError(Exception):
    """A problem with the user's input or course; its message says what is wrong and where."""


def quiet_logger(name: str) -> logging.Logger:
    """A logger for an nbgrader app that keeps its messages out of the console (``capture_log`` reads them)."""
    log = logging.getLogger(f"autograder.nbgrader.{name}")
    log.propagate = False
    log.setLevel(logging.INFO)
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log


def load_config(root: str | os.PathLike) -> Config:
    """The nbgrader ``Config`` of the course at ``root``: its ``nbgrader_config.py`` when present, root set."""
    root = Path(root).resolve()
    config = Config()
    if (root / CONFIG_FILE).is_file():
        config.merge(PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config())
    # The course is where we were told it is, whatever root the file names (a copied course keeps working).
    config.CourseDirectory.root = str(root)
    return config


@dataclass
class Course:
    """An nbgrader course at ``root`` with its configuration."""

    root: Path
    config: Config = field(default_factory=Config)

    @classmethod
    def open(cls, root: str | os.PathLike = ".") -> Course:
        """Open the course at ``root`` (default: the current directory)."""
        root = Path(root).resolve()
        if not root.is_dir():
            raise AutograderError(f"course directory {root} does not exist")
        return cls(root=root, config=load_config(root))

    def coursedir(self, **attrs: str):
        """nbgrader's ``CourseDirectory`` for this course (``attrs`` set e.g. ``assignment_id``)."""
        from nbgrader.coursedir import CourseDirectory

        cd = CourseDirectory(config=self.config)
        for name, value in attrs.items():
            setattr(cd, name, value)
        return cd

    def directory(self, kind: str) -> Path:
        """The absolute folder nbgrader uses for ``kind`` (``source``, ``release``, ``submitted``, ...)."""
        return self.root / getattr(self.coursedir(), f"{kind}_directory")

    @property
    def db_url(self) -> str:
        return self.coursedir().db_url

    @property
    def course_id(self) -> str:
        return self.coursedir().course_id

    @property
    def state_dir(self) -> Path:
        path = self.root / STATE_DIR
        path.mkdir(exist_ok=True)
        return path

    def source_notebooks(self, assignment: str) -> list[str]:
        """Names (without ``.ipynb``) of the assignment's instructor notebooks; a clear error when none."""
        folder = self.directory("source") / assignment
        if not folder.is_dir():
            known = sorted(p.name for p in self.directory("source").glob("*") if p.is_dir())
            raise AutograderError(
                f"no assignment {assignment!r}: {folder} does not exist "
                f"(assignments here: {', '.join(known) or 'none'})"
            )
        names = sorted(p.stem for p in folder.glob("*.ipynb"))
        if not names:
            raise AutograderError(f"assignment {assignment!r} has no notebooks in {folder}")
        return names

    def gradebook(self, assignment: str = "ASSIGNMENT", *, create: bool = False):
        """nbgrader's ``Gradebook`` of the course (use as a context manager).

        An SQLite gradebook must exist already (``release`` makes it) unless ``create``: opening a missing one would
        leave an empty ``gradebook.db`` in whatever folder a command was run by mistake. ``assignment`` names the
        release to run in that error.
        """
        from nbgrader.api import Gradebook

        url = self.db_url
        if not create and url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            path = Path(url.removeprefix("sqlite:///"))  # relative: to the working directory, as SQLite reads it
            if not path.exists():
                raise AutograderError(
                    f"no gradebook at {path}: {self.root} is not a course that has released an assignment; run "
                    f"the command in the course's directory (or pass --course), or `autograder release {assignment}` "
                    "first"
                )
        return Gradebook(url, self.course_id)

    def released_notebooks(self, assignment: str) -> list[str]:
        """Notebook names of the assignment as recorded in the gradebook by ``release``; error if not released."""
        from nbgrader.api import MissingEntry

        with self.gradebook(assignment) as gb:
            try:
                names = sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
            except MissingEntry:
                names = []
        if not names:
            raise AutograderError(
                f"assignment {assignment!r} is not in the gradebook {self.db_url}: "
                f"run `autograder release {assignment}` first"
            )
        return names
