# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Placement runbooks: `promote-cell NAME --to redis|nats` moves a cell out of the
gateway's process onto a worker; `demote-cell NAME` brings it back.

`blueprint.yml` is the one place where a placement is decided, and the settings read it
from the typed blueprint at run time. So both runbooks change one line of it (the
user's comments and layout stay byte for byte; `placement_move`), let the template
follow through the regeneration loop (the derived deploy files and docs), verify
through the typed blueprint and a fresh process's settings (`placement_steps`), and
print how to deploy (`placement_deploy`). Nothing is committed: the user reviews the
change and commits it like any other blueprint change.
"""

from __future__ import annotations

from typing import Any

from .engine import Invocation, Param, Runbook, Step, prog
from .placement_deploy import (
    apply_deploy,
    apply_retire,
    plan_deploy,
    plan_retire,
    verify_deploy,
    verify_retire,
)
from .placement_move import TRANSPORTS, Move, prepare
from .placement_steps import (
    apply_checks,
    apply_placement,
    apply_regenerate,
    plan_checks,
    plan_placement,
    plan_regenerate,
    verify_checks,
    verify_placement,
    verify_regenerate,
)


def prepare_promote(invocation: Invocation) -> Move:
    """- `NAME` is not a cell of `blueprint.yml`, or it already runs on a worker over that
      transport; the transport is not redis or nats;
    - `blueprint.yml` is invalid;
    - the project has no commit yet, or `blueprint.yml`, `.copier-answers.yml`,
      `.cellforge-state.json` or a template-owned file under `src/` has uncommitted
      changes (the template must apply this change alone, so that it can be undone alone);
    - the regeneration cannot run here (no `.cellforge/`, or copier is not installed)."""
    return prepare(invocation, invocation.arguments["to"])


def prepare_demote(invocation: Invocation) -> Move:
    """- `NAME` is not a cell of `blueprint.yml`, or it already runs in the gateway's
      process;
    - `blueprint.yml` is invalid;
    - the project has no commit yet, or `blueprint.yml`, `.copier-answers.yml`,
      `.cellforge-state.json` or a template-owned file under `src/` has uncommitted
      changes (the template must apply this change alone, so that it can be undone alone);
    - the regeneration cannot run here (no `.cellforge/`, or copier is not installed)."""
    return prepare(invocation, None)


def undo_promote(move: Move) -> str:
    """Once the promotion is committed, `demote-cell NAME` reverses it through the same
    steps (or `promote-cell NAME --to` the transport it had, if it had one)."""
    if move.was:
        return f"uv run {prog()} runbook run promote-cell {move.cell} --to {move.was} --yes"
    return f"uv run {prog()} runbook run demote-cell {move.cell} --yes"


def undo_demote(move: Move) -> str:
    """Once the demotion is committed, `promote-cell NAME --to TRANSPORT` (the transport
    it had) reverses it, through the same steps."""
    return f"uv run {prog()} runbook run promote-cell {move.cell} --to {move.was} --yes"


CELL = Param("cell", "a cell of `blueprint.yml`", metavar="NAME")
SET_PLACEMENT = Step("set the placement", plan_placement, apply_placement, verify_placement)
REAPPLY = Step("re-apply the template", plan_regenerate, apply_regenerate, verify_regenerate)
CHECKS = Step("run the checks", plan_checks, apply_checks, verify_checks)

PROMOTE: Runbook[Move] = Runbook(
    name="promote-cell",
    summary="move a cell out of the gateway's process onto a worker over redis or nats",
    about="""
    Use it when a cell needs its own process: sustained load that a trigger reports, or
    a flag of the cell (untrusted code, isolation). The cell's code does not change; the
    gateway reaches it over the transport instead of a call in its own process, and the
    worker (`worker --cell NAME`) runs it.
    """,
    params=(
        CELL,
        Param("--to", "the transport the worker is reached over", "TRANSPORT", TRANSPORTS),
    ),
    prepare=prepare_promote,
    steps=(
        SET_PLACEMENT,
        REAPPLY,
        CHECKS,
        Step("deploy the worker", plan_deploy, apply_deploy, verify_deploy),
    ),
    undo=undo_promote,
)

DEMOTE: Runbook[Move] = Runbook(
    name="demote-cell",
    summary="bring a cell back from its worker into the gateway's process",
    about="""
    The reverse of `promote-cell`: the cell runs in the gateway's process again, on the
    in-memory bus, and its worker can be stopped.
    """,
    params=(CELL,),
    prepare=prepare_demote,
    steps=(
        SET_PLACEMENT,
        REAPPLY,
        CHECKS,
        Step("retire the worker", plan_retire, apply_retire, verify_retire),
    ),
    undo=undo_demote,
)

RUNBOOKS: tuple[Runbook[Any], ...] = (PROMOTE, DEMOTE)
