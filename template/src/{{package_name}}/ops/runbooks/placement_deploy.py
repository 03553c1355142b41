# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The last step of a placement change: how to deploy it (promote) or retire the worker
(demote). Deploying is the user's (or their pipeline's), so these steps print commands
and check what can be checked here, never start or stop anything.
"""

from __future__ import annotations

import importlib.util

from ...core.names import ENV_PREFIX
from ...core.transport import DEFAULT_URLS
from .engine import indent, prog
from .placement_move import Move
from .placement_steps import settings_placements


def _lines(pairs: list[tuple[str, str]]) -> str:
    """Commands with their comments aligned."""
    width = max(len(command) for command, _ in pairs)
    return "\n".join(f"{command.ljust(width)}  # {why}" for command, why in pairs)


def _instructions(move: Move) -> str:
    cli, cell = f"uv run {prog()}", move.cell
    commit = ("git add -A && git commit", "first: every deploy then agrees on the placement")
    if move.transport is None:
        return _lines(
            [
                commit,
                (f"{cli} serve", f"restart the gateway: it handles {cell} itself again"),
                (
                    f"{prog()} worker --cell {cell}",
                    f"then stop it, once its {move.was} queue is empty",
                ),
            ]
        )
    transport = move.transport
    url = DEFAULT_URLS[transport]
    return _lines(
        [
            commit,
            (f"uv sync --extra {transport}", f"the {transport} client, wherever the service runs"),
            (f"export {ENV_PREFIX}{transport.upper()}_URL={url}", "your server: the same for both"),
            (f"{cli} worker --cell {cell}", "start the worker first"),
            (f"{cli} serve", f"then restart the gateway: it sends {cell}'s messages there"),
        ]
    )


def plan_deploy(move: Move) -> str:
    """Prints how to run the cell's worker: the transport's client to install, the
    server's URL to set (the same for the gateway and the worker), the worker's command,
    and the order (the worker first, then the gateway)."""
    return _instructions(move)


def apply_deploy(move: Move) -> str:
    """Prints them again, now that the code agrees: deploying is yours (or your
    pipeline's), not the runbook's."""
    return "deploy it:\n" + indent(_instructions(move), "  ")


def verify_deploy(move: Move) -> str:
    """Says whether the transport's client library is installed here (a reminder, never
    a failure: the worker may run elsewhere)."""
    assert move.transport is not None
    extra = move.transport  # the packages redis and nats-py, imported as redis and nats
    if importlib.util.find_spec(extra) is None:
        return f"the {extra} client is NOT installed here: uv sync --extra {extra}"
    return f"the {move.transport} client is installed here"


def plan_retire(move: Move) -> str:
    """Prints how to take the worker out: restart the gateway first (it handles the cell
    in its own process again), then stop the worker once it has finished what is
    queued for it."""
    return _instructions(move)


def apply_retire(move: Move) -> str:
    """Prints them again, now that the code agrees: deploying is yours (or your
    pipeline's), not the runbook's."""
    return "deploy it:\n" + indent(_instructions(move), "  ")


def verify_retire(move: Move) -> str:
    """Says whether another cell still uses the transport the worker used (if none, its
    server URL setting can go), as a new process's settings read the placements."""
    placed = settings_placements(move)
    others = sorted(cell for cell, t in placed.items() if t == move.was)
    if others:
        return f"{move.was} is still used by: {', '.join(others)}"
    return f"no cell uses {move.was} any more"
