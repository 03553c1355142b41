# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The project's import graph, read statically with `ast`.

Used by `explain` to draw which parts of the service import which. Modules are grouped
into areas: `cells.<name>` for a cell, otherwise the top-level module (`core`,
`gateway`, `cli`, ...). Only imports between areas of this package are kept.

Parsing is most of what `explain` costs while copier applies the template, and most
modules import only within their own area (`from .bus import Bus`), so a file is parsed
only when its text could hold an import of another area: it names the package, or it
has a relative import with enough dots to climb out of its area.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path


def area_of(module: str, package: str) -> str | None:
    """`pkg.cells.notes.handlers` -> `cells.notes`; `pkg.core.bus` -> `core`."""
    parts = module.split(".")
    if parts[0] != package or len(parts) < 2:
        return None
    if parts[1] == "cells":
        return f"cells.{parts[2]}" if len(parts) > 2 else None
    return parts[1]


def module_name(path: Path, package_dir: Path, package: str) -> str:
    parts = list(path.relative_to(package_dir).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included; imports are statements, so expressions
    (most of a syntax tree) never need visiting."""
    for statement in body:
        yield statement
        for name in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(statement, name, []))
        for handler in getattr(statement, "handlers", []):
            yield from _statements(handler.body)
        for case in getattr(statement, "cases", []):
            yield from _statements(case.body)


def _base(module: str, is_package: bool) -> list[str]:
    """The package that a one-dot relative import in `module` is relative to."""
    return module.split(".") if is_package else module.split(".")[:-1]


def may_import_other_areas(text: str, module: str, is_package: bool, area: str) -> bool:
    """False only when no import in `text` can reach outside `area`. An absolute import
    of the package spells its name; a relative one leaves the area only with more dots
    than the module sits deep in it (`from ..` in `core/bus.py`, `from ...` in
    `ops/triggers/cli.py`; one dot in `cli.py`)."""
    if module.split(".")[0] in text:
        return True
    area_depth = 2 + area.count(".")  # the package's part, then the area's parts
    dots = len(_base(module, is_package)) - area_depth + 2
    # Dots may be spaced or split by a backslash line break; more dots match too.
    return dots <= 1 or re.search("from" + r"[\s\\]*\." * dots, text) is not None


def imported_modules(
    path: Path, module: str, is_package: bool, text: str | None = None
) -> set[str]:
    """Absolute names of the modules that `path` imports (relative imports resolved)."""
    source = path.read_text(encoding="utf-8") if text is None else text
    tree = ast.parse(source, filename=str(path))
    base = _base(module, is_package)
    found: set[str] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                stem = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                stem = node.module or ""
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def area_edges(package_dir: Path, package: str) -> set[tuple[str, str]]:
    """Pairs (importer area, imported area) for imports across areas."""
    edges: set[tuple[str, str]] = set()
    for path in sorted(package_dir.rglob("*.py")):
        module = module_name(path, package_dir, package)
        source = area_of(module, package)
        if source is None:
            continue
        is_package = path.name == "__init__.py"
        text = path.read_text(encoding="utf-8")
        if not may_import_other_areas(text, module, is_package, source):
            continue
        for imported in imported_modules(path, module, is_package, text):
            target = area_of(imported, package)
            if target is not None and target != source:
                edges.add((source, target))
    return edges
