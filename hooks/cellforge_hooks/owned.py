# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""What `check-owned` finds wrong with ownership, from the hash file and the markers.

The hash file (`state.py`) knows what the template wrote; the marker (`markers.py`) is
what a reader sees. `problems` keeps the two saying the same thing:
- an owned file whose content differs from what the template wrote: a hand edit;
- an owned file that lost its marker: the next reader would take it for the user's;
- a file of the user's (blueprint.yml, cells/, tests/ but tests/cellforge/) that carries
  a marker: it would scare its owner off their own file;
- any other file that carries the template's marker though the template did not write it
  (a copied module, say): the marker would promise a regeneration that never comes.
Files that `explain` writes carry their own wording of the marker and are not in the hash
file: `explain --check` keeps those honest. One of them lives among the user's files: the
`AGENTS.md` in each cell's folder (`is_explained`), which carries that marker rightly.

Without a hash file (a project older than it) there is nothing to compare: no problems.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from .git import git
from .markers import RENDERED, exemption, has_marker
from .state import BLUEPRINT, CONFLICT_MARKER, hand_edited, load

EDITED = "template-owned file edited by hand"
UNMARKED = "template-owned file lost its ownership marker (restore its first line)"
USERS = "your file carries the template's ownership marker (remove that line: it is yours)"
FOREIGN = (
    "carries the template's ownership marker, but the template did not write it "
    "(remove that line: a regeneration will never update this file)"
)
# Never walked when git cannot list the files: tools' caches, the environment, state.
SKIPPED = {".git", ".venv", "var", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def project_files(project: Path) -> list[str]:
    """The project's files as git sees them (ignored ones left out), else by walking."""
    listed = git(project, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if listed.ok:
        return [path for path in listed.stdout.split("\0") if path]
    found = []
    for root, folders, names in os.walk(project):
        folders[:] = [folder for folder in folders if folder not in SKIPPED]
        found += [(Path(root) / name).relative_to(project).as_posix() for name in names]
    return found


def head(path: Path) -> str:
    """The first bytes of a file, enough for its first two lines."""
    with path.open("rb") as file:
        return file.read(1024).decode("utf-8", errors="replace")


def is_users(path: str, package: str) -> bool:
    cells, tests = f"src/{package}/cells/", "tests/"
    return (
        path == BLUEPRINT
        or path.startswith(cells)
        or (path.startswith(tests) and not path.startswith("tests/cellforge/"))
    )


def is_explained(path: str, package: str) -> bool:
    """The `AGENTS.md` that `explain` writes in a cell's folder: the user's folder, its file."""
    parts = PurePosixPath(path).parts
    return len(parts) == 5 and parts[:3] == ("src", package, "cells") and parts[4] == "AGENTS.md"


def problems(project: Path, package: str) -> dict[str, str]:
    """Each path with what is wrong with its ownership, in path order."""
    owned = load(project).get("owned")
    if not isinstance(owned, dict):
        return {}
    found = dict.fromkeys(hand_edited(project), EDITED)
    for path in owned:
        file = project / path
        if file.is_file() and exemption(path) is None and not has_marker(head(file)):
            found[path] = UNMARKED
    for path in project_files(project):
        file = project / path
        if path in owned or not file.is_file() or not has_marker(text := head(file)):
            continue
        if is_users(path, package) and not is_explained(path, package):
            found[path] = USERS
        elif RENDERED in text and not CONFLICT_MARKER.search(file.read_bytes()):
            found[path] = FOREIGN
    return dict(sorted(found.items()))
