"""nbgrader's cell-metadata validation with each schema checked and compiled once.

nbgrader validates the ``nbgrader`` metadata of every cell of every notebook it reads or writes with
``jsonschema.validate(metadata, schema)``, which checks the schema itself and builds a new validator on every
call: about a quarter of a second of each Assignment 1 grading job. :func:`compile_once` gives nbgrader's module a
``jsonschema`` whose ``validate`` keeps one validator per schema and raises the same error (jsonschema's
``best_match`` of the errors, as ``jsonschema.validate`` does).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema


class CompiledSchemas:
    """``jsonschema`` as nbgrader uses it, with :meth:`validate` reusing one validator per schema."""

    def __init__(self) -> None:
        self._validators: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:  # everything else is jsonschema's own
        return getattr(jsonschema, name)

    def validate(self, instance: Any, schema: dict[str, Any]) -> None:
        """Raise jsonschema's ``ValidationError`` when ``instance`` does not follow ``schema``."""
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = self._validators[key] = cls(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error


def compile_once() -> None:
    """Make nbgrader's metadata validation reuse its compiled schemas (in this process; idempotent)."""
    from nbgrader.nbgraderformat import common

    if isinstance(common.jsonschema, CompiledSchemas):
        return
    if common.jsonschema is jsonschema:  # an nbgrader that validates differently is left alone
        common.jsonschema = CompiledSchemas()
