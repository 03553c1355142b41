"""The user's own edits never break the template's checks.

One project lives through the edits a team makes in its first weeks, each made as a user
makes it (a YAML dumper, `git commit` with the installed hooks, `uv add`) and each
committed. After every edit the project's default suite and every GenOps gate stay
green, and the commit itself passed every pre-commit hook. The framework suite
(`tests/cellforge/`, which builds its own fixture cells and blueprint) then runs once
on the result, which holds all six edits at once, by the command the project's README
gives: this is the one rendered project on which the template's CI runs it. An invalid
edit is refused by `blueprint check` alone, naming its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.snapshot import git_snapshot

from .conftest import (
    TEMPLATE,
    assert_all_passed,
    collected,
    commit,
    generate_committed,
    project_env,
    run,
)

pytestmark = pytest.mark.slow

CLI = "my-service"
CELLS = Path("src/my_service/cells")


def load_blueprint(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((project / "blueprint.yml").read_text("utf-8"))
    return loaded


def dump_blueprint(project: Path, blueprint: dict[str, Any]) -> None:
    """What a YAML dumper writes: no comments, its own quoting, the keys in order."""
    text = yaml.safe_dump(blueprint, sort_keys=False, allow_unicode=True)
    (project / "blueprint.yml").write_text(text, encoding="utf-8")


def change_blueprint(project: Path, change: Callable[[dict[str, Any]], None]) -> None:
    blueprint = load_blueprint(project)
    change(blueprint)
    dump_blueprint(project, blueprint)


def commit_as_a_user(project: Path, message: str, env: dict[str, str]) -> str:
    """`git add -A && git commit`; when a hook changed files (the regenerate hook does,
    as pre-commit fixers do), review-and-commit again. Returns what the hooks said."""
    run(["git", "add", "-A"], project)
    first = commit(project, message, env)
    said = first.stdout + first.stderr
    if first.returncode != 0:
        run(["git", "add", "-A"], project)
        second = commit(project, message, env)
        said += second.stdout + second.stderr
        assert second.returncode == 0, f"the second commit failed:\n{said[-6000:]}"
    assert run(["git", "status", "--porcelain"], project).stdout == "", "left uncommitted"
    return said


def assert_green(project: Path, env: dict[str, str]) -> None:
    """The default suite and every GenOps gate pass (a gate may warn)."""
    tested = run(["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert_all_passed(tested.stdout)
    gates = run(["uv", "run", CLI, "genops", "check"], project, env)
    rows = [line.split()[:2] for line in gates.stdout.splitlines()[1:7]]
    assert all(status in ("PASS", "WARN") for _, status in rows), gates.stdout


def new_pin(blueprint: dict[str, Any]) -> None:
    """(b) Another exact model id with another retirement date."""
    blueprint["models"]["draft"] |= {"model": "gpt-4.1-2025-04-14", "retire_by": "2028-03-31"}


def add_greeter(blueprint: dict[str, Any]) -> None:
    blueprint["cells"]["greeter"] = {"placement": "in-process", "flags": []}


def own_messages(project: Path) -> None:
    """(c) The skeleton's Ping/Pinged/Pong become the team's own Greet/Greeted/Greeting."""
    files = [*(project / CELLS / "greeter").glob("*.py"), project / "tests/cells"]
    for path in files:
        for source in [path] if path.is_file() else path.glob("test_greeter*.py"):
            text = source.read_text(encoding="utf-8")
            for old, new in (("Pinged", "Greeted"), ("Pong", "Greeting"), ("Ping", "Greet")):
                text = text.replace(old, new)
            source.write_text(text.replace("/greeter/ping", "/greeter/greet"), encoding="utf-8")


def drop_notes(blueprint: dict[str, Any]) -> None:
    del blueprint["cells"]["notes"]


def rename_roles(blueprint: dict[str, Any]) -> None:
    """(e) The team's own names for the roles, same grants."""
    roles = blueprint["roles"]
    blueprint["roles"] = {"owner": roles["admin"], "staff": roles["member"]}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    template = git_snapshot(TEMPLATE, tmp_path / "template", tag="v1")
    return generate_committed(template, tmp_path / CLI, "v1")


@pytest.mark.longest(minutes=8)
def test_the_users_own_edits_keep_every_template_check_green(project: Path) -> None:
    env = project_env("3.11")

    # (a) blueprint.yml through a YAML dumper: validated, and nothing to re-apply.
    dump_blueprint(project, load_blueprint(project))  # comments and quotes gone
    commit_as_a_user(project, "blueprint: reformatted", env)
    assert "#" not in (project / "blueprint.yml").read_text(encoding="utf-8")
    assert_green(project, env)

    # (b) a new model pin.
    change_blueprint(project, new_pin)
    commit_as_a_user(project, "blueprint: pin gpt-4.1", env)
    assert_green(project, env)

    # (c) a cell made through the blueprint, then its messages replaced, on this branch.
    change_blueprint(project, add_greeter)
    said = commit_as_a_user(project, "blueprint: greeter", env)
    assert "cell 'greeter' added" in said
    own_messages(project)
    said = commit_as_a_user(project, "greeter: our own messages", env)
    assert "refresh the docs and contracts derived from the code" in said
    assert "POST /greeter/greet" in (project / "docs/architecture.md").read_text("utf-8")
    assert_green(project, env)

    # (d) the notes cell out of the blueprint, then its code and tests deleted.
    change_blueprint(project, drop_notes)
    said = commit_as_a_user(project, "blueprint: no notes", env)
    assert "ORPHANED" in said or "orphan" in said.lower(), said[-3000:]
    run(["git", "rm", "-rq", str(CELLS / "notes"), "tests/cells/test_notes_cell.py"], project)
    commit_as_a_user(project, "notes: deleted", env)
    assert_green(project, env)

    # (e) the roles renamed.
    change_blueprint(project, rename_roles)
    commit_as_a_user(project, "blueprint: our role names", env)
    assert "| `owner` |" in (project / "docs/architecture.md").read_text("utf-8")
    assert_green(project, env)

    # (f) a dependency of the team's own.
    run(["uv", "add", "--quiet", "six"], project, env)
    commit_as_a_user(project, "depend on six", env)
    assert_green(project, env)

    # Every hook on every file, then the framework's own suite, by the README's command,
    # once, on all six edits; the default run collects none of it.
    run(["uv", "run", "pre-commit", "run", "--all-files"], project, env)
    readme = (project / "README.md").read_text(encoding="utf-8")
    [command] = re.findall(r"`(uv run pytest tests/cellforge)`", readme)
    framework = collected(project, env, "tests/cellforge")
    assert framework and all(test.startswith("tests/cellforge/") for test in framework)
    default = collected(project, env)
    assert default and not [test for test in default if test.startswith("tests/cellforge/")]
    options = ["-n", "auto", "-q", "-p", "no:cacheprovider"]
    tested = run([*command.split(), *options], project, env, timeout=1200)
    assert_all_passed(tested.stdout)
    assert f"{len(framework)} passed" in tested.stdout.strip().splitlines()[-1]


def test_an_invalid_edit_fails_only_the_blueprint_check_naming_its_line(project: Path) -> None:
    env = project_env("3.11")
    blueprint = load_blueprint(project)
    blueprint["roles"]["Admins!"] = {"grants": ["*"]}  # not a role name
    dump_blueprint(project, blueprint)
    checked = run(["uv", "run", CLI, "blueprint", "check"], project, env, check=False)
    assert checked.returncode != 0
    said = checked.stdout + checked.stderr
    line = next(
        number
        for number, text in enumerate((project / "blueprint.yml").read_text().splitlines(), 1)
        if "Admins!" in text
    )
    assert f"blueprint.yml:{line}" in said, said
    # The commit is refused before anything is re-applied, and nothing else changed.
    run(["git", "add", "blueprint.yml"], project)
    refused = commit(project, "bad role", env)
    assert refused.returncode != 0
    assert "the template was NOT re-applied" in refused.stdout + refused.stderr
    assert run(["git", "status", "--porcelain"], project).stdout == "M  blueprint.yml\n"
