"""`rename-cell OLD NEW`: finish renaming a cell after `blueprint.yml` renamed it.

The regenerate hook created NEW from the skeleton and left OLD untouched. This moves
OLD's code and tests into NEW's place (replacing the fresh skeleton, which has no
work of the user's in it yet) and updates the cell's name, imports and routes.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def rename_cell(project: Path, package: str, old: str, new: str) -> list[Path]:
    cells = project / "src" / package / "cells"
    tests = project / "tests" / "cells"
    moves = [
        (cells / old, cells / new),
        (tests / f"test_{old}_cell.py", tests / f"test_{new}_cell.py"),
    ]
    if not (cells / old).is_dir():
        raise FileNotFoundError(f"no cell {old!r} in {cells}")
    for source, target in moves:
        if not source.exists():
            continue
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        source.rename(target)
    replacements = {
        f'name="{old}"': f'name="{new}"',
        f"cells.{old}.": f"cells.{new}.",
        f"cells.{old} ": f"cells.{new} ",
        f'"/{old}/': f'"/{new}/',
    }
    touched = []
    for path in [*sorted((cells / new).rglob("*.py")), tests / f"test_{new}_cell.py"]:
        if not path.is_file():
            continue
        text = original = path.read_text(encoding="utf-8")
        for before, after in replacements.items():
            text = text.replace(before, after)
        if text != original:
            path.write_text(text, encoding="utf-8")
            touched.append(path)
    return touched
