"""The questions, their defaults, and a short, whole refusal of every bad answer."""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cellforge_hooks.jinja_rules import load_rules

from .conftest import TEMPLATE, render

QUESTIONS = (
    "project_name",
    "package_name",
    "description",
    "author_name",
    "author_email",
    "python_version",
    "cells",
    "roles",
    "placements",
    "http_port",
    "license",
)


def questions() -> dict[str, dict[str, Any]]:
    text = (TEMPLATE / "copier.yml").read_text(encoding="utf-8").split("\n---\n")[-1]
    loaded: dict[str, dict[str, Any]] = yaml.safe_load(text)
    return loaded


def test_every_question_has_help_and_a_default() -> None:
    asked = questions()
    for name in QUESTIONS:
        assert asked[name].get("help"), f"{name} has no help text"
        assert "default" in asked[name], f"{name} has no default"
    assert asked["cells"]["default"] == ["notes"]
    assert asked["cells"]["type"] == "yaml"
    assert set(asked["python_version"]["choices"]) == {"3.11", "3.12", "3.13"}


def test_defaults_ask_nothing_and_derive_names(render_project: Callable[..., Path]) -> None:
    project = render_project("Order-Service")
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["project_name"] == "order-service"
    assert answers["package_name"] == "order_service"
    assert answers["cells"] == ["notes"]
    assert answers["_src_path"]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["scripts"] == {"order-service": "order_service.cli:main"}
    assert (project / "src" / "order_service" / "cells" / "notes" / "__init__.py").is_file()


def test_the_taken_names_cover_this_interpreters_standard_library() -> None:
    included = yaml.safe_load((TEMPLATE / "includes" / "taken_names.yml").read_text("utf-8"))
    listed = set(included["taken_module_names"]["default"].split())
    public = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    assert public <= listed


# Copier shows a refusal as "Validation error for question '<name>': <message>" on one
# line under the prompt and hides any later line (prompt_toolkit's one-row toolbar), and
# prints each help line above the prompt clipped at the terminal's edge. So a message is
# one line, a help line and a whole refusal fit in LINE_LIMIT: 80 columns, less the
# prompt's mark. tests/test_interactive.py reads both off a real 80-column screen.
LINE_LIMIT = 76
LONG = "x" * 200
# The questions whose validators call the blueprint's rules (core/blueprint_rules.py).
RULED = ("cells", "roles", "placements", "http_port")

# (answers, the question that refuses them, its exact message). Together they say every
# message a validator can say: test_every_validator_message_is_exercised holds them to it.
BAD_ANSWERS: list[tuple[dict[str, Any], str, str]] = [
    ({"project_name": "My Service"}, "project_name", "must start with a letter a-z"),
    ({"project_name": "9lives"}, "project_name", "must start with a letter a-z"),
    ({"project_name": "shop api"}, "project_name", "may hold only a-z, 0-9 and -"),
    ({"project_name": "double--hyphen"}, "project_name", "must not have -- or end with -"),
    ({"project_name": "shop-"}, "project_name", "must not have -- or end with -"),
    ({"project_name": "a" * 41}, "project_name", "must be at most 40 characters"),
    ({"project_name": "pyyaml"}, "project_name", "is the name of a dependency"),
    (
        {"project_name": "mypy", "package_name": "mysvc"},
        "project_name",
        "is the name of a dependency",
    ),
    ({"package_name": "_private"}, "package_name", "must start with a letter a-z"),
    ({"package_name": "my-service"}, "package_name", "may hold only a-z, 0-9 and _"),
    ({"package_name": "a" * 41}, "package_name", "must be at most 40 characters"),
    ({"package_name": "class"}, "package_name", "is a Python keyword"),
    ({"package_name": "json"}, "package_name", "would shadow a module"),
    ({"package_name": "pydantic"}, "package_name", "would shadow a module"),
    ({"package_name": "yaml"}, "package_name", "would shadow a module"),
    ({"package_name": "pre_commit"}, "package_name", "would shadow a module"),
    ({"description": "  "}, "description", "must not be empty"),
    ({"description": "two\nlines"}, "description", "must be a single line"),
    ({"author_name": ""}, "author_name", "must not be empty"),
    ({"author_name": "two\nlines"}, "author_name", "must be a single line"),
    ({"author_email": "nobody"}, "author_email", "must be like team@example.com"),
    ({"author_email": "a@b"}, "author_email", "must be like team@example.com"),
    ({"cells": "notes"}, "cells", "must be a YAML list such as [notes]"),
    ({"cells": {"notes": 1}}, "cells", "must be a YAML list such as [notes]"),
    ({"cells": []}, "cells", "must name at least one cell"),
    ({"cells": ["Notes"]}, "cells", '"Notes" must start with a-z'),
    ({"cells": [1]}, "cells", '"1" must start with a-z'),
    ({"cells": ["order-items"]}, "cells", '"order-items": use only a-z 0-9 _'),
    ({"cells": [LONG + "-"]}, "cells", '"xxxxxxxxx...": use only a-z 0-9 _'),
    ({"cells": ["c" * 31]}, "cells", '"ccccccccc..." is over 30 characters'),
    ({"cells": ["for"]}, "cells", '"for" is a Python keyword'),
    ({"cells": ["gateway"]}, "cells", '"gateway" is taken by the template'),
    ({"cells": ["transport"]}, "cells", '"transport" is taken by the template'),
    ({"cells": ["core", "notes"]}, "cells", '"core" is taken by the template'),
    ({"cells": ["notes", "billing", "notes"]}, "cells", '"notes" is listed twice'),
    # One problem at a time, the first one: the message stays one line.
    ({"cells": ["notes", "Billing", "for"]}, "cells", '"Billing" must start with a-z'),
    ({"roles": ["admin"]}, "roles", 'must be a mapping like {admin: ["*"]}'),
    ({"roles": {}}, "roles", "must define at least one role"),
    ({"roles": {"Admin": ["*"]}}, "roles", '"Admin" must start with a-z'),
    ({"roles": {"read only": ["*"]}}, "roles", '"read only": use only a-z 0-9 _ -'),
    ({"roles": {LONG + "!": ["*"]}}, "roles", '"xxxxxxxxx...": use only a-z 0-9 _ -'),
    ({"roles": {"r" * 31: ["*"]}}, "roles", '"rrrrrrrrr..." is over 30 characters'),
    ({"roles": {"admin": "*"}}, "roles", '"admin": grants must be a list'),
    ({"roles": {"admin": []}}, "roles", '"admin" grants nothing'),
    ({"roles": {"admin": ["notes"]}}, "roles", '"notes" is not a capability'),
    ({"roles": {"admin": [LONG]}}, "roles", '"xxxxxxxxx..." is not a capability'),
    ({"placements": ["notes"]}, "placements", "must be like {billing: redis}"),
    ({"placements": {"billing": "redis"}}, "placements", '"billing" is not in cells'),
    ({"placements": {LONG: "redis"}}, "placements", '"xxxxxxxxx..." is not in cells'),
    ({"placements": {"notes": "kafka"}}, "placements", '"notes": use redis/nats'),
    ({"http_port": "eighty"}, "http_port", "must be a whole number like 8000"),
    ({"http_port": "8000.5"}, "http_port", "must be a whole number like 8000"),
    ({"http_port": "08080"}, "http_port", "must not start with 0"),
    ({"http_port": 80}, "http_port", "must be between 1024 and 65535"),
    ({"http_port": 70000}, "http_port", "must be between 1024 and 65535"),
]


def refusal(destination: Path, answers: dict[str, Any]) -> str:
    """Copier's whole message refusing `answers`, as `copier copy --data` prints it."""
    with pytest.raises(ValueError) as refused:
        render(destination, **answers)
    assert not destination.exists(), "a refused answer must not leave a half-made project"
    return str(refused.value)


@pytest.mark.parametrize(
    ("answers", "question", "message"), BAD_ANSWERS, ids=[str(a)[:60] for a, _, _ in BAD_ANSWERS]
)
def test_invalid_answers_are_refused_with_one_short_line(
    tmp_path: Path, answers: dict[str, Any], question: str, message: str
) -> None:
    said = refusal(tmp_path / "out", answers)
    assert said == f"Validation error for question '{question}': {message}"
    assert "\n" not in said and len(said) <= LINE_LIMIT, said


@pytest.mark.parametrize(
    "answers", [{"python_version": "3.10"}, {"license": "GPL-3.0"}], ids=["python", "license"]
)
def test_an_answer_outside_the_choices_is_refused(tmp_path: Path, answers: dict[str, Any]) -> None:
    """Interactive runs offer a menu; copier itself refuses anything else given by --data."""
    assert refusal(tmp_path / "out", answers).startswith("Invalid choice")


def validator_messages(validator: str) -> list[re.Pattern[str]]:
    """Each message a validator can print, as a pattern ({{ ... }} matches any text).

    A message is the text between two Jinja tags; a lone expression (the line that prints
    the first problem found) is not one.
    """
    messages = []
    for chunk in re.split(r"{%.*?%}", validator, flags=re.S):
        text = chunk.strip()
        if text and not re.fullmatch(r"{{.*}}", text, flags=re.S):
            parts = re.split(r"{{.*?}}", text)
            messages.append(re.compile(".+".join(re.escape(part) for part in parts)))
    return messages


def message_pattern(template: str) -> re.Pattern[str]:
    """A rule's message template ({name} is the refused value) as a pattern."""
    return re.compile(".+".join(re.escape(part) for part in template.split("{name}")))


def test_every_validator_message_is_exercised() -> None:
    """A message no bad answer provokes is a message nobody checked the length of: those
    written in copier.yml and those of the blueprint's rules its validators call."""
    said: dict[str, list[str]] = {}
    for _, question, message in BAD_ANSWERS:
        said.setdefault(question, []).append(message)
    asked = questions()
    validated = {name: spec["validator"] for name, spec in asked.items() if "validator" in spec}
    assert set(validated) == set(said), "every validated question has its bad answers"
    for name, validator in validated.items():
        messages = validator_messages(validator)
        if not messages:  # one of the blueprint's rules: `{{ cells | cells_problem }}`
            assert re.fullmatch(r"{{ \w+ \| \w+_problem(\(\w+\))? }}", validator), name
            continue
        for pattern in messages:
            assert any(pattern.fullmatch(message) for message in said[name]), (
                f"{name}: no bad answer makes it say {pattern.pattern!r}"
            )
    ruled = [message for name in RULED for message in said[name]]
    for template in load_rules().MESSAGES:
        pattern = message_pattern(template)
        assert any(pattern.fullmatch(message) for message in ruled), (
            f"no bad answer makes the rules say {template!r}"
        )


def test_help_texts_fit_an_80_column_terminal() -> None:
    """Each line, the first included, fits beside the prompt's mark; none is Jinja.

    Copier renders help as a template; plain text means the screen shows what is checked.
    """
    asked = questions()
    for name in QUESTIONS:
        help_text = asked[name]["help"]
        assert "{{" not in help_text and "{%" not in help_text, name
        for line in help_text.splitlines():
            assert line.strip() and len(line) <= LINE_LIMIT, f"{name}: {line!r}"
    # Plain text cannot list the reserved names from their list, so it is held to it.
    listed = set(re.findall(r"[a-z]+", asked["cells"]["help"].split("template's own:")[1]))
    assert listed == set(load_rules().RESERVED_CELL_NAMES)
