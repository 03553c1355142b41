# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Runbooks: operations written as code, so that a move made once a year is rehearsed,
applied and checked the same way every time, and documented by what actually runs.

A runbook is a sequence of steps; each step has a *plan* (what it will do, computed from
the project as it is now), an *apply* (does it) and a *verify* (proves it worked). The
runner prints every plan first. Then:

- `<cli> runbook run NAME ...` is a dry run: it changes nothing. `--yes` applies.
- On a terminal without `--yes` it asks first; with `--yes`, or when stdin/stdout are
  not a terminal (CI, scripts), it never asks.
- The steps apply in order and each is verified before the next; a step that fails stops
  the run, says what was already applied and how to undo it, and exits 1. A runbook that
  refuses to start (a precondition fails) changes nothing and exits 2.

`docs/runbooks/<name>.md` is generated from these definitions by `explain` (the text of
each step is its functions' docstrings) and drift-checked by `explain --check`.

One job per module:

- `engine`: what a runbook is, and running one (plan, ask, apply, verify, report);
- `changes`: what a run changed in the files, and how to undo it (git);
- `prompt`: the yes/no question on a terminal;
- `hook`: the project's own tools a step starts (the template's regeneration, checks);
- `registry`: every runbook, by name; `docs`: their pages; `cli`: the `runbook` command;
- the runbooks themselves: `placement` (with `placement_*`), `rollback`, `keys`, `audit`,
  `backup` and `restore` (with `manifest`, a backup folder's), `load`, `deadletters`; and
  `state`, the service's state files they share.

This package re-exports what callers use, so `from <package>.ops.runbooks import
execute, registry` keeps working. Only the standard library (and pyyaml, pydantic) is
imported at module level: `explain` renders the docs during `copier copy`, in copier's
own interpreter.
"""

from __future__ import annotations

from .changes import changed_since, dirty, undo_hint
from .cli import add_parser
from .docs import documents, markdown
from .engine import (
    FAILED,
    REFUSED,
    Invocation,
    Mode,
    Outcome,
    Param,
    PreconditionError,
    Regeneration,
    Runbook,
    Step,
    StepError,
    choose_mode,
    command_line,
    execute,
    indent,
    prog,
)
from .hook import TemplateHook, environment_for
from .registry import registry

__all__ = [
    "FAILED",
    "REFUSED",
    "Invocation",
    "Mode",
    "Outcome",
    "Param",
    "PreconditionError",
    "Regeneration",
    "Runbook",
    "Step",
    "StepError",
    "TemplateHook",
    "add_parser",
    "changed_since",
    "choose_mode",
    "command_line",
    "dirty",
    "documents",
    "environment_for",
    "execute",
    "indent",
    "markdown",
    "prog",
    "registry",
    "undo_hint",
]
