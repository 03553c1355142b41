# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""A runbook's page, `docs/runbooks/<name>.md`, from its definition alone.

The text of each step is its functions' docstrings, the refusals are `prepare`'s, so the
page says what the code does. `explain` writes the pages and `explain --check` fails
when one drifts; `<cli> runbook show NAME` prints one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...core.markers import derived_line
from .engine import Runbook, prog
from .registry import registry


def _doc(function: Callable[..., Any]) -> str:
    text = inspect.getdoc(function) or ""
    return " ".join(text.split())


def markdown(runbook: Runbook[Any], program: str) -> str:
    """The runbook's page, from its definition alone (no project state)."""
    usage = " ".join(param.usage() for param in runbook.params)
    command = f"uv run {program} runbook run {runbook.name} {usage}"
    lines = [derived_line(f"docs/runbooks/{runbook.name}.md", program), ""]
    lines += [f"# Runbook `{runbook.name}`", "", runbook.summary[:1].upper()]
    lines[-1] += runbook.summary[1:] + "."
    lines += ["", *inspect.cleandoc(runbook.about).splitlines(), "", "```sh"]
    lines += [f"{command}          # dry run: prints every step's plan, changes nothing"]
    lines += [f"{command} --yes    # applies, verifying each step", "```", ""]
    lines += ["On a terminal, without `--yes`, it shows the plan and asks before applying;"]
    lines += ["without a terminal (CI, scripts) it never asks: no `--yes`, no change.", ""]
    lines += ["| argument | meaning |", "| --- | --- |"]
    lines += [f"| `{param.usage()}` | {param.meaning()} |" for param in runbook.params]
    lines += ["", "## Refused, with nothing changed, when", ""]
    lines += [inspect.cleandoc(runbook.prepare.__doc__ or ""), "", "## Steps", ""]
    for number, step in enumerate(runbook.steps, 1):
        lines += [f"### {number}. {step.title}", ""]
        lines += [f"- **plan**: {_doc(step.plan)}", f"- **apply**: {_doc(step.apply)}"]
        lines += [f"- **verify**: {_doc(step.verify)}", ""]
    lines += ["## When a step fails", ""]
    lines += ["The run stops at that step (exit 1) and prints what was already applied, the"]
    lines += ["files changed so far and the commands that restore them.", ""]
    lines += ["## Undo", "", _doc(runbook.undo)]
    return "\n".join(lines) + "\n"


def documents(root: Path) -> list[tuple[Path, str]]:
    """`docs/runbooks/<name>.md` for every runbook (written by `explain`)."""
    program = prog()
    return [
        (root / "docs" / "runbooks" / f"{name}.md", markdown(runbook, program))
        for name, runbook in sorted(registry().items())
    ]
