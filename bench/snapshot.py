"""Committed snapshots of a template, for benchmarks and tests that need a git template.

Copier copies from a git template's commit, and `copier update` needs the commit the
project was made from to still exist. The working tree of this repository is usually
dirty while developing, so tests and benchmarks copy it (as git sees it: tracked and
untracked-but-not-ignored files, symlinks kept) into a new repository and commit there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

IDENTITY = ["-c", "user.name=cellforge-tests", "-c", "user.email=tests@localhost"]


def listed_files(source: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=source,
        check=True,
        capture_output=True,
        text=True,
    )
    names = [name for name in listed.stdout.split("\0") if name]
    return [name for name in names if os.path.lexists(source / name)]


def commit_all(repo: Path, message: str, tag: str | None = None) -> None:
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *IDENTITY, "commit", "-qm", message], cwd=repo, check=True)
    if tag:
        subprocess.run(["git", "tag", tag], cwd=repo, check=True)


def git_snapshot(source: Path, into: Path, tag: str | None = None) -> Path:
    """A new git repository at `into` holding `source`'s files in one commit."""
    if (source / ".git").exists():
        for name in listed_files(source):
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target, follow_symlinks=False)
    else:
        shutil.copytree(source, into, symlinks=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=into, check=True)
    commit_all(into, "snapshot", tag)
    return into
