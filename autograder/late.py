"""The course's late policy, as an nbgrader ``LateSubmissionPlugin``, so that ``nbgrader autograde`` agrees.

Set it in ``nbgrader_config.py``::

    c.AssignLatePenalties.plugin_class = "autograder.late.LatePolicy"
    c.LatePolicy.per_day = 0.10        # 10% of the points earned, per started day late
    c.LatePolicy.cap = 0.50            # never more than half of them
    c.LatePolicy.grace_minutes = 15    # up to 15 minutes late is on time

nbgrader calls the plugin once per notebook with the points the notebook earned and how many seconds the
submission is late (its timestamp minus the due date plus the student's extension). The penalty is a fraction
of the points earned: ``per_hour`` per started hour plus ``per_day`` per started day (usually one of the two),
at most ``cap``, counted from the due date once the lateness exceeds ``grace_minutes``. Being linear in the
points, the penalty of an assignment is the same fraction of its total however it is split into notebooks.
nbgrader stores each notebook's penalty in the gradebook (``late_submission_penalty``), and every export of
``autograder export`` subtracts it from there.
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float, TraitError, validate


class LatePolicy(LateSubmissionPlugin):
    """A fraction of the points earned per started hour or day late, with a cap and a grace period."""

    per_hour = Float(0.0, help="fraction of the points earned lost per started hour late (0.05: 5%)").tag(config=True)
    per_day = Float(0.0, help="fraction of the points earned lost per started day late (0.1: 10%)").tag(config=True)
    cap = Float(1.0, help="the largest fraction of the points earned that lateness can cost").tag(config=True)
    grace_minutes = Float(0.0, help="lateness up to this many minutes costs nothing").tag(config=True)

    @validate("per_hour", "per_day", "cap")
    def _fraction(self, proposal):
        value = proposal["value"]
        if not 0 <= value <= 1:
            name = proposal["trait"].name
            raise TraitError(f"LatePolicy.{name} is a fraction between 0 and 1 (0.1 for 10%), got {value!r}")
        return value

    @validate("grace_minutes")
    def _grace(self, proposal):
        if proposal["value"] < 0:
            raise TraitError(f"LatePolicy.grace_minutes cannot be negative, got {proposal['value']!r}")
        return proposal["value"]

    def fraction(self, total_seconds_late: float) -> float:
        """The fraction of the points earned that ``total_seconds_late`` seconds of lateness cost."""
        if total_seconds_late <= 0 or total_seconds_late <= 60 * self.grace_minutes:
            return 0.0
        started_hours = math.ceil(total_seconds_late / 3600)
        started_days = math.ceil(total_seconds_late / 86400)
        return min(self.cap, self.per_hour * started_hours + self.per_day * started_days)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        fraction = self.fraction(total_seconds_late)
        if not fraction:
            return None
        return round(float(score or 0) * fraction, 6)
