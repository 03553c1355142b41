# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""What a runbook changed in the project's files, so that a run can say how to undo it.

Before the first step the runner notes the uncommitted files and a digest of each
(`dirty`); after the run, or at a failed step, the files whose digest moved are the
run's (`changed_since`), and `undo_hint` names the commands that put them back without
touching the user's other uncommitted work. Outside a git repository, or without git
(a container image), nothing is listed: there is no HEAD to restore from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from ...core.git import git


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "deleted"


def dirty(root: Path, *paths: str) -> dict[str, str]:
    """Uncommitted files (modified, deleted or untracked) under `root`, by their path from
    `root` -> a digest of their content; empty outside a git repository."""
    listed = git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", *paths)
    if not listed.ok:
        return {}
    prefix = git(root, "rev-parse", "--show-prefix").stdout.strip()  # root in a bigger repo
    entries = iter(listed.stdout.split("\0"))
    found: dict[str, str] = {}
    for entry in entries:
        if not entry:
            continue
        if entry[0] in "RC":  # a staged rename or copy: its source path follows
            next(entries, None)
        path = entry[3:]
        if path.startswith(prefix):
            found[path[len(prefix) :]] = _digest(root / path[len(prefix) :])
    return found


def changed_since(root: Path, before: Mapping[str, str]) -> list[str]:
    return sorted(path for path, digest in dirty(root).items() if before.get(path) != digest)


def undo_hint(root: Path, before: Mapping[str, str], changed: Sequence[str]) -> list[str]:
    """Commands that put back what a run changed, without touching the user's other work."""
    tracked = [
        p for p in changed if p not in before and git(root, "cat-file", "-e", f"HEAD:./{p}").ok
    ]
    created = [p for p in changed if p not in before and p not in tracked]
    touched = [p for p in changed if p in before]
    lines = []
    if tracked:
        lines.append("git restore --source=HEAD --staged --worktree -- " + " ".join(tracked))
    if created:
        lines.append("rm -- " + " ".join(created))
    if touched:
        lines.append("by hand (they had uncommitted edits before): " + " ".join(touched))
    return lines
