# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Triggers: when a cell should leave the gateway's process, judged from metrics.

A trigger is a threshold from `blueprint.yml` (`triggers:`) over a window of the metrics
series the service records, never one sample; a flag in the blueprint is a fact that
fires at once. A firing names the cell to move and the runbook that moves it. One job a
module:

- `thresholds`: what the blueprint says: the thresholds and windows, each cell's
  placement and flags.
- `windows`: a window of the series, how much of it the samples cover, the value a
  trigger compares and the cell behind the load.
- `definitions`: the triggers themselves, as data.
- `evaluation`: every trigger's state at a moment, with its evidence and playbook.
- `cli`: `<cli> triggers check`.
- `document`: `docs/distribution.md`, rendered from the definitions by `explain`.

Every module imports only the standard library at import time: `explain` also runs while
the template is applied, without the project's virtualenv.
"""

from .cli import add_parser, check, report
from .definitions import CELLS_DIR, NO_CELL, TRIGGERS, Trigger
from .document import MONOLITH_FIRST, render_distribution
from .evaluation import Context, Finding, evaluate, folder_sizes
from .thresholds import CellFacts, Thresholds, cell_facts

__all__ = [
    "CELLS_DIR",
    "MONOLITH_FIRST",
    "NO_CELL",
    "TRIGGERS",
    "CellFacts",
    "Context",
    "Finding",
    "Thresholds",
    "Trigger",
    "add_parser",
    "cell_facts",
    "check",
    "evaluate",
    "folder_sizes",
    "render_distribution",
    "report",
]
