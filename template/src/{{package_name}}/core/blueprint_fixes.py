# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""What `blueprint check` says about a value the model refuses, and the fix it suggests.

The model (core/blueprint_model.py) decides what is valid; this module only words its
refusals for a person editing YAML: the message, and what to write instead, from the
error's kind and where it is. Standard library and pydantic only (see core/blueprint.py).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from annotated_types import Ge, Gt, Le
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from . import blueprint_rules as rules
from .blueprint_model import Blueprint

SCHEMA_NAME = "blueprint.schema.json"
PLACEMENT_FIX = 'use "in-process", {worker: redis} or {worker: nats}'
CELL_NAME_FIX = (
    "name cells with a lowercase identifier of at most 30 characters that is "
    "not reserved (core, gateway, sandbox, ...) and not a Python keyword"
)
TYPES = {
    "int_type": "integer",
    "float_type": "number",
    "string_type": "string",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "tuple_type": "array",
    "list_type": "array",
    "bool_type": "boolean",
}


def message_for(detail: ErrorDetails, path: Sequence[str | int]) -> str:
    """The rule's own message where copier's questions share it (the same words from
    `copier copy` and `blueprint check`), else pydantic's, said plainly."""
    shared = rules.problem_at(path, detail["input"])
    if shared:
        return shared
    if detail["type"] == "int_type" and isinstance(detail["input"], float):
        return "not an integer"
    return str(detail["msg"]).removeprefix("Value error, ")


def fix_for(detail: ErrorDetails, path: Sequence[str | int]) -> str:
    kind, on_key, last = detail["type"], "[key]" in detail["loc"], path[-1:]
    if kind == "missing":
        return "add the missing key"
    if kind == "int_type" and isinstance(detail["input"], float):  # YAML's 8000.0
        return "use a whole number"
    if path == ["service", "http_port"] and kind != "missing":
        if isinstance(detail["input"], int) and not isinstance(detail["input"], bool):
            return f"use a port between {rules.LOWEST_PORT} and {rules.HIGHEST_PORT}"
        return f"give a value of type integer, {rules.LOWEST_PORT} to {rules.HIGHEST_PORT}"
    if path[:1] == ["roles"]:
        return _role_fix(kind, on_key, path)
    if path[:1] == ["cells"] and on_key:
        return CELL_NAME_FIX
    if path[:1] == ["delivery"] and kind != "extra_forbidden":
        if last == ["max_attempts"]:
            return "give the number of tries, a whole number from 1 to 100 (1: no retry)"
        return "give seconds above 0, as in backoff_seconds: {initial: 1, max: 60}"
    if "placement" in path and kind != "extra_forbidden":
        return PLACEMENT_FIX
    if last == ["retire_by"]:  # YAML reads 2027-10-01 as a date
        return 'quote it: "YYYY-MM-DD", the provider\'s retirement date (or your review date)'
    if last == ["model"] and kind == "string_pattern_mismatch":
        return "use an exact model id such as gpt-4.1-mini-2025-04-14 (no spaces)"
    return _generic_fix(detail, path)


def _generic_fix(detail: ErrorDetails, path: Sequence[str | int]) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(allowed_keys(path[:-1]))
        return f"remove the key or correct its spelling (allowed: {allowed})"
    if kind == "missing":
        return "add the missing key"
    if kind in ("literal_error", "enum"):
        expected = str((detail.get("ctx") or {}).get("expected", ""))
        return "use one of: " + re.sub(r"'|\"", "", expected.replace(" or ", ", "))
    if kind in TYPES:
        return f"give a value of type {TYPES[kind]}"
    if kind in ("greater_than", "greater_than_equal", "less_than_equal"):
        low, high = bounds(path)
        what = "a port" if path[-1:] == ["http_port"] else "a value"
        return (
            f"use {what} between {low} and {high}"
            if high is not None
            else f"use {what} above {low}"
        )
    if kind == "too_short" and path == ["cells"]:
        return "list at least one cell"
    if kind == "value_error" and "more than once" in str(detail["msg"]):
        return "list each item once"
    return f"see the JSON Schema in {SCHEMA_NAME}"


def _role_fix(kind: str, on_key: bool, path: Sequence[str | int]) -> str:
    if on_key:
        return "name roles with at most 30 lowercase letters, digits, '_' or '-'"
    if kind == "value_error" and isinstance(path[-1], int):
        return 'grant a capability such as "notes.write", "notes.*", "*.read" or "*"'
    if kind == "too_short":
        return "grant at least one capability, or remove the role"
    if kind == "value_error":
        return "list each grant once"
    return "give each role a `grants:` list of capabilities"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds, through Optional, unions and dicts' values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is dict:
        return _model_of(typing.get_args(annotation)[1])
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found:
                return found
    return None


def field_at(path: Sequence[str | int]) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model that holds the place at `path`, and the field there (None if it is no
    field: a dict's key, an index)."""
    model: type[BaseModel] | None = Blueprint
    info: FieldInfo | None = None
    for step in path:
        if model is None:
            return None, None
        info = model.model_fields.get(str(step))
        if info is None:  # a dict's key (a cell, a role, a purpose): its value's model
            continue
        model = _model_of(info.annotation)
    return model, info


def allowed_keys(path: Sequence[str | int]) -> list[str]:
    model, _ = field_at(path)
    return sorted(model.model_fields) if model else []


def bounds(path: Sequence[str | int]) -> tuple[float | None, float | None]:
    """The lowest and highest value the field at `path` takes."""
    _, info = field_at(path)
    low: float | None = None
    high: float | None = None
    for rule in info.metadata if info else []:
        if isinstance(rule, Ge | Gt):
            low = rule.ge if isinstance(rule, Ge) else rule.gt  # type: ignore[assignment]
        if isinstance(rule, Le):
            high = rule.le  # type: ignore[assignment]
    return low, high
