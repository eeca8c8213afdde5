"""The grading pipeline: one submission is a pure job (:mod:`.job`) run through an executor (:mod:`.workers`);
the coordinator (:mod:`.coordinator`) alone writes the gradebook (:mod:`.gradebook`) and the journal
(:mod:`.journal`); :mod:`.execute` keeps a crashing or endless notebook from stopping anything.
"""
