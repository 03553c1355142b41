# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The question a runbook asks on a terminal before it applies anything: yes or no.

questionary draws the prompt where it is installed: it is a dev dependency, so it is in
a developer's environment but not in the Docker image. Without it the question is a
plain `input()` line that takes y or yes; anything else, or no answer at all (end of
input), is no, as questionary's default is.
"""

from __future__ import annotations


def ask(question: str) -> bool:
    """The user's answer to `question`, no by default."""
    try:
        # start-up cost: questionary (prompt_toolkit) is dev-only, not in the Docker image
        import questionary
    except ImportError:
        return ask_plainly(question)
    return bool(questionary.confirm(question, default=False).ask())


def ask_plainly(question: str) -> bool:
    """`question [y/N]` on standard input and output."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")
