# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""Materialise cells from the skeleton: create what is missing, never overwrite.

A cell named `notes` gets the notes example; any other name gets the generic example
cell with one working command. Each cell is two things in the project:
`src/<package>/cells/<cell>/` (its code) and `tests/cells/test_<cell>_cell.py` (its tests).
Both belong to the user once created, so an existing path is always left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

SKELETONS = Path(__file__).parent / "skeletons"
SUFFIX = ".tmpl"


@dataclass(frozen=True)
class Materialised:
    created: list[Path]
    kept: list[Path]


def skeleton_for(cell: str) -> Path:
    return SKELETONS / ("notes" if cell == "notes" else "example")


def _render(source: Path, target: Path, values: dict[str, str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    text = Template(source.read_text(encoding="utf-8")).substitute(values)
    target.write_text(text, encoding="utf-8")


def materialise_cell(project: Path, package: str, cell: str) -> Materialised:
    """Create the cell's package and its test file unless they already exist."""
    skeleton = skeleton_for(cell)
    values = {"package": package, "cell": cell}
    package_dir = project / "src" / package / "cells" / cell
    test_file = project / "tests" / "cells" / f"test_{cell}_cell.py"
    created: list[Path] = []
    kept: list[Path] = []
    if package_dir.exists():
        kept.append(package_dir)
    else:
        for source in sorted((skeleton / "cell").rglob(f"*{SUFFIX}")):
            relative = source.relative_to(skeleton / "cell").with_suffix("")
            _render(source, package_dir / relative, values)
        created.append(package_dir)
    if test_file.exists():
        kept.append(test_file)
    else:
        _render(skeleton / f"test_cell.py{SUFFIX}", test_file, values)
        created.append(test_file)
    return Materialised(created=created, kept=kept)


def materialise_cells(project: Path, package: str, cells: list[str]) -> Materialised:
    created: list[Path] = []
    kept: list[Path] = []
    for cell in cells:
        result = materialise_cell(project, package, cell)
        created += result.created
        kept += result.kept
    return Materialised(created=created, kept=kept)
