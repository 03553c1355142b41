# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Thresholds: what `blueprint.yml` says the triggers are judged against.

Two parts of the blueprint feed the triggers. Its `triggers:` section sets the
thresholds and the windows; a key missing there takes its default, so a blueprint that
says nothing still gets sensible triggers. Each cell's entry says where the cell runs
(`placement:`) and its flags (untrusted code, several tenants, another language, an
isolation rule): facts, not load, which fire at once for the cells they mark until the
cell runs on a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # start-up cost: the CLI's parser imports this package, not pydantic
    from ...core.blueprint import Blueprint

FLAGS = ("untrusted_code", "multi_tenant", "polyglot", "isolation")


@dataclass(frozen=True)
class Thresholds:
    """`blueprint.yml`'s `triggers:` section; a key missing there takes its default."""

    long_window_minutes: float = 60.0
    short_window_minutes: float = 5.0
    cpu_percent: float = 75.0
    concurrent_users: float = 150.0
    context_mb: float = 2.0
    p99_ms: float = 500.0
    error_ratio: float = 0.001
    burn_rate: float = 14.4

    @classmethod
    def from_blueprint(cls, blueprint: Blueprint | None) -> Thresholds:
        """The blueprint's thresholds (its model holds the defaults); the defaults without
        a blueprint."""
        if blueprint is None:
            return cls()
        section = blueprint.triggers
        stated = {**section.model_dump(exclude={"slo"}), **section.slo.model_dump()}
        return cls(**{key: float(stated[key]) for key in KEYS})


# Where each threshold is set in blueprint.yml.
KEYS = {
    "long_window_minutes": "triggers.long_window_minutes",
    "short_window_minutes": "triggers.short_window_minutes",
    "cpu_percent": "triggers.cpu_percent",
    "concurrent_users": "triggers.concurrent_users",
    "context_mb": "triggers.context_mb",
    "p99_ms": "triggers.slo.p99_ms",
    "error_ratio": "triggers.slo.error_ratio",
    "burn_rate": "triggers.slo.burn_rate",
}


@dataclass(frozen=True)
class CellFacts:
    """What the blueprint says of a cell: where it runs, and its flags."""

    placement: str = "in-process"  # or the worker's transport: "redis", "nats"
    flags: tuple[str, ...] = ()

    @property
    def transport(self) -> str:
        """Where the playbook moves it: NATS for another language (good clients in most
        languages), Redis otherwise."""
        return "nats" if "polyglot" in self.flags else "redis"


def cell_facts(blueprint: Blueprint | None) -> dict[str, CellFacts]:
    """Each cell's placement and flags, as the blueprint states them."""
    cells = blueprint.cells if blueprint else {}
    return {
        name: CellFacts(cell.transport or "in-process", cell.flags) for name, cell in cells.items()
    }
