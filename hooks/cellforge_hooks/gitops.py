# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""The few git operations the regenerate hook needs beyond a single call (`.git`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .git import git, output

# Who the scratch worktree's commit is by: it never leaves the scratch worktree.
IDENTITY = ("-c", "user.name=cellforge", "-c", "user.email=cellforge@localhost")


# A git hook runs with these set for the repository being committed; every git started
# from it (ours and copier's) would then act on that index and directory, not its own.
REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
)


def forget_hook_repository() -> None:
    for name in REPOSITORY_VARIABLES:
        os.environ.pop(name, None)


@contextmanager
def scratch_worktree(project: Path) -> Iterator[Path]:
    """A detached worktree of HEAD: a clean place for `copier update`, removed after."""
    parent = Path(tempfile.mkdtemp(prefix="cellforge-"))
    tree = parent / "tree"
    output(project, "worktree", "add", "--quiet", "--detach", str(tree), "HEAD")
    try:
        yield tree
    finally:
        git(project, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)
        git(project, "worktree", "prune")


def deleted_in_history(project: Path) -> set[str]:
    """Paths that some commit deleted: the user chose to be rid of them."""
    listed = output(project, "log", "--diff-filter=D", "--name-only", "--format=", "HEAD")
    return {line for line in listed.splitlines() if line}
