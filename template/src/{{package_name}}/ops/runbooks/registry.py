# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Every runbook, by name: the one list the command line and the docs are made from.

A runbook module declares its runbooks in `RUNBOOKS`; adding a module means adding it
here. Each imports only the standard library at module level (and pyyaml or pydantic),
because `explain` renders their pages in copier's interpreter.
"""

from __future__ import annotations

from typing import Any

from . import audit, backup, deadletters, keys, load, placement, restore, rollback
from .engine import Runbook

MODULES = (placement, keys, audit, backup, restore, load, rollback, deadletters)


def registry() -> dict[str, Runbook[Any]]:
    """Every runbook, by name."""
    return {runbook.name: runbook for module in MODULES for runbook in module.RUNBOOKS}
