# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The naming rules of the blueprint, in one place for copier's questions and the model.

Two readers enforce them: copier's validators when a project is generated (through the
Jinja extension `hooks/cellforge_hooks/jinja_rules.py`, which loads this file by its
path) and the typed model (core/blueprint_model.py) that `blueprint check` and the running
service use. Both print the messages below, so a bad cell name is refused with the same
words by `copier copy` and by `blueprint check`.

Each `*_problem` function returns the one line that says what is wrong, or None. The
list and mapping rules (`cells_problem`, `roles_problem`, `placements_problem`) return the
first problem only: copier shows one line under its prompt and hides the rest. A message
quotes the name it refuses, cut to 12 characters (`shown`), so it fits that line.

Standard library only: copier's interpreter imports this file before the project (or its
dependencies) exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

# What copier's `cells | truncate(12, true, '...', 0)` did: a quoted name stays short.
SHOWN_LENGTH = 12
MAX_NAME_LENGTH = 30
# Spelled out rather than read from `keyword`: the list must not change with the Python
# that runs copier (`type` is a soft keyword from 3.12 on).
PYTHON_KEYWORDS = (
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
    "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with",
    "yield", "case", "match", "type",
)  # fmt: skip
# The template's own module names: a cell named so would shadow one.
RESERVED_CELL_NAMES = (
    "core", "gateway", "sandbox", "ops", "genops", "llm", "cells", "tests", "transport",
    "cli", "docs", "deploy", "main",
)  # fmt: skip
TRANSPORTS = ("redis", "nats")
LOWEST_PORT, HIGHEST_PORT = 1024, 65535

STARTS_LOWER = re.compile(r"[a-z]")
CELL_CHARS = re.compile(r"[a-z0-9_]+")
ROLE_CHARS = re.compile(r"[a-z0-9_-]+")
GRANT = re.compile(r"[*]|[a-z*][a-z0-9_*]*[.][a-z*][a-z0-9_*-]*")
DIGITS = re.compile(r"[0-9]+")
# The same rules as anchored patterns, for the JSON Schema editors use (keywords and
# reserved names are listed apart, as a `not: {enum: ...}`).
CELL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,29}$"
ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,29}$"
GRANT_PATTERN = f"^({GRANT.pattern})$"

# Every message a rule can print; `{name}` is the refused value as `shown` cuts it.
CELLS_NOT_A_LIST = "must be a YAML list such as [notes]"
NO_CELLS = "must name at least one cell"
BAD_START = '"{name}" must start with a-z'
CELL_BAD_CHARS = '"{name}": use only a-z 0-9 _'
TOO_LONG = '"{name}" is over 30 characters'
KEYWORD = '"{name}" is a Python keyword'
RESERVED = '"{name}" is taken by the template'
TWICE = '"{name}" is listed twice'
ROLES_NOT_A_MAPPING = 'must be a mapping like {admin: ["*"]}'
NO_ROLES = "must define at least one role"
ROLE_BAD_CHARS = '"{name}": use only a-z 0-9 _ -'
GRANTS_NOT_A_LIST = '"{name}": grants must be a list'
NO_GRANTS = '"{name}" grants nothing'
NOT_A_CAPABILITY = '"{name}" is not a capability'
PLACEMENTS_NOT_A_MAPPING = "must be like {billing: redis}"
NOT_IN_CELLS = '"{name}" is not in cells'
BAD_TRANSPORT = '"{name}": use redis/nats'
PORT_NOT_A_NUMBER = "must be a whole number like 8000"
PORT_LEADING_ZERO = "must not start with 0"
PORT_OUT_OF_RANGE = "must be between 1024 and 65535"
MESSAGES = (
    CELLS_NOT_A_LIST, NO_CELLS, BAD_START, CELL_BAD_CHARS, TOO_LONG, KEYWORD, RESERVED, TWICE,
    ROLES_NOT_A_MAPPING, NO_ROLES, ROLE_BAD_CHARS, GRANTS_NOT_A_LIST, NO_GRANTS,
    NOT_A_CAPABILITY, PLACEMENTS_NOT_A_MAPPING, NOT_IN_CELLS, BAD_TRANSPORT,
    PORT_NOT_A_NUMBER, PORT_LEADING_ZERO, PORT_OUT_OF_RANGE,
)  # fmt: skip

Value = TypeVar("Value")


def shown(value: object) -> str:
    """`value` as a message quotes it: its text, cut to 12 characters with `...`."""
    text = str(value)
    if len(text) <= SHOWN_LENGTH:
        return text
    return text[: SHOWN_LENGTH - 3] + "..."


def _say(message: str, value: object) -> str:
    return message.format(name=shown(value))


def _items(value: object) -> list[object] | None:
    """The items of a YAML sequence; None for anything else (a text, a mapping, a
    number), which copier's `is iterable` tests told apart the same way."""
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        return list(value)
    return None


def _name_problem(name: object, chars: re.Pattern[str], bad_chars: str) -> str | None:
    """The rules cell and role names share: a-z first, then `chars`, 30 at most."""
    if not isinstance(name, str) or not STARTS_LOWER.match(name):
        return _say(BAD_START, name)
    if not chars.fullmatch(name):
        return _say(bad_chars, name)
    if len(name) > MAX_NAME_LENGTH:
        return _say(TOO_LONG, name)
    return None


def cell_name_problem(name: object) -> str | None:
    """What is wrong with one cell's name: its start, its characters, its length, a
    Python keyword, or a name the template's own modules take."""
    problem = _name_problem(name, CELL_CHARS, CELL_BAD_CHARS)
    if problem:
        return problem
    if name in PYTHON_KEYWORDS:
        return _say(KEYWORD, name)
    if name in RESERVED_CELL_NAMES:
        return _say(RESERVED, name)
    return None


def duplicate_problem(name: object) -> str:
    """The message for a name listed a second time."""
    return _say(TWICE, name)


def cells_problem(cells: object) -> str | None:
    """The first problem of the `cells` list: its shape, then each name in order."""
    names = _items(cells)
    if names is None:
        return CELLS_NOT_A_LIST
    if not names:
        return NO_CELLS
    for index, name in enumerate(names):
        problem = cell_name_problem(name)
        if problem:
            return problem
        if name in names[:index]:
            return duplicate_problem(name)
    return None


def role_name_problem(name: object) -> str | None:
    """What is wrong with one role's name: its start, its characters, its length."""
    return _name_problem(name, ROLE_CHARS, ROLE_BAD_CHARS)


def grant_problem(grant: object) -> str | None:
    """What is wrong with one grant: a capability is `*` or `part.part`, where a part is
    lowercase and may use `*` as a wildcard (notes.write, notes.*, *.read)."""
    if isinstance(grant, str) and GRANT.fullmatch(grant):
        return None
    return _say(NOT_A_CAPABILITY, grant)


def grants_problem(role: object, grants: object) -> str | None:
    """The first problem of one role's grants: a list, not empty, of capabilities."""
    listed = _items(grants)
    if listed is None:
        return _say(GRANTS_NOT_A_LIST, role)
    if not listed:
        return _say(NO_GRANTS, role)
    return next(filter(None, map(grant_problem, listed)), None)


def roles_problem(roles: object) -> str | None:
    """The first problem of the `roles` mapping (role -> grants): its shape, then each
    role's name and grants in order."""
    if not isinstance(roles, Mapping):
        return ROLES_NOT_A_MAPPING
    if not roles:
        return NO_ROLES
    for role, grants in roles.items():
        problem = role_name_problem(role) or grants_problem(role, grants)
        if problem:
            return problem
    return None


def transport_problem(cell: object, transport: object) -> str | None:
    """What is wrong with the transport a worker cell uses (redis or nats)."""
    return None if transport in TRANSPORTS else _say(BAD_TRANSPORT, cell)


def placement_problem(cell: object, transport: object, cells: Iterable[object]) -> str | None:
    """What is wrong with one placement: a cell the project has, on a known transport."""
    if cell not in list(cells):
        return _say(NOT_IN_CELLS, cell)
    return transport_problem(cell, transport)


def placements_problem(placements: object, cells: object) -> str | None:
    """The first problem of the `placements` mapping (cell -> transport)."""
    if not isinstance(placements, Mapping):
        return PLACEMENTS_NOT_A_MAPPING
    known = _items(cells) or []
    for cell, transport in placements.items():
        problem = placement_problem(cell, transport, known)
        if problem:
            return problem
    return None


def http_port_problem(port: object) -> str | None:
    """What is wrong with the gateway's port: a whole number written without a leading
    0, from 1024 to 65535. Copier asks for text, the blueprint holds a number: both do."""
    text = str(port) if isinstance(port, str | int) and not isinstance(port, bool) else ""
    if not DIGITS.fullmatch(text):
        return PORT_NOT_A_NUMBER
    if text.startswith("0"):
        return PORT_LEADING_ZERO
    if not LOWEST_PORT <= int(text) <= HIGHEST_PORT:
        return PORT_OUT_OF_RANGE
    return None


def problem_at(path: Sequence[str | int], value: object) -> str | None:
    """The rule's message for `value` at `path` in the blueprint (`["roles", "admin",
    "grants"]`), for the places whose message names a key above the value (the role of
    its grants, the cell of its transport); None elsewhere or when the rule finds nothing.
    The model cannot say those: a value's validator does not know its key."""
    steps = tuple(path)
    if len(steps) == 3 and steps[0] == "roles" and steps[2] == "grants":
        return grants_problem(steps[1], value)
    if len(steps) == 4 and steps[0] == "roles" and steps[2] == "grants":
        return grant_problem(value)
    if len(steps) == 4 and steps[0] == "cells" and steps[2:] == ("placement", "worker"):
        return transport_problem(steps[1], value)
    if steps == ("service", "http_port"):
        return http_port_problem(value)
    return None


def enforce(rule: Callable[[Value], str | None]) -> Callable[[Value], Value]:
    """`rule` as a validator: the value itself, or ValueError with the rule's message (for
    pydantic's `AfterValidator`/`BeforeValidator`, which report that message)."""

    def judge(value: Value) -> Value:
        problem = rule(value)
        if problem:
            raise ValueError(problem)
        return value

    return judge
