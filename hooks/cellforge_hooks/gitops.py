"""The few git operations the regenerate hook needs, each a plain `git` call."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

IDENTITY = ["-c", "user.name=cellforge", "-c", "user.email=cellforge@localhost"]


def git(cwd: Path, *args: str, check: bool = True, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=cwd, input=stdin, capture_output=True, check=False
    )
    if check and done.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode(errors="replace")


def git_bytes(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout


class GitError(RuntimeError):
    pass


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
    git(project, "worktree", "add", "--quiet", "--detach", str(tree), "HEAD")
    try:
        yield tree
    finally:
        git(project, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(parent, ignore_errors=True)
        git(project, "worktree", "prune", check=False)


def deleted_in_history(project: Path) -> set[str]:
    """Paths that some commit deleted: the user chose to be rid of them."""
    listed = git(project, "log", "--diff-filter=D", "--name-only", "--format=", "HEAD")
    return {line for line in listed.splitlines() if line}
