# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The regenerate hook's report, in words: files, cells, routes and contracts that changed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A route as docs/architecture.md lists it in each cell's canvas.
ROUTE = re.compile(r"(command|query) `(\w+)`: `(POST [^`\s]+)`")


@dataclass
class Summary:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    conflicted: list[str] = field(default_factory=list)
    kept_deleted: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def any_change(self) -> bool:
        return bool(self.added or self.changed or self.deleted)

    def render(self) -> str:
        out = []
        for label, paths in (
            ("added", self.added),
            ("changed", self.changed),
            ("deleted", self.deleted),
            ("CONFLICTED", self.conflicted),
            ("kept deleted (you removed it earlier)", self.kept_deleted),
        ):
            if paths:
                out.append(f"  {label}: " + ", ".join(paths))
        return "\n".join(["cellforge: re-applied the template", *out, *self.lines])


def routes(architecture: str) -> set[str]:
    return {route for _kind, _name, route in ROUTE.findall(architecture)}


def contracts(importlinter: str) -> dict[str, set[str]]:
    """Contract name -> the modules it lists."""
    result: dict[str, set[str]] = {}
    name = ""
    for line in importlinter.splitlines():
        if line.startswith("name = "):
            name = line.removeprefix("name = ")
            result[name] = set()
        elif line.startswith("    ") and name:
            result[name].add(line.strip())
    return result


def describe_cells(
    old: list[str], new: list[str], package: str, orphans: list[str], created: list[str]
) -> list[str]:
    """Cells added, removed and renamed; `created` were made from the skeleton just now."""
    added = [cell for cell in new if cell not in old]
    removed = [cell for cell in old if cell not in new]
    lines = []
    fresh_rename = added and added[0] in created and removed and removed[0] in orphans
    if len(added) == 1 and len(removed) == 1 and fresh_rename:
        before, after = removed[0], added[0]
        lines.append(
            f"  cell {before!r} looks renamed to {after!r}: {after!r} was created from the "
            f"skeleton and {before!r} is untouched. To move your code, run:\n"
            f"      uv run python .cellforge rename-cell {before} {after}\n"
            f"  (its data, var/{before}.sqlite3, is not moved: rename it too if you keep it)"
        )
        return lines
    for cell in added:
        if cell in created:
            lines.append(f"  cell {cell!r} added: src/{package}/cells/{cell}/ from the skeleton")
        else:
            lines.append(f"  cell {cell!r} registered: its code in src/{package}/cells/{cell}/")
    for cell in removed:
        if cell in orphans:
            lines.append(
                f"  cell {cell!r} removed from blueprint.yml: its code in "
                f"src/{package}/cells/{cell}/ and its tests in tests/cells/test_{cell}_cell.py "
                "are untouched and now ORPHANED (not registered, so those tests fail): "
                "delete them yourself, or list the cell again"
            )
        else:
            lines.append(f"  cell {cell!r} removed from blueprint.yml")
    return lines


def describe_routes(before: str, after: str) -> list[str]:
    old, new = routes(before), routes(after)
    lines = [f"  route added: {route}" for route in sorted(new - old)]
    lines += [f"  route removed: {route}" for route in sorted(old - new)]
    return lines


def describe_contracts(before: str, after: str) -> list[str]:
    old, new = contracts(before), contracts(after)
    lines = []
    for name in sorted(set(old) | set(new)):
        gained = sorted(new.get(name, set()) - old.get(name, set()))
        lost = sorted(old.get(name, set()) - new.get(name, set()))
        if gained:
            lines.append(f"  contract {name!r} now covers: {', '.join(gained)}")
        if lost:
            lines.append(f"  contract {name!r} no longer covers: {', '.join(lost)}")
    return lines
