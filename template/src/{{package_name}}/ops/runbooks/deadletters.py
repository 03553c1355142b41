# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Dead letters: `dead-letters CELL` lists a cell's, `replay-dead-letters CELL --id ID`
puts them back into its inbox and `drop-dead-letters CELL --id ID` deletes them (`all`
for every one).

A delivery to a cell on a worker whose handler kept failing with a passing error is
moved, after the blueprint's `delivery.max_attempts`, to the cell's dead letters on the
server that carried it (core/transport/): it no longer loops, and it is not lost. Once
the cause is fixed (a database back, a bug deployed away), a replay sends it again as it
was received, so the worker checks it like any delivery and its handler dedupes it by
id; dropping is for what should never run. A cell in the gateway's process can have dead
letters too (events reach it from workers), so every transport in use is searched.

A delivery's envelope (core/envelope.py) goes stale after the replay window, so a replay
first verifies the dead letter's signature (at any age; one that does not verify is
refused: drop it) and seals its body again, for the same id, cell and reply channel, with
a fresh time: only an operator holding the delivery keyring can put a delivery back, and
the worker verifies it as usual. The listing shows ids, attempts, the error's type and
sizes, never a body.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ...core.blueprint import load
from ...core.transport import TransportError
from ...core.transport.adapters import open_transport
from .engine import Invocation, Param, PreconditionError, Runbook, Step, StepError, prog
from .state import settings_at

if TYPE_CHECKING:
    from ...core.envelope import Envelopes
    from ...core.settings import Settings
    from ...core.transport import DeadLetter, Delivery, Kind, Transport

T = TypeVar("T")
ALL = "all"
SHOWN = 50  # lines of a plan: the rest is counted


@dataclass
class Letters:
    cell: str
    settings: Settings
    kinds: tuple[Kind, ...]  # the transports searched
    found: list[tuple[Kind, DeadLetter]]  # the cell's dead letters when the run began
    chosen: list[tuple[Kind, DeadLetter]] = field(default_factory=list)  # what --id names


def on_each(
    settings: Settings, kinds: tuple[Kind, ...], work: Callable[..., Awaitable[T]]
) -> dict[Kind, T]:
    """`work(transport)` on a connected transport of each kind, one after the other."""

    async def run() -> dict[Kind, T]:
        results: dict[Kind, T] = {}
        for kind in kinds:
            transport: Transport = open_transport(kind, settings)
            await transport.connect()
            try:
                results[kind] = await work(transport)
            finally:
                await transport.close()
        return results

    return asyncio.run(run())


def read(settings: Settings, kinds: tuple[Kind, ...], cell: str) -> list[tuple[Kind, DeadLetter]]:
    async def listing(transport: Transport) -> list[DeadLetter]:
        return await transport.dead_letters(cell)

    found = on_each(settings, kinds, listing)
    return [(kind, letter) for kind in kinds for letter in found[kind]]


def _cells(root: Path, settings: Settings) -> set[str]:
    path = settings.blueprint if settings.blueprint.is_absolute() else root / settings.blueprint
    if not path.is_file():
        return set(settings.placements)
    return set(load(path).cells)


def prepare_letters(invocation: Invocation) -> Letters:
    """- `CELL` is not a cell of `blueprint.yml`;
    - no cell runs on a worker (every placement is in-process): nothing crosses Redis or
      NATS, so nothing is dead-lettered;
    - a server the placements use cannot be reached;
    - (drop) `--id` names no dead letter of the cell."""
    root, cell = invocation.root, invocation.arguments["cell"]
    settings = settings_at(root)
    if cell not in _cells(root, settings):
        raise PreconditionError(f"{cell!r} is not a cell of blueprint.yml")
    kinds = tuple(sorted({kind for kind in settings.placements.values() if kind != "memory"}))
    if not kinds:
        raise PreconditionError("no cell runs on a worker, so no delivery crosses a server")
    try:
        found = read(settings, kinds, cell)
    except TransportError as error:
        raise PreconditionError(f"cannot read the dead letters: {error}") from None
    letters = Letters(cell, settings, kinds, found)
    wanted = invocation.arguments.get("id")
    if wanted is not None:
        letters.chosen = [(k, dead) for k, dead in found if wanted in (ALL, dead.delivery.id)]
        if not letters.chosen:
            raise PreconditionError(f"{cell} has no dead letter with id {wanted!r}")
    return letters


def describe(kind: Kind, dead: DeadLetter) -> str:
    moved = datetime.fromtimestamp(dead.moved_at, UTC).isoformat(timespec="seconds")
    return (
        f"{dead.delivery.id} on {kind} ({dead.ref}): {dead.attempts} attempts, last error "
        f"{dead.error}, moved {moved}, {len(dead.delivery.body)} bytes"
    )


def listing(letters: list[tuple[Kind, DeadLetter]]) -> str:
    lines = [describe(kind, dead) for kind, dead in letters[:SHOWN]]
    if len(letters) > SHOWN:
        lines.append(f"... and {len(letters) - SHOWN} more")
    return "\n".join(lines)


# ---- dead-letters ----------------------------------------------------------------------


def plan_list(letters: Letters) -> str:
    """Lists the cell's dead letters on every transport the placements use: the id, the
    server's reference, the attempts, the last error's type, when it was moved and the
    body's size (never the body)."""
    where = ", ".join(letters.kinds)
    head = f"{len(letters.found)} dead letter(s) of {letters.cell} on {where}"
    return head + (":\n" + listing(letters.found) if letters.found else "")


def apply_list(letters: Letters) -> str:
    """Reads them again: the listing above was taken when the run began."""
    letters.found = read(letters.settings, letters.kinds, letters.cell)
    return f"{len(letters.found)} now" + (":\n" + listing(letters.found) if letters.found else "")


def verify_list(letters: Letters) -> str:
    """Nothing to verify: the runbook only reads."""
    return "read only: nothing changed"


def undo_list(letters: Letters) -> str:
    """Nothing to undo: the runbook only reads."""
    return "nothing (read only)"


# ---- replay-dead-letters and drop-dead-letters -----------------------------------------


def _on_chosen(letters: Letters, action: str) -> int:
    """`replay` (re-sealed) or `drop` every chosen dead letter; how many were still there."""
    envelopes = _envelopes(letters.settings) if action == "replay" else None

    async def each(transport: Transport) -> int:
        done = 0
        for kind, dead in letters.chosen:
            if kind != transport.kind:
                continue
            if envelopes is None:
                done += await transport.drop(letters.cell, dead.ref)
            else:
                body = _resealed(*envelopes, letters.cell, dead.delivery)
                done += await transport.replay(letters.cell, dead.ref, body)
        return done

    kinds = tuple(sorted({kind for kind, _ in letters.chosen}))
    try:
        return sum(on_each(letters.settings, kinds, each).values())
    except TransportError as error:
        raise StepError(str(error)) from None


def _still_there(letters: Letters) -> list[str]:
    refs = {(kind, dead.ref) for kind, dead in letters.chosen}
    now = read(letters.settings, letters.kinds, letters.cell)
    return [describe(kind, dead) for kind, dead in now if (kind, dead.ref) in refs]


def _envelopes(settings: Settings) -> tuple[Envelopes, Envelopes]:
    """The delivery keyring's envelopes: one that opens any age, one that seals now."""
    # start-up cost: explain imports the runbooks in copier's interpreter: no cryptography
    from ...core.envelope import Envelopes, delivery_envelopes, load_delivery_keyring

    return Envelopes(load_delivery_keyring(settings), math.inf), delivery_envelopes(settings)


def _opened(any_age: Envelopes, cell: str, delivery: Delivery) -> bytes:
    opened = any_age.open("delivery", delivery.id, cell, delivery.reply_to, delivery.body)
    return opened.body


def _resealed(any_age: Envelopes, fresh: Envelopes, cell: str, delivery: Delivery) -> bytes:
    """The delivery's body, verified (any age) and sealed again now, for the same id, cell
    and reply channel."""
    body = _opened(any_age, cell, delivery)
    return fresh.seal("delivery", delivery.id, cell, delivery.reply_to, body)


def prepare_replay(invocation: Invocation) -> Letters:
    """- `CELL` is not a cell of `blueprint.yml`;
    - no cell runs on a worker (every placement is in-process): nothing crosses Redis or
      NATS, so nothing is dead-lettered;
    - a server the placements use cannot be reached;
    - `--id` names no dead letter of the cell;
    - one of them does not verify under the delivery keyring (unsigned, forged, or under
      a key dropped since): it is not one of ours, or no longer replayable; drop it."""
    # start-up cost: explain imports the runbooks in copier's interpreter: no cryptography
    from ...core.envelope import Refused

    letters = prepare_letters(invocation)
    any_age, _ = _envelopes(letters.settings)
    for _, dead in letters.chosen:
        try:
            _opened(any_age, letters.cell, dead.delivery)
        except Refused as refusal:
            raise PreconditionError(
                f"dead letter {dead.delivery.id} does not verify ({refusal.reason}): "
                "drop it instead (`drop-dead-letters`)"
            ) from None
    return letters


def plan_replay(letters: Letters) -> str:
    """Lists the dead letters `--id` names; each goes back into the cell's inbox exactly
    as it was received, and its attempts start again."""
    return f"{len(letters.chosen)} back into {letters.cell}'s inbox:\n" + listing(letters.chosen)


def apply_replay(letters: Letters) -> str:
    """Seals each again with a fresh time, puts it into the inbox and takes it out of the
    dead letters (on Redis in one transaction; on NATS once JetStream holds it in the
    inbox)."""
    done = _on_chosen(letters, "replay")
    if done < len(letters.chosen):
        raise StepError(f"{len(letters.chosen) - done} were gone already (replayed or dropped)")
    return f"{done} put back into {letters.cell}'s inbox"


def verify_replay(letters: Letters) -> str:
    """None of them is a dead letter any more. One that fails again comes back to the
    dead letters after its attempts, under a new reference."""
    left = _still_there(letters)
    if left:
        raise StepError("still dead letters: " + "; ".join(left))
    return f"none of the {len(letters.chosen)} is a dead letter now"


def undo_replay(letters: Letters) -> str:
    """None: a replayed delivery is in the inbox, and one that fails again returns to the
    dead letters by itself."""
    return "none needed: what fails again returns to the dead letters"


def plan_drop(letters: Letters) -> str:
    """Lists the dead letters `--id` names; each is deleted for good."""
    return f"{len(letters.chosen)} deleted for good:\n" + listing(letters.chosen)


def apply_drop(letters: Letters) -> str:
    """Deletes each from the cell's dead letters."""
    done = _on_chosen(letters, "drop")
    if done < len(letters.chosen):
        raise StepError(f"{len(letters.chosen) - done} were gone already (replayed or dropped)")
    return f"{done} deleted"


def verify_drop(letters: Letters) -> str:
    """None of them is among the cell's dead letters any more."""
    left = _still_there(letters)
    if left:
        raise StepError("still dead letters: " + "; ".join(left))
    return f"none of the {len(letters.chosen)} is left"


def undo_drop(letters: Letters) -> str:
    """None: a dropped delivery is gone. Its id is in the plan printed above, and in the
    worker's log, should its sender have to send it again."""
    return f"none: dropped for good (`{prog()} runbook run dead-letters {letters.cell}` lists)"


CELL = Param("cell", "the cell whose dead letters these are", "CELL")
ID = Param("--id", "a dead letter's delivery id, or `all`", "ID")

DEAD_LETTERS: Runbook[Letters] = Runbook(
    name="dead-letters",
    summary="list a cell's dead letters: deliveries that kept failing",
    about="""
    Run it when the `dead letter` errors appear in a worker's log. The dry run lists them;
    fix what made them fail, then replay them (`replay-dead-letters`) or drop them
    (`drop-dead-letters`).
    """,
    params=(CELL,),
    prepare=prepare_letters,
    steps=(Step("list the dead letters", plan_list, apply_list, verify_list),),
    undo=undo_list,
)

REPLAY_DEAD_LETTERS: Runbook[Letters] = Runbook(
    name="replay-dead-letters",
    summary="put a cell's dead letters back into its inbox, as received",
    about="""
    Run it once the cause of the failures is fixed. Each delivery goes through the same
    checks and deduplication as any other; its attempts start again.
    """,
    params=(CELL, ID),
    prepare=prepare_replay,
    steps=(Step("replay the dead letters", plan_replay, apply_replay, verify_replay),),
    undo=undo_replay,
)

DROP_DEAD_LETTERS: Runbook[Letters] = Runbook(
    name="drop-dead-letters",
    summary="delete a cell's dead letters for good",
    about="""
    Run it for deliveries that should never run (a message no version will handle).
    """,
    params=(CELL, ID),
    prepare=prepare_letters,
    steps=(Step("drop the dead letters", plan_drop, apply_drop, verify_drop),),
    undo=undo_drop,
)

RUNBOOKS: tuple[Runbook[Any], ...] = (DEAD_LETTERS, REPLAY_DEAD_LETTERS, DROP_DEAD_LETTERS)
