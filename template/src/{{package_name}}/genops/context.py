# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The code and docs a model (or a maintainer) has to read stay a readable size.

It measures the same files as the `repo_context_bytes` metric that feeds the
`context_size` trigger (`metrics/context.py`): the `.py`, `.md`, `.yml`, `.yaml`,
`.toml` and `.json` files under `src/`, `tests/` and `docs/`, plus `blueprint.yml` and
`README.md`. Under `src/` the template-owned files (those `.cellforge-state.json` lists)
are left out, as they are never edited and are read through the docs generated from
them, except the core modules the cells are written against (messages, cells, bus,
storage, the model client); every other file there counts, the cells and the team's own
modules alike (all of `src/` without a state file). The total is given in bytes and in
estimated tokens (`llm/tokens.py`), and per cell: a cell is its folder
`src/<pkg>/cells/<name>/` and its test `tests/cells/test_<name>_cell.py`; the rest is
shared. To change one cell, a model reads that cell and the shared part.

Protects against: a code base that outgrows what fits in a model's context window (and
a reviewer's head), noticed only when the assistance stops working.

Fails when: the total is over `genops.context_fail_kb` KB (2048 by default).

Warns when: the total is over `genops.context_warn_kb` KB (500 by default).

Acknowledge a deliberate change: raise the thresholds in blueprint.yml `genops:`; or,
better, split the largest cell, or move it out of the repository.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..core.blueprint_model import Genops
from ..llm.tokens import estimate_tokens
from ..metrics.context import context_files
from . import Project, Verdict

GATE = "context"
WARN_KB = Genops().context_warn_kb  # without a blueprint
FAIL_KB = Genops().context_fail_kb
SHARED = "shared"


@dataclass(frozen=True)
class Part:
    """A cell, or the shared rest: its files' bytes and estimated tokens."""

    name: str
    files: int
    bytes: int
    tokens: int


def owner(project: Project, path: Path) -> str:
    """The cell a file belongs to, or SHARED."""
    relative = path.relative_to(project.root).parts
    cells = ("src", project.package, "cells")
    if relative[:3] == cells and len(relative) > 4:  # src/<pkg>/cells/<name>/<file>
        return relative[3]
    if relative[:2] == ("tests", "cells") and len(relative) == 3:
        name = relative[2]
        if name.startswith("test_") and name.endswith("_cell.py"):
            return name.removeprefix("test_").removesuffix("_cell.py")
    return SHARED


def measure(project: Project) -> list[Part]:
    """The parts of the project's context: the cells, largest first, then SHARED."""
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for path, size in context_files(project.root):
        try:
            tokens = estimate_tokens(path.read_bytes())
        except OSError:  # removed meanwhile
            continue
        part = sizes[owner(project, path)]
        part[0] += 1
        part[1] += size
        part[2] += tokens
    parts = [Part(name, *values) for name, values in sizes.items()]
    return sorted(parts, key=lambda part: (part.name == SHARED, -part.bytes, part.name))


def kb(size: int) -> str:
    return f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} B"


def thousands(tokens: int) -> str:
    return f"{tokens / 1000:.0f}k" if tokens >= 10_000 else f"{tokens / 1000:.1f}k"


def check(project: Project) -> Verdict:
    warn_kb, fail_kb = project.genops.context_warn_kb, project.genops.context_fail_kb
    parts = measure(project)
    total = sum(part.bytes for part in parts)
    tokens = sum(part.tokens for part in parts)
    cells = [part for part in parts if part.name != SHARED]
    shown = ", ".join(f"{part.name} {kb(part.bytes)}" for part in cells[:3])
    if len(cells) > 3:
        shown += f", +{len(cells) - 3} cells"
    figure = f"{kb(total)} ~ {thousands(tokens)} tokens" + (f" ({shown})" if shown else "")
    details = tuple(
        f"{part.name}: {kb(part.bytes)} ~ {thousands(part.tokens)} tokens in {part.files} files"
        for part in parts
    )
    trigger = project.blueprint.triggers.context_mb if project.blueprint else None
    details += (
        f"total: {kb(total)} ~ {thousands(tokens)} tokens, the size the context_size "
        f"trigger judges (triggers.context_mb: {trigger if trigger is not None else '-'} MB)",
    )
    if total > fail_kb * 1024:
        reason = f"over {fail_kb:g} KB (genops.context_fail_kb)"
        return Verdict(GATE, "fail", reason, figure, details)
    if total > warn_kb * 1024:
        reason = f"over {warn_kb:g} KB (genops.context_warn_kb)"
        return Verdict(GATE, "warn", reason, figure, details)
    reason = f"under {warn_kb:g} KB (genops.context_warn_kb)"
    return Verdict(GATE, "pass", reason, figure, details)
