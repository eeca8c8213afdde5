"""nbgrader's metadata validation with compiled schemas judges cells exactly as nbgrader's own."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from nbformat.v4 import new_code_cell
from nbgrader.nbgraderformat import MetadataValidator, common

from autograder.pipeline.schemas import CompiledSchemas, compile_once


def _cells():
    good = new_code_cell("x = 1")
    good.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 2, "grade_id": "t1",
                                 "schema_version": 3, "task": False}  # fmt: skip
    cases = {"good": good}
    for name, change in {
        "points_as_text": {"points": "two"},
        "grade_id_missing": {"grade_id": None},
        "solution_not_bool": {"solution": "yes"},
        "unknown_key": {"colour": "red"},
    }.items():
        cell = copy.deepcopy(good)
        for key, value in change.items():
            if value is None:
                del cell.metadata["nbgrader"][key]
            else:
                cell.metadata["nbgrader"][key] = value
        cases[name] = cell
    return cases


def _verdict(validator, cell) -> str | None:
    try:
        validator.validate_cell(cell)
    except jsonschema.ValidationError as err:
        return err.message
    return None


def test_compiled_schemas_give_nbgraders_verdicts(monkeypatch):
    stock = {name: _verdict(MetadataValidator(), cell) for name, cell in _cells().items()}
    assert stock["good"] is None and sum(v is not None for v in stock.values()) >= 3  # the cases do test something
    monkeypatch.setattr(common, "jsonschema", jsonschema)
    compile_once()
    assert isinstance(common.jsonschema, CompiledSchemas)
    compiled = {name: _verdict(MetadataValidator(), cell) for name, cell in _cells().items()}
    assert compiled == stock
    compile_once()  # idempotent
    assert isinstance(common.jsonschema, CompiledSchemas)


def test_a_schema_is_checked_once_and_reused():
    schemas = CompiledSchemas()
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    schemas.validate({"n": 1}, schema)
    schemas.validate({"n": 2}, dict(schema))
    assert len(schemas._validators) == 1
    with pytest.raises(jsonschema.ValidationError, match="'n' is a required property"):
        schemas.validate({}, schema)
    with pytest.raises(jsonschema.SchemaError):
        schemas.validate({}, {"type": 12})
