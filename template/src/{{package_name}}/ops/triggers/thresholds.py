"""Thresholds: what `blueprint.yml` says the triggers are judged against.

Two parts of the blueprint feed the triggers. Its `triggers:` section sets the
thresholds and the windows; a key missing there takes its default, so a blueprint that
says nothing still gets sensible triggers. Each cell's entry says where the cell runs
(`placement:`) and its flags (untrusted code, several tenants, another language, an
isolation rule): facts, not load, which fire at once for the cells they mark until the
cell runs on a worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    def from_blueprint(cls, data: Mapping[str, Any] | None) -> Thresholds:
        section = dict((data or {}).get("triggers") or {})
        slo = section.pop("slo", None) or {}
        known = {key: value for key, value in {**section, **slo}.items() if key in KEYS}
        return cls(**{key: float(value) for key, value in known.items()})


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


def cell_facts(data: Mapping[str, Any] | None) -> dict[str, CellFacts]:
    facts = {}
    for name, entry in ((data or {}).get("cells") or {}).items():
        entry = entry or {}
        placement = entry.get("placement", "in-process")
        if isinstance(placement, Mapping):
            placement = str(placement.get("worker", "in-process"))
        facts[str(name)] = CellFacts(str(placement), tuple(entry.get("flags") or ()))
    return facts
