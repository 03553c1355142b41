# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""`rename-cell OLD NEW`: finish renaming a cell after `blueprint.yml` renamed it.

The regenerate hook created NEW from the skeleton and left OLD untouched. This moves
OLD's code and tests into NEW's place and updates the cell's name, imports and routes.
NEW is replaced only while it is exactly the skeleton the last apply created (its hashes
are in `.cellforge-state.json`); if anything in it differs, nothing is touched.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


class RenameRefused(RuntimeError):
    pass


def _is_fresh_skeleton(project: Path, target: Path, fresh: dict[str, str]) -> bool:
    files = [target] if target.is_file() else [p for p in target.rglob("*") if p.is_file()]
    for file in files:
        if "__pycache__" in file.parts:
            continue
        relative = file.relative_to(project).as_posix()
        if fresh.get(relative) != hashlib.sha256(file.read_bytes()).hexdigest():
            return False
    return True


def rename_cell(
    project: Path, package: str, old: str, new: str, fresh: dict[str, str]
) -> list[Path]:
    cells = project / "src" / package / "cells"
    tests = project / "tests" / "cells"
    moves = [
        (cells / old, cells / new),
        (tests / f"test_{old}_cell.py", tests / f"test_{new}_cell.py"),
    ]
    if not (cells / old).is_dir():
        raise RenameRefused(f"there is no cell {old!r} in {cells}")
    for _source, target in moves:
        if target.exists() and not _is_fresh_skeleton(project, target, fresh):
            raise RenameRefused(
                f"{target.relative_to(project)} holds work that is not the fresh skeleton; "
                "nothing was moved. Move or merge it by hand."
            )
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
