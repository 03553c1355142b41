# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The catalog: which cells make up this service, and how to load one by name.

Cells are imported by name, never statically, so the import contracts can say
"nothing outside cells/ imports a cell" and mean it. The names are the typed blueprint's
(`cell_names`): `blueprint.yml` is the one list of cells, read at run time.

A cell can be listed before its package exists: the user adds it to `blueprint.yml`, and
the `cellforge-regenerate` hook creates it from the skeleton when the commit runs, maybe
after another hook (`explain`) has loaded the registry. `load_cell` then raises
`MissingCellError`, one line saying what creates the cell, which the command line prints
instead of an import traceback; nothing skips the cell silently, so `serve` and
`explain --check` still refuse a blueprint whose cells are not all there.

`CellFiles` says where a cell's own files are: its spec, its contract and its tests,
which `explain` lists and points coding agents at, and a regeneration reads.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .blueprint import Blueprint
from .cells import Cell, CellDeclarationError, Registry

CELLS_PACKAGE = __name__.rsplit(".", 2)[0] + ".cells"
REGENERATE = "uv run python .cellforge regenerate"


@dataclass(frozen=True)
class CellFiles:
    """Where one cell's files are, as paths from the project's root: its folder (the
    user's), its spec (`SPEC.md`: requirements in prose and acceptance examples), its
    public contract (`messages.py`), its tests, and the `AGENTS.md` `explain` writes."""

    name: str

    @property
    def folder(self) -> str:
        return f"src/{CELLS_PACKAGE.replace('.', '/')}/{self.name}/"

    @property
    def spec(self) -> str:
        return f"{self.folder}SPEC.md"

    @property
    def contract(self) -> str:
        return f"{self.folder}messages.py"

    @property
    def tests(self) -> str:
        return f"tests/cells/test_{self.name}_cell.py"

    @property
    def agents(self) -> str:
        return f"{self.folder}AGENTS.md"


class MissingCellError(LookupError):
    """A cell `blueprint.yml` lists has no package under `cells/` (not created yet)."""

    def __init__(self, name: str) -> None:
        self.name = name
        folder = CellFiles(name).folder
        super().__init__(
            f"cell {name!r} is listed in blueprint.yml but {folder} does not exist yet: "
            "commit blueprint.yml (the cellforge-regenerate hook creates the cell) or run "
            f"`{REGENERATE}`; if you deleted the cell, take it out of blueprint.yml"
        )


def load_cell(name: str, module_name: str | None = None) -> Cell:
    """Import `cells/<name>` (or `module_name`) and return the `Cell` it declares as `cell`."""
    path = module_name or f"{CELLS_PACKAGE}.{name}"
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as error:
        if module_name is None and error.name == path:  # not an import inside the cell
            raise MissingCellError(name) from None
        raise
    cell = getattr(module, "cell", None)
    if not isinstance(cell, Cell):
        raise CellDeclarationError(f"{module.__name__} must define `cell = Cell(...)`")
    if cell.name != name and module_name is None:
        raise CellDeclarationError(f"{module.__name__} declares a cell named {cell.name!r}")
    return cell


def cell_names(blueprint: Blueprint | None) -> tuple[str, ...]:
    """The cells `blueprint.yml` lists, in its order (none without a blueprint)."""
    return tuple(blueprint.cells) if blueprint else ()


def load_registry(names: tuple[str, ...], extra: tuple[str, ...] = ()) -> Registry:
    """The registry of `names`, plus the cells of the `extra` modules (tests only). An
    extra module's cell stands in for the named cell of the same name: a test's blueprint
    may list a cell whose code lives with the tests."""
    extras = [load_cell("", module) for module in extra]
    provided = {cell.name for cell in extras}
    cells = [load_cell(name) for name in names if name not in provided]
    return Registry([*cells, *extras])
