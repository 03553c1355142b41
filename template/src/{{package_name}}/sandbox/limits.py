# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Per-task limits and the sandbox policy, read from `blueprint.yml`'s `sandbox:` section.

Every limit has a safe default, so a blueprint without the section still gets a tight
sandbox. `level: strict` means only the bwrap backend is acceptable: without it the
sandbox refuses every task (fails closed) instead of running it less isolated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..core.blueprint import Blueprint

Level = Literal["strict", "best"]
MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 5
    wall_seconds: float = 10.0
    memory_mb: int = 256
    processes: int = 32
    file_size_mb: int = 16
    workspace_mb: int = 64
    open_files: int = 64
    output_bytes: int = 65_536


@dataclass(frozen=True)
class Policy:
    level: Level = "best"
    limits: Limits = field(default_factory=Limits)
    egress: tuple[str, ...] = ()  # domains web.fetch may reach

    @classmethod
    def from_blueprint(cls, blueprint: Blueprint | None) -> Policy:
        """The typed blueprint's `sandbox:` section (its model holds the defaults); the
        defaults without a blueprint."""
        if blueprint is None:
            return cls()
        section = blueprint.sandbox
        return cls(section.level, Limits(**section.limits.model_dump()), section.egress)
