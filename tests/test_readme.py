"""The template's README opens with the two set-up commands, and the first one
generates a project from a copy of this repository, exactly as written."""

from __future__ import annotations

import shutil
from pathlib import Path

from .conftest import TEMPLATE, assert_hygienic, run, template_readme_commands


def test_the_readme_opens_with_what_it_is_and_two_commands() -> None:
    text = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    first_block = text.index("```")
    assert "Copier" in text[:first_block] and "cellular monolith" in text[:first_block]
    generate, test = template_readme_commands()[:2]
    # Copier loads the template's Jinja extension (the validators' rules) through this one.
    assert generate.startswith(
        "uvx --with copier-template-extensions copier copy --trust --defaults"
    )
    assert test == "uv run pytest"
    assert (TEMPLATE / ".ci" / "run").read_text().count("\nuv run pytest\n") == 1


def test_the_generate_command_works_from_a_fresh_checkout(tmp_path: Path) -> None:
    checkout = tmp_path / "cellforge"
    shutil.copytree(
        TEMPLATE,
        checkout,
        ignore=shutil.ignore_patterns(".venv", "__pycache__", ".*_cache"),
    )
    generate = template_readme_commands()[0]
    done = run(generate, checkout)
    project = tmp_path / "my-service"
    assert (project / "src" / "my_service" / "cells" / "notes" / "__init__.py").is_file()
    assert (project / "docs" / "architecture.md").is_file()
    assert_hygienic(project)
    assert "Next steps" in done.stderr + done.stdout
    # `.` would later resolve inside the project: the absolute source is what is kept.
    assert f"_src_path: {checkout}\n" in (project / ".copier-answers.yml").read_text()
    assert "uv run my-service serve" in done.stderr + done.stdout
