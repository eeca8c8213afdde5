"""autograder: the course's grading tools on top of nbgrader.

Checks called from assignment test cells (``autograder.checks``); the ``autograder`` command line
(``cli``): ``release`` (validated generation), ``collect`` (folders, LMS zips through ``lms``, the exchange),
``grade`` (the parallel, resumable batch of ``pipeline``), ``feedback`` (without hidden tests), ``export``
(CSV, Gradescope, class statistics) and ``demo``.
"""

__version__ = "0.1.0"
