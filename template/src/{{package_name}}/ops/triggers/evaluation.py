# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Evaluation: every trigger's state at a moment, with its evidence and its playbook.

Load is judged like a multiwindow burn-rate alert (Google SRE Workbook, "Alerting on
SLOs"): a trigger fires only when its value exceeds the threshold over both the long
window (60 min by default: the load is sustained) and the short one (5 min: it is still
there now). A 10-minute spike moves the short window but not the long one; once load
drops, the short window clears the trigger within minutes. A long window the samples do
not cover (90 % of it) is "no data", never a firing.

The code size is a size, not a rate: it is judged on the latest sample. Flags in the
blueprint are facts, not load: they fire at once for the cells they mark, until the cell
runs on a worker. A firing names the cell to move and the runbook that moves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ...core.series import Sample
from .definitions import (
    CELLS_DIR,
    NO_CELL,
    PACKAGE_DIR,
    TRIGGERS,
    Kind,
    Trigger,
    cli_name,
    show,
)
from .thresholds import CellFacts, Thresholds
from .windows import COVERAGE, window

State = Literal["fires", "quiet", "no data"]


def folder_sizes(cells_dir: Path, names: Iterable[str]) -> dict[str, int]:
    """Bytes of each cell's folder (its files, compiled bytecode left out)."""
    sizes = {}
    for name in names:
        folder = cells_dir / name
        files = [p for p in folder.rglob("*") if "__pycache__" not in p.parts and p.is_file()]
        sizes[name] = sum(path.stat().st_size for path in files) if folder.is_dir() else 0
    return sizes


def playbook(trigger: Trigger, cell: str, facts: CellFacts) -> tuple[str, ...]:
    move = f"{cli_name()} runbook run promote-cell {cell} --to {facts.transport}"
    return (move, trigger.extra_step) if trigger.extra_step else (move,)


@dataclass(frozen=True)
class Finding:
    trigger: Trigger
    state: State
    evidence: str
    long: float | None = None
    short: float | None = None
    threshold: float | None = None
    cells: tuple[str, ...] = ()
    playbooks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger.name,
            "kind": self.trigger.kind,
            "state": self.state,
            "long": self.long,
            "short": self.short,
            "threshold": self.threshold,
            "unit": self.trigger.unit,
            "key": self.trigger.key,
            "cells": list(self.cells),
            "evidence": self.evidence,
            "playbooks": list(self.playbooks),
        }


@dataclass(frozen=True)
class Context:
    """Everything a trigger is judged against."""

    samples: Sequence[Sample]
    now: float
    limits: Thresholds = field(default_factory=Thresholds)
    cells: Mapping[str, CellFacts] = field(default_factory=dict)
    cells_dir: Path = CELLS_DIR

    def candidates(self, reported: Iterable[str] = ()) -> set[str]:
        """Cells a playbook can still move: those in the gateway's process (any the series
        reports, when the blueprint lists none)."""
        if not self.cells:
            return set(reported)
        return {name for name, facts in self.cells.items() if facts.placement == "in-process"}

    def facts(self, cell: str) -> CellFacts:
        return self.cells.get(cell, CellFacts())


def _windowed(trigger: Trigger, context: Context) -> Finding:
    assert trigger.threshold is not None and trigger.value is not None
    limits = context.limits
    threshold = trigger.threshold(limits)
    long = window(context.samples, context.now, limits.long_window_minutes)
    short = window(context.samples, context.now, limits.short_window_minutes)
    long_value = trigger.value(long.samples, limits)
    short_value = trigger.value(short.samples, limits)
    spans = f"last {long.minutes:g} min and last {short.minutes:g} min"

    def found(state: State, evidence: str, cell: str | None = None) -> Finding:
        books = playbook(trigger, cell, context.facts(cell)) if cell else ()
        cells = (cell,) if cell else ()
        if state == "fires" and not cell:
            books = (NO_CELL,)
        return Finding(trigger, state, evidence, long_value, short_value, threshold, cells, books)

    if long.coverage < COVERAGE or short.coverage < COVERAGE:
        return found(
            "no data",
            f"not enough data: the samples cover {long.coverage:.0%} of the "
            f"last {long.minutes:g} min and {short.coverage:.0%} of the last "
            f"{short.minutes:g} min ({COVERAGE:.0%} of each is needed)",
        )
    if long_value is None or short_value is None:
        return found("quiet", f"nothing to measure over the {spans}")
    above = (long_value > threshold, short_value > threshold)
    values = (
        f"{show(long_value, trigger.unit)} over the last {long.minutes:g} min and "
        f"{show(short_value, trigger.unit)} over the last {short.minutes:g} min; "
        f"threshold {show(threshold, trigger.unit)} ({trigger.key})"
    )
    if above == (True, False):
        return found("quiet", f"recovering: {values}")
    if above == (False, True):
        return found("quiet", f"a spike, not sustained: {values}")
    if above == (False, False):
        return found("quiet", values)
    assert trigger.pick is not None
    reported = {name for sample in long.samples for name in sample.cells}
    named = trigger.pick(long.samples, context.candidates(reported))
    if named is None:
        return found("fires", f"{values}; {NO_CELL}")
    return found("fires", f"{values}; {named[1]}", named[0])


def _size(trigger: Trigger, context: Context) -> Finding:
    assert trigger.threshold is not None
    threshold = trigger.threshold(context.limits)
    recent = window(context.samples, context.now, context.limits.long_window_minutes).samples
    if not recent:
        evidence = f"no sample in the last {context.limits.long_window_minutes:g} min"
        return Finding(trigger, "no data", evidence, threshold=threshold)
    latest = recent[-1].context_mb
    values = (
        f"{show(latest, trigger.unit)} at the latest sample; threshold "
        f"{show(threshold, trigger.unit)} ({trigger.key})"
    )
    if latest <= threshold:
        return Finding(trigger, "quiet", values, long=latest, threshold=threshold)
    folders = [p.name for p in context.cells_dir.glob("[!_.]*") if p.is_dir()]
    sizes = folder_sizes(context.cells_dir, sorted(context.candidates(folders)))
    if not sizes or max(sizes.values()) <= 0:
        return Finding(
            trigger, "fires", f"{values}; {NO_CELL}", latest, None, threshold, (), (NO_CELL,)
        )
    cell = max(sizes, key=lambda name: (sizes[name], name))
    why = f"src/{PACKAGE_DIR.name}/cells/{cell} is the largest cell ({sizes[cell] / 1024:,.0f} KiB)"
    books = playbook(trigger, cell, context.facts(cell))
    return Finding(trigger, "fires", f"{values}; {why}", latest, None, threshold, (cell,), books)


def _satisfied(flag: str, facts: CellFacts) -> bool:
    """A flagged cell already on a worker (on NATS, for another language) has moved."""
    if facts.placement == "in-process":
        return False
    return flag != "polyglot" or facts.placement == "nats"


def _flag(trigger: Trigger, context: Context) -> Finding:
    flagged = sorted(name for name, facts in context.cells.items() if trigger.name in facts.flags)
    if not flagged:
        return Finding(trigger, "quiet", "no cell is flagged so in blueprint.yml")
    waiting = [name for name in flagged if not _satisfied(trigger.name, context.facts(name))]
    if not waiting:
        where = ", ".join(f"{name} ({context.facts(name).placement})" for name in flagged)
        note = f"; {trigger.extra_step}" if trigger.extra_step else ""
        return Finding(trigger, "quiet", f"flagged cells already run on workers: {where}{note}")
    placed = ", ".join(f"{name} ({context.facts(name).placement})" for name in waiting)
    books = tuple(step for name in waiting for step in playbook(trigger, name, context.facts(name)))
    evidence = f"flagged `{trigger.name}` in blueprint.yml: {placed}"
    return Finding(trigger, "fires", evidence, cells=tuple(waiting), playbooks=books)


JUDGES: dict[Kind, Callable[[Trigger, Context], Finding]] = {
    "windowed": _windowed,
    "size": _size,
    "flag": _flag,
}


def evaluate(context: Context, triggers: Sequence[Trigger] = TRIGGERS) -> list[Finding]:
    """Every trigger's state at `context.now`."""
    return [JUDGES[trigger.kind](trigger, context) for trigger in triggers]
