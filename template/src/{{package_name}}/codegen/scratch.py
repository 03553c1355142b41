# Owned by the Cellforge template: change blueprint.yml or the template, not this file.
"""A scratch git worktree: where an answer is written and gated, away from the work tree.

It holds the project as it is now: `HEAD`, plus the uncommitted changes of tracked files
(`git diff HEAD`, applied) and the untracked files git does not ignore (copied), so a
spec edited but not yet committed is what the gates judge against. Its state then is
snapshotted as a tree; `change()` is the binary diff from it to the scratch's state after
the answer (and `explain`). `apply_to` applies that diff to the work tree with
`git apply`, which changes all of it or nothing: a work tree that moved on meanwhile
refuses the change whole. The worktree and its folder are removed on leaving.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from types import TracebackType

from ..core.git import git, output


class Scratch:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = Path(tempfile.mkdtemp(prefix="cellforge-codegen-"))
        self.tree = self.folder / "tree"
        self.before = ""

    def __enter__(self) -> Scratch:
        try:
            output(self.root, "worktree", "add", "--detach", "--quiet", str(self.tree), "HEAD")
            carried = git(self.root, "diff", "--binary", "HEAD").checked().data
            if carried.strip():
                git(self.tree, "apply", "--binary", "--whitespace=nowarn", stdin=carried).checked()
            self._copy_untracked()
            self.before = self.snapshot()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def _copy_untracked(self) -> None:
        listed = git(self.root, "ls-files", "--others", "--exclude-standard", "-z").checked()
        for name in filter(None, listed.stdout.split("\0")):
            source, target = self.root / name, self.tree / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)

    def snapshot(self) -> str:
        """The scratch's files now, as a git tree (in the scratch's own index)."""
        output(self.tree, "add", "--all")
        return output(self.tree, "write-tree").strip()

    def reset(self) -> None:
        """Back to the state the scratch started with (a repair round starts afresh)."""
        output(self.tree, "add", "--all")
        output(self.tree, "read-tree", "--reset", "-u", self.before)
        output(self.tree, "clean", "-fdq")

    def write(self, files: Iterable[tuple[PurePosixPath, str]]) -> None:
        """Write each file whole; a path that leads out of the scratch through a symbolic
        link is refused (`ValueError`) before anything is written."""
        inside = self.tree.resolve()
        targets = [(self.tree / path, content) for path, content in files]
        for target, _ in targets:
            if target.is_symlink() or not target.parent.resolve().is_relative_to(inside):
                raise ValueError(f"{target.relative_to(self.tree)} leads out of the project")
        for target, content in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode("utf-8"))

    def change(self) -> bytes:
        """The binary diff from the state the scratch started with to its state now."""
        return git(self.tree, "diff", "--binary", self.before, self.snapshot()).checked().data

    def changed_paths(self) -> list[str]:
        after = self.snapshot()
        return output(self.tree, "diff", "--name-only", self.before, after).splitlines()

    def apply_to(self, root: Path, change: bytes) -> None:
        """Apply `change` to the work tree at `root`: all of it, or nothing (`GitError`)."""
        if change.strip():
            git(root, "apply", "--binary", "--whitespace=nowarn", stdin=change).checked()

    def remove(self) -> None:
        if self.tree.exists():
            git(self.root, "worktree", "remove", "--force", str(self.tree))
        shutil.rmtree(self.folder, ignore_errors=True)
        git(self.root, "worktree", "prune")
