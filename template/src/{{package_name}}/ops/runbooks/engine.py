# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The runbook engine: what a runbook is (params, steps, preconditions) and how one runs.

`execute` prints every step's plan, then (unless it is a dry run, or the user says no)
applies and verifies the steps in order. A step that fails stops the run, which says
what was already applied and how to undo it (from `changes`) and exits 1; a runbook
that refuses to start (a precondition fails) changes nothing and exits 2.

Only the standard library: `explain` imports the runbooks in copier's interpreter.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TextIO, TypeVar

from ...core.names import PROG
from .changes import changed_since, dirty, undo_hint
from .prompt import ask

T = TypeVar("T")
log = logging.getLogger(__name__)  # stdlib: explain imports this; `runbook` configures it
Mode = Literal["dry-run", "ask", "apply"]
REFUSED = 2
FAILED = 1


class PreconditionError(Exception):
    """The runbook will not start here; nothing was changed."""


class StepError(Exception):
    """A step could not be applied, or its result did not verify."""


@dataclass(frozen=True)
class Param:
    """One argument of a runbook: positional (`cell`) or an option (`--to`)."""

    name: str
    help: str
    metavar: str = "VALUE"
    choices: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.name.lstrip("-").replace("-", "_")

    @property
    def is_option(self) -> bool:
        return self.name.startswith("--")

    def usage(self) -> str:
        return f"{self.name} {self.metavar}" if self.is_option else self.metavar

    def meaning(self) -> str:
        choices = ", ".join(f"`{choice}`" for choice in self.choices)
        return f"{self.help}: {choices}" if choices else self.help


@dataclass(frozen=True)
class Step(Generic[T]):
    """What to do (`plan`), doing it (`apply`), proving it (`verify`). Each takes the
    runbook's subject; apply and verify return one line saying what they did and raise
    `StepError` when they cannot. Their docstrings are the step's documentation."""

    title: str
    plan: Callable[[T], str]
    apply: Callable[[T], str]
    verify: Callable[[T], str]


@dataclass(frozen=True)
class Outcome:
    returncode: int
    output: str


class Regeneration(Protocol):
    """Re-applies the template to a project (injectable, so runbooks can be tested
    without a template at hand)."""

    def problem(self, root: Path) -> str | None:
        """Why it cannot run in `root`, or None."""

    def __call__(self, root: Path) -> Outcome: ...


@dataclass(frozen=True)
class Invocation:
    root: Path
    arguments: Mapping[str, str]
    regeneration: Regeneration


@dataclass(frozen=True)
class Runbook(Generic[T]):
    """`prepare` checks the preconditions (raising `PreconditionError`) and returns the
    subject the steps work on; its docstring lists the refusals. `undo` names the
    command that reverses a committed run."""

    name: str
    summary: str
    about: str
    params: tuple[Param, ...]
    prepare: Callable[[Invocation], T]
    steps: tuple[Step[T], ...]
    undo: Callable[[T], str]


def prog() -> str:
    """The command line's name, as a runbook's messages and pages print it."""
    return PROG


def indent(text: str, prefix: str = "     ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def _field(label: str, text: str) -> str:
    """`label: first line`, the other lines indented under it."""
    first, _, rest = text.partition("\n")
    return indent(f"{label}: {first}") + ("\n" + indent(rest, " " * 9) if rest else "")


def command_line(runbook: Runbook[Any], arguments: Mapping[str, str]) -> str:
    """`promote-cell notes --to redis`: the runbook as it was asked for."""
    words = [runbook.name]
    for param in runbook.params:
        value = arguments[param.key]
        words += [param.name, value] if param.is_option else [value]
    return " ".join(words)


def choose_mode(yes: bool, dry_run: bool, tty: bool) -> Mode:
    """`--yes` applies; `--dry-run`, or no terminal to ask on, is a dry run."""
    if yes:
        return "apply"
    return "ask" if tty and not dry_run else "dry-run"


def execute(
    runbook: Runbook[Any],
    invocation: Invocation,
    mode: Mode,
    out: TextIO | None = None,
    confirm: Callable[[str], bool] = ask,
) -> int:
    """Print the plan, then (unless this is a dry run) apply and verify step by step."""
    out = out or sys.stdout
    err = sys.stderr if out is sys.stdout else out
    try:
        subject = runbook.prepare(invocation)
    except PreconditionError as refusal:
        print(f"{runbook.name} refused, nothing was changed: {refusal}", file=err)
        return REFUSED
    asked = command_line(runbook, invocation.arguments)
    _print_plan(runbook, subject, asked, out)
    if mode == "ask":
        out.flush()
        if not confirm(f"Apply the {len(runbook.steps)} steps of {runbook.name}?"):
            print("not applied: nothing was changed", file=out)
            return 0
    elif mode == "dry-run":
        print("dry run: nothing was changed (add --yes to apply)", file=out)
        return 0
    return _apply(runbook, subject, invocation.root, asked, out, err)


def _print_plan(runbook: Runbook[Any], subject: Any, asked: str, out: TextIO) -> None:
    print(f"runbook {asked}: {runbook.summary}", file=out)
    print("plan:", file=out)
    for number, step in enumerate(runbook.steps, 1):
        print(f"  {number}. {step.title}", file=out)
        print(indent(step.plan(subject)), file=out)


def _apply(
    runbook: Runbook[Any], subject: Any, root: Path, asked: str, out: TextIO, err: TextIO
) -> int:
    """Apply and verify each step in order; the first failure stops the run."""
    before = dirty(root)
    print("applying:", file=out)
    for number, step in enumerate(runbook.steps, 1):
        print(f"  {number}. {step.title}", file=out)
        try:
            print(_field("applied", step.apply(subject)), file=out)
            print(_field("verified", step.verify(subject)), file=out)
            log.info("runbook %s: step %d applied and verified", runbook.name, number)
        except (StepError, OSError, subprocess.SubprocessError) as failure:
            out.flush()
            _report_failure(runbook, subject, number, failure, root, before, err)
            return FAILED
    changed = changed_since(root, before)
    print(f"done: {runbook.name} applied and verified.", file=out)
    if changed:
        print("changed: " + " ".join(changed), file=out)
        print(f'review and commit: git add -A && git commit -m "{asked}"', file=out)
        print("undo before committing:", file=out)
        print(indent("\n".join(undo_hint(root, before, changed)), "  "), file=out)
    print(f"undo once committed: {runbook.undo(subject)}", file=out)
    return 0


def _report_failure(
    runbook: Runbook[Any],
    subject: Any,
    number: int,
    failure: BaseException,
    root: Path,
    before: Mapping[str, str],
    err: TextIO,
) -> None:
    step = runbook.steps[number - 1]
    print(f"FAILED at step {number} ({step.title}): {failure}", file=err)
    done = [f"{n}. {s.title}" for n, s in enumerate(runbook.steps[: number - 1], 1)]
    print("already applied: " + (", ".join(done) or "nothing before this step"), file=err)
    changed = changed_since(root, before)
    if changed:
        print("files changed so far: " + " ".join(changed), file=err)
        print("to undo them:", file=err)
        print(indent("\n".join(undo_hint(root, before, changed)), "  "), file=err)
    else:
        print("no file was changed", file=err)
    later = [f"{n}. {s.title}" for n, s in enumerate(runbook.steps, 1) if n > number]
    if later:
        print("not run: " + ", ".join(later), file=err)
