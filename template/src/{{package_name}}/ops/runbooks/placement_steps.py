# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The steps a placement change shares: edit the blueprint, re-apply the template, run the
checks; each verified through the typed blueprint and the running configuration.

The settings read the placements from the typed blueprint at run time, so no Python
file carries them and none is parsed back here. What is verified instead:

1. the blueprint, re-read by its loader, places the cell where it was asked;
2. after the regeneration, the files derived from the blueprint (deploy/, the docs)
   follow it: `explain --check` in a new process on the regenerated code;
3. a new process loads every cell of the blueprint (`cells`), and its settings (with no
   `<PREFIX>PLACEMENTS` override) place the cell there: the running configuration.
"""

from __future__ import annotations

import json
import subprocess
import sys

from ...core.blueprint import BlueprintError, load
from ...core.names import ENV_PREFIX, PACKAGE
from .changes import changed_since, dirty
from .engine import StepError, prog
from .hook import TemplateHook, environment_for
from .placement_move import BLUEPRINT, IN_PROCESS, Check, Move, read_text, written

CONFLICT_MARKERS = ("<<<<<<< ", ">>>>>>> ")
SETTINGS_PROBE = (
    f"import json; from {PACKAGE}.core.settings import Settings; "
    "print(json.dumps(Settings().placements, sort_keys=True))"
)


def _run(move: Move, command: list[str]) -> subprocess.CompletedProcess[str]:
    """`command` in the project's root, on its code, with no placements override."""
    env = environment_for(move.root, drop=[f"{ENV_PREFIX}PLACEMENTS"])
    return subprocess.run(
        command, cwd=move.root, env=env, capture_output=True, text=True, timeout=300
    )


def _said(move: Move) -> str:
    return f"; the regeneration said:\n{move.regenerated}" if move.regenerated else ""


# ---- step 1: the blueprint ---------------------------------------------------------------


def plan_placement(move: Move) -> str:
    """Shows the line of `blueprint.yml` that changes; nothing else in the file does."""
    removed = [f"- {line}" for line in move.old_lines]
    return "\n".join([f"{BLUEPRINT}:{move.line}", *removed, f"+ {move.new_lines[0]}"])


def apply_placement(move: Move) -> str:
    """Writes that line, keeping every other byte of the file (comments, layout, line
    endings)."""
    if read_text(move.blueprint) != move.old_text:
        raise StepError(f"{BLUEPRINT} changed since the plan was made; run the runbook again")
    move.blueprint.write_bytes(move.new_text.encode("utf-8"))
    return f"{BLUEPRINT}:{move.line}: {move.cell}: {written(move.was)} -> {move.target}"


def placed_by_blueprint(move: Move) -> str | None:
    """Where the typed blueprint, parsed again, places the cell (None: in-process)."""
    try:
        blueprint = load(move.blueprint)
    except BlueprintError as error:
        raise StepError(str(error)) from None
    if move.cell not in blueprint.cells:
        raise StepError(f"{BLUEPRINT} no longer lists {move.cell}")
    return blueprint.cells[move.cell].transport


def verify_placement(move: Move) -> str:
    """The blueprint's loader accepts the file, and its typed model places the cell at
    the target."""
    found = placed_by_blueprint(move)
    if found != move.transport:
        raise StepError(f"cells.{move.cell}.placement reads back {written(found)}")
    return f"{BLUEPRINT} is valid and cells.{move.cell}.placement reads {move.target}"


# ---- step 2: the template ----------------------------------------------------------------


def plan_regenerate(move: Move) -> str:
    """Runs the regeneration loop as the pre-commit hook does when `blueprint.yml`
    changes: copier update re-applies the template with the blueprint as its data, and
    the files derived from the placements (deploy/, the docs) follow. The code itself
    reads the placement from the blueprint at run time."""
    return (
        f"python {TemplateHook.command}: deploy/ and the docs will place {move.cell} {move.target}"
    )


def _conflicted(move: Move, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        file = move.root / path
        if file.is_file():
            lines = file.read_bytes().decode("utf-8", "replace").splitlines()
            if any(line.startswith(CONFLICT_MARKERS) for line in lines):
                found.append(path)
    return found


def apply_regenerate(move: Move) -> str:
    """Runs it. Conflict markers left in a file, or an error with nothing applied, stop
    the runbook."""
    before = dirty(move.root)
    outcome = move.regeneration(move.root)
    move.regenerated = outcome.output
    changed = changed_since(move.root, before)
    conflicted = _conflicted(move, changed)
    if conflicted:
        raise StepError(
            "the template's changes conflict with edits in " + ", ".join(conflicted) + ": "
            "resolve the <<<<<<< markers and commit, or undo" + _said(move)
        )
    if outcome.returncode != 0 and not changed:
        raise StepError(f"the regeneration failed (exit {outcome.returncode}){_said(move)}")
    listing = ", ".join(changed) or "none"
    return f"exit {outcome.returncode}; files changed: {listing}\n{outcome.output}".rstrip()


def verify_regenerate(move: Move) -> str:
    """The typed blueprint still places the cell at the target (the template kept the
    change), and `explain --check`, in a new process on the regenerated code, finds the
    derived files (deploy/, the docs) in step with it."""
    if placed_by_blueprint(move) != move.transport:
        raise StepError(f"the regeneration undid cells.{move.cell}.placement{_said(move)}")
    done = _run(move, [sys.executable, "-m", PACKAGE, "explain", "--check"])
    if done.returncode != 0:
        stale = (done.stdout + done.stderr).strip()
        raise StepError(
            f"the files derived from {BLUEPRINT} do not place {move.cell} {move.target} "
            f"(stale):\n{stale}{_said(move)}"
        )
    return f"deploy/ and the docs place {move.cell} {move.target}"


# ---- step 3: the checks ------------------------------------------------------------------


def _check_commands() -> list[tuple[str, list[str]]]:
    python = sys.executable
    return [
        (f"{prog()} blueprint check", [python, "-m", PACKAGE, "blueprint", "check"]),
        (f"{prog()} cells", [python, "-m", PACKAGE, "cells"]),
        ("Settings().placements in a new process", [python, "-c", SETTINGS_PROBE]),
    ]


def plan_checks(move: Move) -> str:
    """Runs `blueprint check`, lists the cells (every cell of the blueprint loads), and
    reads the placements a fresh process's settings get from the blueprint (with no
    `<PREFIX>PLACEMENTS` override), each in a new process on the regenerated code."""
    return "\n".join(name for name, _ in _check_commands())


def apply_checks(move: Move) -> str:
    """Runs them in the project's root, with its `src/` first on the import path."""
    move.checks = []
    for name, command in _check_commands():
        done = _run(move, command)
        move.checks.append(Check(name, done.returncode, (done.stdout + done.stderr).strip()))
    return ", ".join(f"{c.name}: exit {c.returncode}" for c in move.checks)


def verify_checks(move: Move) -> str:
    """Every check exits 0, and the settings place the cell where the blueprint says."""
    for check in move.checks:
        if check.returncode != 0:
            raise StepError(f"`{check.name}` failed:\n{check.output}")
    probe = move.checks[-1].output.splitlines()[-1]
    seen = json.loads(probe).get(move.cell)
    if seen != move.transport:
        raise StepError(f"the settings place {move.cell} {seen or IN_PROCESS}: {probe}")
    return f"all {len(move.checks)} checks pass; the settings read placements {probe}"


def settings_placements(move: Move) -> dict[str, str]:
    """The placements a new process's settings read (the running configuration)."""
    done = _run(move, [sys.executable, "-c", SETTINGS_PROBE])
    if done.returncode != 0:
        raise StepError(f"the settings do not load:\n{(done.stdout + done.stderr).strip()}")
    placed: dict[str, str] = json.loads(done.stdout.splitlines()[-1])
    return placed
