"""Point 2: a real interactive `copier copy` in a pseudo-terminal.

Two questions are answered by typing; the rest are accepted with Enter. The prompts
must show each question's help text, and a bad answer is refused on the spot.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import yaml

from .conftest import TEMPLATE, assert_hygienic

CLEAR_LINE = "\x15"  # Ctrl-U: drop the pre-filled default before typing


def test_an_interactive_run_shows_help_and_takes_typed_answers(tmp_path: Path) -> None:
    destination = tmp_path / "typed"
    env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "copier", "copy", "--trust", "--vcs-ref", "HEAD", str(TEMPLATE), str(destination)],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 160),
    )
    try:
        child.expect("Project name, a lowercase slug")
        child.send(CLEAR_LINE + "Shop API\r")
        child.expect("must be a lowercase slug")
        child.send(CLEAR_LINE + "shop-api\r")
        for help_text in (
            "Python import name",
            "One line saying what the service does",
            "Author or team name",
            "Contact e-mail address",
            "Oldest Python the project supports",
            "The cells",
            "Who may do what",
            "Cells that run as workers",
        ):
            child.expect(help_text)
            child.send("\r")
        child.expect("TCP port the service listens on")
        child.send(CLEAR_LINE + "9090\r")
        child.expect("Licence of the generated project")
        child.send("\r")
        child.expect(pexpect.EOF, timeout=120)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before

    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["project_name"] == "shop-api"
    assert answers["package_name"] == "shop_api"
    assert answers["http_port"] == 9090
    assert answers["cells"] == ["notes"]
    assert answers["roles"] == {"admin": ["*"], "member": ["*.read", "*.write"]}
    assert answers["placements"] == {}
    assert answers["license"] == "MIT"
    assert "port: int = 9090" in (destination / "src/shop_api/core/settings.py").read_text()
    assert_hygienic(destination)
