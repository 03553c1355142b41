"""Point 2: the questions, their defaults, and the refusal of every invalid answer."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

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


BAD_ANSWERS = [
    ({"project_name": "My Service"}, "lowercase slug"),
    ({"project_name": "9lives"}, "starting with a letter"),
    ({"project_name": "double--hyphen"}, "single"),
    ({"project_name": "a" * 41}, "at most 40 characters"),
    ({"cells": ["c" * 31]}, "longer than 30 characters"),
    ({"package_name": "class"}, "is a Python keyword"),
    ({"package_name": "json"}, "would shadow"),
    ({"package_name": "pydantic"}, "would shadow"),
    ({"package_name": "yaml"}, "would shadow"),
    ({"package_name": "pre_commit"}, "would shadow"),
    ({"project_name": "pyyaml"}, "a package the project depends on"),
    ({"project_name": "mypy", "package_name": "mysvc"}, "a package the project depends on"),
    ({"package_name": "my-service"}, "lowercase Python identifier"),
    ({"description": "  "}, "must not be empty"),
    ({"description": "two\nlines"}, "single line"),
    ({"author_name": ""}, "must not be empty"),
    ({"author_email": "nobody"}, "e-mail address"),
    ({"author_email": "a@b"}, "e-mail address"),
    ({"python_version": "3.10"}, "Invalid choice"),
    ({"cells": []}, "non-empty YAML list"),
    ({"cells": "notes"}, "non-empty YAML list"),
    ({"cells": ["Notes"]}, "lowercase identifier"),
    ({"cells": ["order-items"]}, "lowercase identifier"),
    ({"cells": ["gateway"]}, "reserved"),
    ({"cells": ["core", "notes"]}, "reserved"),
    ({"cells": ["for"]}, "Python keyword"),
    ({"cells": ["notes", "billing", "notes"]}, "listed twice"),
    ({"roles": []}, "non-empty YAML mapping"),
    ({"roles": {"admin": "*"}}, "non-empty list of capabilities"),
    ({"roles": {"Admin": ["*"]}}, "lowercase name"),
    ({"roles": {"admin": ["notes"]}}, "not a capability"),
    ({"placements": ["notes"]}, "YAML mapping of cell -> transport"),
    ({"placements": {"billing": "redis"}}, "not one of the cells"),
    ({"placements": {"notes": "kafka"}}, "use redis or nats"),
    ({"http_port": 80}, "between 1024 and 65535"),
    ({"http_port": 70000}, "between 1024 and 65535"),
    ({"license": "GPL-3.0"}, "Invalid choice"),
]


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS, ids=[str(a) for a, _ in BAD_ANSWERS])
def test_invalid_answers_are_refused_with_a_reason(
    tmp_path: Path, answers: dict[str, Any], message: str
) -> None:
    destination = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        render(destination, **answers)
    assert not destination.exists(), "a refused answer must not leave a half-made project"
