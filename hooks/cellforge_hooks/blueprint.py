# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""From `blueprint.yml` to copier answers, and from one blueprint to the next.

Only the keys the template consumes are read here; the project's own
`<package>.core.blueprint` validates the whole file against its JSON Schema first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PORT_KEY = ("service", "http_port")


def read(path: Path) -> dict[str, Any]:
    # optional integration: pyyaml (post-render also runs as `python -S`, without it)
    import yaml

    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data


def answers(blueprint: dict[str, Any]) -> dict[str, Any]:
    """The copier answers that the blueprint decides."""
    port: Any = blueprint
    for key in PORT_KEY:
        port = port[key]
    cells = blueprint["cells"]
    decided: dict[str, Any] = {
        "cells": list(cells),
        # Text, as copier records it: copier.yml asks http_port as a string, so that a
        # non-number gets a message of its own instead of copier's "Invalid input".
        "http_port": str(port),
        "placements": worker_placements(cells),
    }
    if "roles" in blueprint:
        decided["roles"] = {role: list(spec["grants"]) for role, spec in blueprint["roles"].items()}
    return decided


def worker_placements(cells: dict[str, Any]) -> dict[str, str]:
    """cell -> transport for the cells placed `{worker: redis|nats}`; in-process ones are
    the default and not listed."""
    placed: dict[str, str] = {}
    for name, spec in cells.items():
        placement = (spec or {}).get("placement")
        if isinstance(placement, dict):
            placed[name] = placement["worker"]
    return placed
