# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Every change, regeneration included, passes these gates before it lands.

Each gate is a function `check(project) -> Verdict` in its own module, and a subcommand
(`<cli> genops check [GATE ...]`). A gate runs offline, and its verdict says pass, warn or
fail with one reason and one figure, so a red CI job explains itself in a line.

| gate | protects against |
|---|---|
| pins | a model id that nobody pinned, a floating alias, a retired model |
| semdiff | an unacknowledged public API break; hand edits of template-owned files |
| repro | a build that differs between two runs; a lock file out of sync |
| budget | a prompt template over its token budget |
| context | a code base too large for a model (and a maintainer) to read |
| e2e | a public route without an end-to-end test, or failing e2e tests |

The fast gates (`pins`, `budget`, `context`) also run in pre-commit, next to the check
that template-owned files are not edited by hand; all of them run in CI as separate
jobs (.github/workflows/ci.yml). Each gate's section below says how to acknowledge a
deliberate change.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ..core.blueprint import Blueprint, read
from ..core.blueprint_model import Budgets, Genops
from ..core.names import PACKAGE

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Verdict:
    """One gate's answer: its status, why (one line), the figure it judged, and the
    findings behind it (one line each)."""

    gate: str
    status: Status
    reason: str
    figure: str
    details: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass(frozen=True)
class Project:
    """What a gate looks at: the project's root, its package and its blueprint."""

    root: Path
    package: str = PACKAGE
    blueprint: Blueprint | None = None  # the typed blueprint; None: the project has none
    base_ref: str | None = None  # semdiff: compare with this ref instead of the default
    acknowledged: tuple[str, ...] = ()  # semdiff: API breaks acknowledged for this run

    @classmethod
    def at(
        cls, root: Path, base_ref: str | None = None, acknowledged: tuple[str, ...] = ()
    ) -> Project:
        """The project at `root`, with its typed blueprint (BlueprintError if invalid)."""
        return cls(root, PACKAGE, read(root / "blueprint.yml"), base_ref, acknowledged)

    @property
    def genops(self) -> Genops:
        """The blueprint's `genops:` settings (the defaults without a blueprint)."""
        return self.blueprint.genops if self.blueprint else Genops()

    @property
    def budgets(self) -> Budgets:
        """The blueprint's `budgets:` (the defaults without a blueprint)."""
        return self.blueprint.budgets if self.blueprint else Budgets()

    @property
    def source(self) -> Path:
        return self.root / "src" / self.package


class Gate(Protocol):
    def __call__(self, project: Project) -> Verdict: ...


@dataclass(frozen=True)
class GateSpec:
    name: str
    module: str  # imported on demand: `genops check pins` stays quick in pre-commit
    fast: bool
    protects: str

    def load(self) -> Gate:
        gate: Gate = importlib.import_module(f".{self.module}", __name__).check
        return gate


GATES: dict[str, GateSpec] = {
    spec.name: spec
    for spec in (
        GateSpec("pins", "pins", True, "unpinned model ids, floating aliases, retired models"),
        GateSpec("semdiff", "semdiff", False, "unacknowledged API breaks, hand edits"),
        GateSpec("repro", "repro", False, "builds that differ between runs, a stale lock"),
        GateSpec("budget", "budget", True, "prompt templates over their token budget"),
        GateSpec("context", "context", True, "a code base too large to read"),
        GateSpec("e2e", "e2e", False, "public routes without end-to-end tests"),
    )
}


def run_gates(project: Project, names: list[str] | None = None) -> list[Verdict]:
    """The verdicts of the named gates (all of them by default), in the order named."""
    return [GATES[name].load()(project) for name in names or list(GATES)]


def table(verdicts: list[Verdict]) -> str:
    """One row per gate, then each gate's findings (semdiff's: its changed symbols)."""
    rows = [("gate", "status", "figure", "reason")]
    rows += [(v.gate, v.status.upper(), v.figure, v.reason) for v in verdicts]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    for verdict in verdicts:
        if verdict.details:
            lines += ["", f"{verdict.gate}:"] + [f"  {line}" for line in verdict.details]
    return "\n".join(lines)
