"""A real interactive `copier copy`, read off an 80-column screen.

Copier prints each question's help above its prompt and a refused answer's reason on one
row below it; prompt_toolkit clips both at the terminal's edge without wrapping. The
child's output is replayed into pyte, a terminal emulator, so the test reads what a user
reads: every help line and every refusal must be a whole row of the screen. Each refusal
is compared with the message the same answer gets from `copier copy --data`, so the
interactive and scripted routes say the same complete thing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect
import pyte
import pytest
import yaml

from .conftest import TEMPLATE, assert_hygienic
from .test_questions import questions, refusal

ROWS, COLUMNS = 24, 80
CLEAR_LINE = "\x15"  # Ctrl-U: drop the pre-filled default before typing
YAML_QUESTIONS = {"cells", "roles", "placements"}

# In the order copier asks: (question, answers typed and refused, the answer typed at
# last; None takes the default, or the menu's first entry, with Enter).
# A refused answer replaces the default, so a question with one types its last answer.
SESSION: list[tuple[str, list[str], str | None]] = [
    ("project_name", ["Shop API", "shop--api", "a" * 41], "shop-api"),
    ("package_name", ["class", "json"], "shop_api"),
    ("description", ["  "], "A shop."),
    ("author_name", [], None),
    ("author_email", ["nobody"], "team@example.com"),
    ("python_version", [], None),
    ("cells", ["notes", "[Notes]", "[notes, gateway]", "[" + "x" * 40 + "-]"], "[notes, billing]"),
    ("roles", ["[admin]", "{admin: [notes]}", "{admin: []}"], "{admin: ['*'], reader: ['*.read']}"),
    ("placements", ["{billing: kafka}", "{shop: redis}"], "{}"),
    ("http_port", ["eighty", "80", "08080"], "9090"),
    ("license", [], None),
]


class Screen:
    """What an 80x24 terminal shows of the child's output; pexpect feeds it as its log."""

    def __init__(self) -> None:
        self.terminal = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.Stream(self.terminal)

    def write(self, text: str) -> None:
        self.stream.feed(text)

    def flush(self) -> None:
        pass

    def rows(self) -> list[str]:
        return [row.rstrip() for row in self.terminal.display]


def shows_help(rows: list[str], help_text: str) -> bool:
    """The help's lines are whole consecutive rows, the first one after the prompt's mark."""
    first, *rest = help_text.splitlines()
    return any(
        row.endswith(" " + first) and rows[at + 1 : at + 1 + len(rest)] == rest
        for at, row in enumerate(rows)
    )


def wait_for(
    child: pexpect.spawn, screen: Screen, shown: Callable[[list[str]], bool], what: str
) -> None:
    deadline = time.monotonic() + 60
    while not shown(screen.rows()):
        if child.eof() or time.monotonic() > deadline:
            on_screen = "\n".join(screen.rows())
            pytest.fail(f"the screen never showed {what}; it shows:\n{on_screen}")
        child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0.2)


def wait_for_help(child: pexpect.spawn, screen: Screen, help_text: str) -> None:
    wait_for(child, screen, lambda rows: shows_help(rows, help_text), repr(help_text))


def wait_for_row(child: pexpect.spawn, screen: Screen, row: str) -> None:
    wait_for(child, screen, lambda rows: row in rows, repr(row))


def as_data(question: str, typed: str) -> Any:
    return yaml.safe_load(typed) if question in YAML_QUESTIONS else typed


def test_an_interactive_run_shows_whole_help_and_refusals_at_80_columns(tmp_path: Path) -> None:
    helps = {name: spec["help"] for name, spec in questions().items() if "help" in spec}
    # What copier says to each refused answer when it is given with --data, after the
    # answers typed before it: the screen must show exactly that, on one row.
    given: dict[str, Any] = {}
    expected: dict[tuple[str, str], str] = {}
    for question, refused, final in SESSION:
        for number, typed in enumerate(refused):
            answers = {**given, question: as_data(question, typed)}
            expected[question, typed] = refusal(tmp_path / f"{question}-{number}", answers)
        if final is not None:
            given[question] = as_data(question, final)

    destination = tmp_path / "typed"
    env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}
    screen = Screen()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "copier", "copy", "--trust", "--vcs-ref", "HEAD", str(TEMPLATE), str(destination)],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(ROWS, COLUMNS),
    )
    child.logfile_read = screen
    try:
        for question, refused, final in SESSION:
            wait_for_help(child, screen, helps[question])
            for typed in refused:
                child.send(CLEAR_LINE + typed + "\r")
                wait_for_row(child, screen, expected[question, typed])
            child.send("\r" if final is None else CLEAR_LINE + final + "\r")
        child.expect(pexpect.EOF, timeout=180)
    finally:
        child.close()
    assert child.exitstatus == 0, "\n".join(screen.rows())

    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["project_name"] == "shop-api"
    assert answers["package_name"] == "shop_api"
    assert answers["description"] == "A shop."
    assert answers["author_email"] == "team@example.com"
    assert answers["python_version"] == "3.11"
    assert answers["cells"] == ["notes", "billing"]
    assert answers["roles"] == {"admin": ["*"], "reader": ["*.read"]}
    assert answers["placements"] == {}
    assert answers["license"] == "MIT"
    # A text answer (so a typo gets a real message), rendered as the number it is.
    assert answers["http_port"] == "9090"
    blueprint = yaml.safe_load((destination / "blueprint.yml").read_text(encoding="utf-8"))
    assert blueprint["service"]["http_port"] == 9090
    assert_hygienic(destination)
    # The port the service gets: the settings default to the typed blueprint's, read at
    # run time (no rendered constant), and that model reads 9090 from this blueprint.
    settings = (destination / "src/shop_api/core/settings.py").read_text(encoding="utf-8")
    assert "port: int = Field(default_factory=blueprint_port)" in settings
    read = "from pathlib import Path; from shop_api.core.blueprint import read; "
    read += "print(read(Path('blueprint.yml')).service.http_port)"
    env = {**os.environ, "PYTHONPATH": str(destination / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    typed = subprocess.run(
        [sys.executable, "-c", read], cwd=destination, env=env, capture_output=True, text=True
    )
    assert typed.returncode == 0 and typed.stdout.strip() == "9090", typed.stderr
