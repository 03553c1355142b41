# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`.importlinter`: the import contracts, generated from the cell registry and `LAYERS`.

The template's packages form layers that import only downwards (`LAYERS`, with the reason
for each place); the cells are independent of one another and nothing outside `cells/`
imports a cell. `lint-imports` (in the project's checks) enforces them, and
`explain --check` fails when the file drifts from the registry.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Iterable
from pathlib import Path

from ..core.cells import Registry
from ..core.markers import derived_line
from ..core.names import PROG

PACKAGE_DIR = Path(__file__).resolve().parents[1]

# Top to bottom: a package may import the layers below its own, never those above.
# Packages sharing a layer are independent of one another. `cells/` (the user's) is left
# out: its own contracts below say what a cell may import.
LAYERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("__main__",), "`python -m`: only runs the command line."),
    (("cli",), "The commands: each reaches the layer it needs, and nothing imports them."),
    (
        ("bootstrap", "explain", "codegen"),
        "The composition root wires the service from every layer below; `explain` writes "
        "the generated files from the code below; `codegen` regenerates a cell with a "
        "pinned model and runs the gates on the result. None needs the others.",
    ),
    (
        ("ops", "genops"),
        "Operating and changing the service: runbooks read the gateway's stores (audit "
        "log, API keys, overrides), the gates its route table, the models' pins and the "
        "metrics' context. Nothing below runs a runbook or a gate.",
    ),
    (
        ("gateway",),
        "The only way in: builds the ASGI app from the parts the composition root gives "
        "it, and uses the metrics and the ledger's collectors it is handed.",
    ),
    (
        ("sandbox", "llm", "metrics"),
        "Services beside the bus (isolated tasks, model calls, measurements): each is "
        "built on the core and knows nothing of the gateway or of each other.",
    ),
    (
        ("core",),
        "The ground: bus, cells, storage, transport, settings and names. It builds "
        "nothing of the layers above.",
    ),
)


def top_level_modules(package_dir: Path = PACKAGE_DIR) -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules([str(package_dir)]))


def render_contracts(registry: Registry, package: str, modules: Iterable[str]) -> str:
    """import-linter contracts that enforce the cell boundaries."""
    cells = [f"{package}.cells.{cell.name}" for cell in registry]
    others = [f"{package}.{name}" for name in modules if name != "cells"]
    # Cells build on the core, and call models only through llm/ (pinned, budgeted).
    may_use = {f"{package}.core", f"{package}.llm"}
    not_for_cells = [m for m in others if m not in may_use]

    def block(items: Iterable[str]) -> str:
        return "".join(f"\n    {item}" for item in items)

    sections = [
        f"{derived_line('.importlinter', PROG)}\n[importlinter]\nroot_package = {package}\n",
        "[importlinter:contract:cells-independent]\n"
        "name = Cells are independent of one another\n"
        f"type = independence\nmodules ={block(cells)}\n",
        "[importlinter:contract:nothing-outside-cells-imports-a-cell]\n"
        "name = Nothing outside cells/ imports a cell\n"
        f"type = forbidden\nsource_modules ={block(others)}\n"
        f"forbidden_modules ={block(cells)}\n",
    ]
    layers = layer_modules(package, modules)
    if layers:
        sections.append(
            "[importlinter:contract:layers]\n"
            "name = The template's packages import only downwards\n"
            f"type = layers\nlayers ={block(layers)}\n"
        )
    if not_for_cells:
        sections.append(
            "[importlinter:contract:cells-import-only-core]\n"
            "name = A cell imports only core, llm and its own package\n"
            f"type = forbidden\nsource_modules ={block(cells)}\n"
            f"forbidden_modules ={block(not_for_cells)}\n"
        )
    return "\n".join(sections)


def layer_modules(package: str, modules: Iterable[str]) -> list[str]:
    """`LAYERS` as import-linter writes them, for the packages the project has."""
    present = set(modules)
    rows = []
    for names, _ in LAYERS:
        found = [f"{package}.{name}" for name in names if name in present]
        if found:
            rows.append(" | ".join(found))
    return rows


def layer_lines() -> list[str]:
    """The "Layers" section of `docs/architecture.md`: the order and why."""
    lines = [
        "Top to bottom; a package imports only from the layers below its own, and packages",
        "sharing a layer are independent of one another. `lint-imports` enforces it (the",
        "`layers` contract in `.importlinter`); cells have their own contracts.",
        "",
        "| layer | why here |",
        "| --- | --- |",
    ]
    for names, reason in LAYERS:
        packages = ", ".join(f"`{name}`" for name in names)
        lines.append(f"| {packages} | {reason} |")
    return lines
