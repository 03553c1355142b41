# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The JSON Schema editors use for `blueprint.yml`, generated from the typed model.

blueprint.yml's first line (`# yaml-language-server: $schema=...`) points editors at
`core/blueprint.schema.json`, which `explain` writes from `render_schema()` and
`explain --check` keeps in sync: the model is the only statement of the rules. Pydantic
writes a dict's key rules as `patternProperties`, which editors do not apply to every
key, so they become `propertyNames` here, with the reserved cell names spelled out.

Standard library and pydantic only: `explain` runs in copier's interpreter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import blueprint_rules as rules
from .blueprint_model import PURPOSE, Blueprint

SCHEMA_PATH = Path(__file__).with_name("blueprint.schema.json")
DESCRIPTION = (
    "The requirements of the service: cells, roles, placements and policies. "
    "Generated from the blueprint's model by `explain`; do not edit."
)
# Each mapping keyed by a name: the rule its keys follow.
KEY_RULES: dict[str, dict[str, Any]] = {
    "cells": {
        "pattern": rules.CELL_NAME_PATTERN,
        "not": {"enum": sorted({*rules.RESERVED_CELL_NAMES, *rules.PYTHON_KEYWORDS})},
    },
    "roles": {"pattern": rules.ROLE_NAME_PATTERN},
    "models": {"pattern": PURPOSE},
}


def _names_rule(section: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    """A mapping's schema with its key rule as `propertyNames` and one schema for values."""
    values = section.pop("patternProperties", None)
    if values:
        section["additionalProperties"] = next(iter(values.values()))
    return {**section, "propertyNames": rule}


def schema() -> dict[str, Any]:
    generated = Blueprint.model_json_schema()
    properties = generated["properties"]
    for name, rule in KEY_RULES.items():
        properties[name] = _names_rule(properties[name], rule)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_PATH.name,
        **generated,
        "description": DESCRIPTION,
    }


def render_schema() -> str:
    return json.dumps(schema(), indent=2, sort_keys=False) + "\n"
