# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`blueprint.yml`: the one place that parses it, and the checker that explains a bad one.

The blueprint is the one file of requirements. `load` parses it once into the typed,
frozen `Blueprint` (core/blueprint_model.py) that every other part reads: no other module
opens the YAML. A broken blueprint must never reach the code or the template, so `check`
reports every problem with the line it is on and what to do about it, `load` refuses
one with those same lines, and the regenerate hook refuses to run until it is clean.

Only the standard library, pyyaml and pydantic are imported: `explain` (which reads the
blueprint) also runs in copier's interpreter during `copier copy`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from . import blueprint_rules as rules
from .blueprint_fixes import fix_for, message_for
from .blueprint_model import Blueprint as Blueprint
from .blueprint_problems import BlueprintError as BlueprintError
from .blueprint_problems import Problem as Problem

STRING_TAG = "tag:yaml.org,2002:str"


def _node_at(root: yaml.Node, path: Sequence[str | int]) -> tuple[yaml.Node, yaml.Node | None]:
    """The value node at `path`, and the key node that names it (None at the root); as far
    as the path leads."""
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
            if step >= len(node.value):
                break
            node, key_node = node.value[step], None
        else:
            break
    return node, key_node


@dataclass(frozen=True)
class Span:
    """Where a value is written: the line of its key, the offset just after the key, and
    the value's own offsets; what a tool that edits one value in place needs."""

    line: int
    key_end: int
    start: int
    end: int
    on_key_line: bool  # `placement: in-process`, not a block below the key


def value_span(text: str, path: Sequence[str]) -> Span | None:
    """The span of the value at `path` in a blueprint's text; None if it is not there."""
    node, key = yaml.compose(text), None
    for step in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        found = [(k, v) for k, v in node.value if k.value == step]
        if not found:
            return None
        key, node = found[-1]  # YAML keeps the last duplicate
    if key is None or node is None:
        return None
    line = key.start_mark.line + 1
    same = node.start_mark.line == key.start_mark.line
    return Span(line, key.end_mark.index, node.start_mark.index, node.end_mark.index, same)


def _line_of(root: yaml.Node, path: Sequence[str | int]) -> int:
    node, key_node = _node_at(root, path)
    return (key_node or node).start_mark.line + 1


def _key_problems(node: yaml.Node, path: str = "") -> list[Problem]:
    """Duplicate keys, and keys YAML does not read as names (`on`, `yes`, `1`, `~`)."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            where = f"{path}.{key.value}" if path else str(key.value)
            line = key.start_mark.line + 1
            if key.tag != STRING_TAG:
                kind = key.tag.rsplit(":", 1)[-1]
                message = f"YAML reads the key {key.value!r} as a {kind}, not as a name"
                fix = f'quote it ("{key.value}") or choose another name'
                problems.append(Problem(line, where, message, fix))
            if key.value in seen:
                twice = rules.duplicate_problem(key.value)  # as copier says it
                problems.append(Problem(line, where, twice, "keep one entry"))
            seen.add(key.value)
            problems += _key_problems(value, where)
    return problems


def _model_problems(root: yaml.Node, data: Any, error: ValidationError) -> list[Problem]:
    """One problem per place the model refuses (a union's alternatives collapse to one)."""
    problems: dict[str, Problem] = {}
    for detail in error.errors(include_url=False):
        path = _data_path(data, detail["loc"])
        where = ".".join(map(str, path)) or "blueprint"
        if where not in problems:
            line = _line_of(root, path)
            message = message_for(detail, path)
            problems[where] = Problem(line, where, message, fix_for(detail, path))
    # A union's refusal of the whole value and of one of its keys: the key says more.
    return [
        problem
        for where, problem in problems.items()
        if not any(other.startswith(f"{where}.") for other in problems)
    ]


def _data_path(data: Any, loc: Sequence[str | int]) -> list[str | int]:
    """The steps of an error's location that are keys or indexes of the document, without
    the names pydantic adds (a union's alternative such as `Worker`, `[key]`)."""
    path: list[str | int] = []
    for step in loc:
        if _holds(data, step):
            data = data[step]
        elif not isinstance(data, dict | list) or _added(str(step)):
            continue
        path.append(step)
    return path


def _holds(data: Any, step: str | int) -> bool:
    """Whether `step` is a key of the mapping, or an index of the list, `data`."""
    if isinstance(data, list):
        return isinstance(step, int) and step < len(data)
    return isinstance(data, dict) and step in data


def _added(step: str) -> bool:
    """Whether a step is a name pydantic adds to a location (`Worker`, `[key]`)."""
    return step[:1].isupper() or "[" in step


def parse(text: str) -> tuple[Blueprint | None, list[Problem]]:
    """The blueprint of `text`, or None and every problem, each on its line."""
    try:
        root = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as syntax:
        line = syntax.problem_mark.line + 1 if syntax.problem_mark else 1
        return None, [Problem(line, "YAML", str(syntax.problem), "fix the YAML syntax")]
    if root is None:
        return None, [Problem(1, "blueprint", "the file is empty", "add `service:` and `cells:`")]
    problems = _key_problems(root)
    if problems:  # the model would judge a different document than the one written
        return None, sorted(problems, key=lambda problem: problem.line)
    try:
        return Blueprint.model_validate(data), []
    except ValidationError as error:
        return None, sorted(_model_problems(root, data, error), key=lambda problem: problem.line)


def check_text(text: str) -> list[Problem]:
    """Every problem in a blueprint's text; an empty list means it is valid."""
    return parse(text)[1]


def check_file(path: Path) -> list[Problem]:
    if not path.exists():
        return [Problem(1, path.name, "the file is missing", "restore it from git")]
    return check_text(path.read_text(encoding="utf-8"))


def load(path: Path) -> Blueprint:
    """The blueprint at `path`; BlueprintError, with every problem on its line, when it is
    missing or invalid. The same text is parsed once per process."""
    if not path.is_file():
        raise BlueprintError(path, check_file(path))
    blueprint, problems = _parsed(path.read_text(encoding="utf-8"))
    if blueprint is None:
        raise BlueprintError(path, problems)
    return blueprint


@lru_cache(maxsize=16)
def _parsed(text: str) -> tuple[Blueprint | None, tuple[Problem, ...]]:
    """`parse`, remembered by the text: settings built many times do not parse it again
    (the model is frozen, so sharing it is safe)."""
    blueprint, problems = parse(text)
    return blueprint, tuple(problems)


def read(path: Path) -> Blueprint | None:
    """The blueprint at `path`, None when there is none (an image or a test without one);
    BlueprintError when it is invalid."""
    return load(path) if path.is_file() else None
