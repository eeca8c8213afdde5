"""autograder: the course's grading tools on top of nbgrader.

Checks called from assignment test cells (``autograder.checks``); the ``autograder`` command line
(``cli``): ``release`` (validated generation), ``collect`` (folders, LMS zips through ``lms``, the exchange),
``grade`` (the parallel, resumable batch of ``pipeline``), ``feedback`` (without hidden tests), ``export``
(CSV, Gradescope, class statistics) and ``demo``.
"""

import sys

__version__ = "0.1.0"

# jsonschema, which nbformat and nbgrader validate notebooks with, imports the optional package rfc3987_syntax
# for its "iri" string format, and that package builds a parser from its grammar on import: about 2.4 s of CPU
# in every process that reads a notebook (the grader, each worker, release, feedback; measured by
# ``python -m bench --only speed``). No schema used here checks that format, so the import is refused:
# jsonschema then leaves "iri" unchecked, as it does wherever the package is not installed.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
