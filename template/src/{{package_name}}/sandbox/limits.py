"""Per-task limits and the sandbox policy, read from `blueprint.yml`'s `sandbox:` section.

Every limit has a safe default, so a blueprint without the section still gets a tight
sandbox. `level: strict` means only the bwrap backend is acceptable: without it the
sandbox refuses every task (fails closed) instead of running it less isolated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

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
    def from_blueprint(cls, data: dict[str, Any]) -> Policy:
        section = data.get("sandbox") or {}
        known = {f.name for f in fields(Limits)}
        limits = Limits(**{k: v for k, v in (section.get("limits") or {}).items() if k in known})
        return cls(
            level=section.get("level", "best"),
            limits=limits,
            egress=tuple(section.get("egress") or ()),
        )

    @classmethod
    def from_file(cls, path: Path) -> Policy:
        if not path.exists():
            return cls()
        import yaml

        return cls.from_blueprint(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
