"""`blueprint.yml`: reading it and checking it against its JSON Schema.

The blueprint is the one file of requirements; the template turns it into code. A broken
blueprint must never reach the template, so `check` reports every problem with the line
it is on and what to do about it, and the regenerate hook refuses to run until it is clean.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("blueprint.schema.json")


@dataclass(frozen=True)
class Problem:
    line: int
    where: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.line}: {self.where}: {self.message}; fix: {self.fix}"


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def _node_at(root: yaml.Node, path: Sequence[str | int]) -> tuple[yaml.Node, yaml.Node | None]:
    """The value node at `path`, and the key node that names it (None at the root)."""
    node, key_node = root, None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):  # YAML keeps the last duplicate
                if key.value == step:
                    node, key_node = value, key
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node, key_node = node.value[step], None
        else:
            break
    return node, key_node


STRING_TAG = "tag:yaml.org,2002:str"


def _key_problems(node: yaml.Node, path: str = "") -> list[Problem]:
    """Duplicate keys, and keys YAML does not read as names (`on`, `yes`, `1`, `~`)."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            where = f"{path}.{key.value}" if path else str(key.value)
            if key.tag != STRING_TAG:
                kind = key.tag.rsplit(":", 1)[-1]
                problems.append(
                    Problem(
                        key.start_mark.line + 1,
                        where,
                        f"YAML reads the key {key.value!r} as a {kind}, not as a name",
                        f'quote it ("{key.value}") or choose another name',
                    )
                )
            if key.value in seen:
                problems.append(
                    Problem(key.start_mark.line + 1, where, "listed twice", "keep one entry")
                )
            seen.add(key.value)
            problems += _key_problems(value, where)
    return problems


def _allowed_keys(error: ValidationError) -> list[str]:
    schema = error.schema
    return sorted(schema.get("properties", {})) if isinstance(schema, dict) else []


def _fix_for(error: ValidationError) -> str:
    kind, value = error.validator, error.validator_value
    if error.absolute_path and error.absolute_path[0] == "roles":
        return _role_fix(error)
    if (
        error.absolute_path
        and error.absolute_path[0] == "delivery"
        and kind != "additionalProperties"
    ):
        return _delivery_fix(error)
    if list(error.absolute_path)[-1:] == ["placement"] or "placement" in error.schema_path:
        return 'use "in-process", {worker: redis} or {worker: nats}'
    if list(error.absolute_path)[-1:] == ["retire_by"]:  # YAML reads 2027-10-01 as a date
        return 'quote it: "YYYY-MM-DD", the provider\'s retirement date (or your review date)'
    if list(error.absolute_path)[-1:] == ["model"] and kind == "pattern":
        return "use an exact model id such as gpt-4.1-mini-2025-04-14 (no spaces)"
    if kind == "additionalProperties":
        allowed = ", ".join(_allowed_keys(error))
        return f"remove the key or correct its spelling (allowed: {allowed})"
    if kind == "required":
        return "add the missing key"
    if kind == "enum":
        return "use one of: " + ", ".join(map(str, value if isinstance(value, list) else []))
    if kind == "type":
        return f"give a value of type {value}"
    if kind in ("minimum", "maximum", "exclusiveMinimum"):
        rules = error.schema if isinstance(error.schema, dict) else {}
        low = rules.get("minimum", rules.get("exclusiveMinimum"))
        what = "a port" if list(error.absolute_path)[-1:] == ["http_port"] else "a value"
        return f"use {what} between {low} and {rules.get('maximum')}"
    if kind == "minProperties":
        return "list at least one cell"
    if "propertyNames" in error.schema_path:
        return (
            "name cells with a lowercase identifier of at most 30 characters that is "
            "not reserved (core, gateway, sandbox, ...) and not a Python keyword"
        )
    return "see the JSON Schema in " + SCHEMA_PATH.name


def _role_fix(error: ValidationError) -> str:
    kind = error.validator
    if "propertyNames" in error.schema_path:
        return "name roles with at most 30 lowercase letters, digits, '_' or '-'"
    if kind == "pattern":
        return 'grant a capability such as "notes.write", "notes.*", "*.read" or "*"'
    if kind in ("minItems", "minProperties"):
        return "grant at least one capability, or remove the role"
    if kind == "uniqueItems":
        return "list each grant once"
    return "give each role a `grants:` list of capabilities"


def _delivery_fix(error: ValidationError) -> str:
    if list(error.absolute_path)[-1:] == ["max_attempts"]:
        return "give the number of tries, a whole number from 1 to 100 (1: no retry)"
    return "give seconds above 0, as in backoff_seconds: {initial: 1, max: 60}"


def _fractional_integers(rules: dict[str, Any], data: Any, path: list[str]) -> list[list[str]]:
    """Paths whose schema says integer but whose YAML value is a float such as 8000.0."""
    if rules.get("type") == "integer" and isinstance(data, float):
        return [path]
    found: list[list[str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            inner = rules.get("properties", {}).get(key, rules.get("additionalProperties"))
            if isinstance(inner, dict):
                found += _fractional_integers(inner, value, [*path, str(key)])
    return found


def check_text(text: str) -> list[Problem]:
    """Every problem in a blueprint's text; an empty list means it is valid."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as syntax:
        line = syntax.problem_mark.line + 1 if syntax.problem_mark else 1
        return [Problem(line, "YAML", str(syntax.problem), "fix the YAML syntax")]
    if root is None:
        return [Problem(1, "blueprint", "the file is empty", "add `service:` and `cells:`")]
    problems = _key_problems(root)
    if problems:  # the schema would judge a different document than the one written
        return sorted(problems, key=lambda problem: problem.line)
    for path in _fractional_integers(schema(), data, []):  # JSON Schema accepts 8000.0
        node, key_node = _node_at(root, path)
        line = (key_node or node).start_mark.line + 1
        problems.append(Problem(line, ".".join(path), "not an integer", "use a whole number"))
    if problems:
        return problems
    validator = Draft202012Validator(schema())
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = list(error.absolute_path)
        node, key_node = _node_at(root, path)
        where = ".".join(map(str, path)) or "blueprint"
        message = error.message
        if "propertyNames" in error.schema_path:  # a bad key: the error is about its name
            named, named_key = _node_at(root, [*path, error.instance])
            line = (named_key or named).start_mark.line + 1
            problems.append(Problem(line, f"{where}.{error.instance}", message, _fix_for(error)))
            continue
        if error.validator == "additionalProperties":
            for name in _unknown_keys(error, data, path):
                named, named_key = _node_at(root, [*path, name])
                line = (named_key or named).start_mark.line + 1
                problems.append(Problem(line, f"{where}.{name}", message, _fix_for(error)))
            continue
        line = (key_node or node).start_mark.line + 1
        problems.append(Problem(line, where, message, _fix_for(error)))
    return sorted(problems, key=lambda problem: problem.line)


def _unknown_keys(error: ValidationError, data: Any, path: list[Any]) -> list[str]:
    """The keys an additionalProperties error is about."""
    target = data
    for step in path:
        target = target[step]
    allowed = set(_allowed_keys(error))
    return [name for name in target if name not in allowed] if isinstance(target, dict) else []


def check_file(path: Path) -> list[Problem]:
    if not path.exists():
        return [Problem(1, path.name, "the file is missing", "restore it from git")]
    return check_text(path.read_text(encoding="utf-8"))


def load(path: Path) -> dict[str, Any]:
    """The blueprint's data; call `check_file` first."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data
